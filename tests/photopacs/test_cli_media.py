"""`photopacs convert` and `photopacs import` of photos and video."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from photopacs.cli import main
from tests.photopacs.helpers import migrated_runner
from tests.support import corpus, dciodvfy, require_tool

PATIENT = [
    "--patient-id",
    "MED1",
    "--patient-name",
    "Nguyễn^Thị",
    "--birth-date",
    "1990-02-03",
    "--sex",
    "F",
    "--body-site",
    "left forearm",
    "--operator",
    "Photo^Pat",
]


@pytest.fixture
def runner(tmp_path: Path, database_url: str) -> CliRunner:
    return migrated_runner(tmp_path, database_url, PHOTOPACS_UID_ROOT="1.2.826.0.1.3680043.10.999")


def test_convert_writes_valid_objects_named_by_uid(runner: CliRunner, tmp_path: Path) -> None:
    require_tool("jpegtran", "libjpeg-turbo-progs")
    out = tmp_path / "out"
    result = runner.invoke(
        main,
        [
            "convert",
            str(corpus("jpeg", "rose.jpg")),
            str(corpus("video", "testsrc_640x480_2s.mp4")),
            "--out",
            str(out),
            "--frame",
            "10",
            *PATIENT,
        ],
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert len(files) == 3  # photo, video, one frame
    series = set()
    for f in files:
        assert "Nguy" not in f.name and "MED1" not in f.name
        ds = pydicom.dcmread(f)
        assert ds.SOPInstanceUID.startswith("1.2.826.0.1.3680043.10.999.")
        assert f.name == f"{ds.SOPInstanceUID}.dcm"
        assert str(ds.PatientName) == "Nguyễn^Thị"
        series.add(ds.SeriesInstanceUID)
        assert dciodvfy(f).errors == []
    assert len(series) == 1  # one capture session


def test_convert_bad_inputs_fail_clearly_and_write_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(corpus("jpeg", "rose.jpg").read_bytes()[:500])
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(bad), "--out", str(out), *PATIENT])
    assert result.exit_code == 1
    assert "failed" in result.output and "broken.jpg" in result.output
    assert list(out.iterdir()) == []
    unknown_site = runner.invoke(
        main,
        [
            "convert",
            str(bad),
            "--out",
            str(out),
            "--patient-id",
            "X",
            "--body-site",
            "left elbowpit",
        ],
    )
    assert unknown_site.exit_code == 2 and "elbowpit" in unknown_site.output
    no_patient = runner.invoke(main, ["convert", str(bad), "--out", str(out)])
    assert no_patient.exit_code == 2 and "--patient-id" in no_patient.output


def test_import_converts_media_and_stores_dicom_alongside(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(corpus("jpeg", "wizard.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(corpus("jpeg", "logo.jpg").read_bytes())
    (folder / "c.dcm").write_bytes(corpus("dicom", "vlp_tiny.dcm").read_bytes())
    result = runner.invoke(main, ["import", str(folder), *PATIENT])
    assert result.exit_code == 0, result.output
    assert "stored 3, duplicate 0, refused 0" in result.output
    # Photos wait for consent (held); the governance review path shows them.
    care = runner.invoke(main, ["query", "--level", "instance", "--json", "PatientID=MED1"])
    assert json.loads(care.stdout) == []
    review = runner.invoke(
        main,
        [
            "query",
            "--level",
            "series",
            "--json",
            "--review",
            "--reason",
            "IG-5: check derived series",
            "PatientID=MED1",
            "NumberOfSeriesRelatedInstances=",
        ],
    )
    [series] = json.loads(review.stdout)
    assert series["NumberOfSeriesRelatedInstances"] == 2


def test_import_of_photos_without_a_patient_is_refused_up_front(runner: CliRunner) -> None:
    result = runner.invoke(main, ["import", str(corpus("jpeg", "tiny.jpg"))])
    assert result.exit_code == 2 and "--patient-id" in result.output
    q = runner.invoke(main, ["query", "--level", "instance", "--json"])
    assert json.loads(q.stdout) == []
