"""`photopacs consent ...` end to end on the command line: held photos, consent
with a signed form, withdrawal, history."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner, Result

from photopacs.cli import main
from tests.consent_sr.helpers import minimal_pdf
from tests.photopacs.helpers import migrated_runner
from tests.support import corpus, dciodvfy


@pytest.fixture
def runner(tmp_path: Path, database_url: str) -> CliRunner:
    return migrated_runner(tmp_path, database_url)


def run(r: CliRunner, *args: str) -> Result:
    return r.invoke(main, list(args), catch_exceptions=False)


def photos(r: CliRunner) -> list[str]:
    q = run(
        r,
        "query",
        "--level",
        "instance",
        "--json",
        "PatientID=CON1",
        "SOPClassUID=1.2.840.10008.5.1.4.1.1.77.1.4",
    )
    return sorted(m["SOPInstanceUID"] for m in json.loads(q.stdout))


def import_held(
    r: CliRunner, *jpegs: str, name: str, birth_date: str, body_site: str, reason: str
) -> str:
    """Import corpus JPEGs as patient CON1 (held: no consent yet) and return their
    study's UID, found under a governance review with ``reason``."""
    imported = run(
        r,
        "import",
        *(str(corpus("jpeg", jpeg)) for jpeg in jpegs),
        "--patient-id",
        "CON1",
        "--patient-name",
        name,
        "--birth-date",
        birth_date,
        "--body-site",
        body_site,
    )
    assert imported.exit_code == 0, imported.output
    found = run(
        r,
        "query",
        "--level",
        "study",
        "--json",
        "--review",
        "--reason",
        reason,
        "PatientID=CON1",
    )
    return str(json.loads(found.stdout)[0]["StudyInstanceUID"])


def test_record_show_withdraw(runner: CliRunner, tmp_path: Path) -> None:
    study = import_held(
        runner,
        "rose.jpg",
        "logo.jpg",
        name="Doe^Jane",
        birth_date="1970-05-05",
        body_site="left forearm",
        reason="IG-4: consent audit",
    )
    assert photos(runner) == []
    pdf = tmp_path / "form.pdf"
    pdf.write_bytes(minimal_pdf())
    rec = run(
        runner,
        "consent",
        "record",
        "--study",
        study,
        "--level",
        "2",
        "--form",
        "written",
        "--form-pdf",
        str(pdf),
        "--recorded-by",
        "Photo^Pat",
    )
    assert rec.exit_code == 0, rec.output
    assert "covered instances: 2 active" in rec.output and "signed form stored" in rec.output
    visible = photos(runner)
    assert len(visible) == 2
    shown = json.loads(run(runner, "consent", "show", "--patient", "CON1", "--json").stdout)
    assert [h["status"] for h in shown["history"]] == ["given"]
    assert shown["history"][0]["signed_form"]
    assert {tuple(i["uses"]) for i in shown["instances"]} == {("care", "teaching")}
    # The documents made pass dciodvfy.
    for p in (tmp_path / "data" / "objects").rglob("*.dcm"):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        if ds.Modality in ("SR", "DOC"):
            assert dciodvfy(p).errors == []
    w = run(
        runner,
        "consent",
        "withdraw",
        "--study",
        study,
        "--instances",
        visible[0],
        "--recorded-by",
        "Photo^Pat",
    )
    assert w.exit_code == 0 and "1 quarantined" in w.output
    assert photos(runner) == visible[1:]
    text = run(runner, "consent", "show", "--patient", "CON1").output
    assert "withdrawn" in text and "quarantined (consent withdrawn)" in text


def test_consent_errors_are_clear(runner: CliRunner) -> None:
    def record_at(level: str) -> Result:
        return run(
            runner,
            "consent",
            "record",
            "--study",
            "1.2.3",
            "--level",
            level,
            "--form",
            "written",
            "--recorded-by",
            "A^B",
        )

    no_study = record_at("1")
    assert no_study.exit_code == 3 and "no study 1.2.3" in no_study.output
    bad_level = record_at("4")
    assert bad_level.exit_code == 2
    unknown = run(runner, "consent", "show", "--patient", "NOPE")
    assert unknown.exit_code == 3 and "no patient NOPE" in unknown.output


def test_vital_interests_carries_an_intimate_justification(runner: CliRunner) -> None:
    """R9 with R11: a child-protection recording of an intimate area needs the
    clinical justification recorded with it, or it stays held."""
    study = import_held(
        runner,
        "rose.jpg",
        name="Doe^Jamie",
        birth_date="2019-05-05",
        body_site="left buttock",
        reason="IG-5: child protection",
    )
    vital = [
        "consent",
        "vital-interests",
        "--study",
        study,
        "--authorised-by",
        "Consultant^Carla",
        "--recorded-by",
        "Nurse^Ann",
    ]
    assert run(runner, *vital).exit_code == 0
    assert photos(runner) == []  # intimate, no justification: held
    justified = run(
        runner, *vital, "--intimate-justification", "Suspected non-accidental injury: bruising"
    )
    assert justified.exit_code == 0, justified.output
    assert len(photos(runner)) == 1
