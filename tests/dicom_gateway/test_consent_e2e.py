"""Consent end to end over the network: a camera stores photos with dcmtk
`storescu` (held: no consent yet); consent level 1 is recorded -> an EPR's
`findscu` finds them; consent is withdrawn -> `findscu` finds nothing and
`movescu` moves no photo (only the consent documents, which travel with the
record), while the objects, the consent history and the audit trail of every
step stay in the archive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from archive import Actor, Archive, ArchiveSettings
from photopacs.cli import main
from tests.archive.helpers import audit_rows, stored_files
from tests.dicom_gateway.conftest import AET, CAMERA, EPR, register, serve
from tests.dicom_gateway.dcmtk import ENV, storescp, tool
from tests.serving import free_port
from tests.support import corpus, require_tool

pytestmark = pytest.mark.dcmtk
PHOTOS = ["rose", "wizard", "logo", "plasma"]


def _find_images(port: int, out: Path) -> list[pydicom.Dataset]:
    out.mkdir()
    proc = tool("findscu", "-aet", EPR, "-aec", AET, "-S", "-X", "-od", out,
                "-k", "QueryRetrieveLevel=IMAGE", "-k", "PatientID=CORPUS0001",
                "-k", "StudyInstanceUID", "-k", "SeriesInstanceUID", "-k", "SOPInstanceUID",
                "-k", "SOPClassUID=1.2.840.10008.5.1.4.1.1.77.1.4",
                "127.0.0.1", str(port))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def _get_images(port: int, study: str, out: Path) -> set[str]:
    out.mkdir()
    proc = tool("getscu", "-aet", EPR, "-aec", AET, "-S", "-od", out,
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                "127.0.0.1", str(port))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()}


def test_store_consent_withdraw_over_dicom(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    require_tool("storescu", "dcmtk")
    epr_port = free_port()
    register(archive, epr_port=epr_port)
    files = [corpus("dicom", f"vlp_{name}.dcm") for name in PHOTOS]
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    cli = CliRunner(
        env={
            "PHOTOPACS_DATA_DIR": str(settings.data_dir),
            "PHOTOPACS_DATABASE_URL": str(settings.database_url),
            "PHOTOPACS_MIN_FREE_BYTES": "0",
        }
    )
    with serve(settings, tmp_path) as server:
        port = str(server.dicom_port)
        sent = subprocess.run(
            [
                require_tool("storescu", "dcmtk"),
                "-aet",
                CAMERA,
                "-aec",
                AET,
                "-xy",
                "127.0.0.1",
                port,
                *map(str, files),
            ],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert _find_images(server.dicom_port, tmp_path / "f1") == []  # held: no consent

        recorded = cli.invoke(
            main,
            [
                "consent",
                "record",
                "--study",
                study,
                "--level",
                "1",
                "--form",
                "written",
                "--recorded-by",
                "Photo^Pat",
            ],
        )
        assert recorded.exit_code == 0, recorded.output
        found = _find_images(server.dicom_port, tmp_path / "f2")
        expected = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
        assert {str(d.SOPInstanceUID) for d in found} == expected

        withdrawn = cli.invoke(
            main, ["consent", "withdraw", "--study", study, "--recorded-by", "Photo^Pat"]
        )
        assert withdrawn.exit_code == 0, withdrawn.output
        assert _find_images(server.dicom_port, tmp_path / "f3") == []
        with storescp(epr_port, tmp_path / "moved", aet=EPR) as moved:
            proc = tool("movescu", "-aet", EPR, "-aem", EPR, "-aec", AET, "-S",
                        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                        "127.0.0.1", port)  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            moved_objects = [pydicom.dcmread(p) for p in moved.iterdir()]
        # No photo leaves; the consent documents, part of the record, travel as always.
        assert {str(d.SOPInstanceUID) for d in moved_objects}.isdisjoint(expected)
        assert {d.Modality for d in moved_objects} == {"SR"}

    # Still in the archive: the photos' bytes, both consent documents, every step audited.
    assert len(stored_files(archive)) == len(files) + 2
    shown = cli.invoke(main, ["consent", "show", "--patient", "CORPUS0001"])
    assert "given" in shown.output and "withdrawn" in shown.output
    actions = [(e.action, e.outcome) for e in audit_rows(archive)]
    assert actions.count(("ingest", "success")) == len(files) + 2
    assert ("availability-change", "success") in actions  # held, active, quarantined, ...
    assert ("query", "success") in actions and ("retrieve", "success") in actions
    assert archive.verify_audit(requester=Actor.operator("test")).ok
