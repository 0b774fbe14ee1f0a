"""dcmtk's tools as foreign clients of a real `photopacs serve`: echoscu,
storescu (several transfer syntaxes, concurrent associations), findscu (every
level, wildcards, ranges, non-ASCII names), movescu to a dcmtk storescp, getscu."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from archive import Actor, Archive, ArchiveSettings, Availability, Level, Purpose, Role
from tests.dicom_gateway.conftest import AET, CAMERA, EPR, register, serve, stored
from tests.dicom_gateway.dcmtk import ENV, storescp, tool
from tests.factory import make_dataset
from tests.serving import free_port
from tests.support import corpus, require_tool

pytestmark = pytest.mark.dcmtk
OP = Actor(actor="t", role=Role.OPERATOR, purpose=Purpose.CARE)
NAME = "Müller^Jürgen"


def _write(folder: Path, count: int, ts: str | None, **kwargs: object) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    uids = []
    for i in range(count):
        ds = make_dataset(instance_number=i + 1, **kwargs)  # type: ignore[arg-type]
        if ts:
            ds.file_meta.TransferSyntaxUID = ts
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        uids.append(ds.SOPInstanceUID)
    return uids


def _find(port: int, tmp: Path, model: str, *keys: str) -> list[pydicom.Dataset]:
    out = tmp / f"find-{len(list(tmp.glob('find-*')))}"
    out.mkdir()
    args = ["-aet", EPR, "-aec", AET, model, "-X", "-od", out]
    for key in keys:
        args += ["-k", key]
    proc = tool("findscu", *args, "127.0.0.1", str(port))
    assert proc.returncode == 0, proc.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_dcmtk_clients_end_to_end(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    epr_port = free_port()
    register(archive, epr_port=epr_port)
    study = pydicom.uid.generate_uid()
    series = pydicom.uid.generate_uid()
    common = {"patient_id": "DCMTK1", "patient_name": NAME, "study_uid": study,
              "series_uid": series, "study_date": "20250301"}  # fmt: skip
    sets = {
        "explicit": (_write(tmp_path / "explicit", 8, None, **common), []),
        "implicit": (_write(tmp_path / "implicit", 6, ImplicitVRLittleEndian, **common), ["-xi"]),
        "deflated": (
            _write(tmp_path / "deflated", 6, DeflatedExplicitVRLittleEndian, **common),
            ["-xd"],
        ),
    }
    jpegs = [corpus("dicom", f"vlp_{n}.dcm") for n in ("rose", "wizard", "logo", "plasma")]
    video = corpus("dicom", "video_testsrc.dcm")
    with serve(settings, tmp_path) as server:
        port = str(server.dicom_port)
        assert tool("echoscu", "-aet", CAMERA, "-aec", AET, "127.0.0.1", port).returncode == 0
        stranger = tool("echoscu", "-aet", "STRANGER", "-aec", AET, "127.0.0.1", port)
        assert stranger.returncode != 0
        assert "Rejected" in stranger.stdout + stranger.stderr

        # five concurrent storescu associations, five kinds of transfer syntax
        exe = require_tool("storescu", "dcmtk")
        base = [exe, "-aet", CAMERA, "-aec", AET]
        procs = [
            subprocess.Popen([*base, *flags, "+sd", "127.0.0.1", port, str(tmp_path / name)],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for name, (_, flags) in sets.items()
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                [*base, "-xy", "127.0.0.1", port, *map(str, jpegs)],
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [*base, "-R", "-xn", "127.0.0.1", port, str(video)],
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out.decode(errors="replace")

        with Archive.open(settings) as view:
            for name, (uids, _) in sets.items():
                found = view.find(Level.IMAGE, {"SOPInstanceUID": "\\".join(uids)}, requester=OP)
                assert len(found) == len(uids), name
            for path in [*jpegs, video]:
                meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
                row = stored(view, meta.MediaStorageSOPInstanceUID)
                assert row is not None and row.transfer_syntax_uid == meta.TransferSyntaxUID
            hidden = sets["explicit"][0][0]
            view.set_availability(
                Level.IMAGE, hidden, Availability.HELD, reason="test", requester=Actor.operator("t")
            )
        visible = 8 + 6 + 6 - 1

        # findscu at every level
        pats = _find(server.dicom_port, tmp_path, "-P", "QueryRetrieveLevel=PATIENT",
                     "SpecificCharacterSet=ISO_IR 192", "PatientName=mül*", "PatientID",
                     "NumberOfPatientRelatedInstances")  # fmt: skip
        assert [(str(p.PatientName), p.PatientID) for p in pats] == [(NAME, "DCMTK1")]
        assert pats[0].NumberOfPatientRelatedInstances == visible
        studies = _find(server.dicom_port, tmp_path, "-S", "QueryRetrieveLevel=STUDY",
                        "StudyDate=20250201-20250331", "StudyInstanceUID", "PatientName",
                        "NumberOfStudyRelatedInstances")  # fmt: skip
        assert [s.StudyInstanceUID for s in studies] == [study]
        assert studies[0].NumberOfStudyRelatedInstances == visible
        assert _find(server.dicom_port, tmp_path, "-S", "QueryRetrieveLevel=STUDY",
                     "StudyDate=20260101-", "StudyInstanceUID") == []  # fmt: skip
        sers = _find(server.dicom_port, tmp_path, "-S", "QueryRetrieveLevel=SERIES",
                     f"StudyInstanceUID={study}", "SeriesInstanceUID", "Modality")  # fmt: skip
        assert [s.SeriesInstanceUID for s in sers] == [series]
        images = _find(server.dicom_port, tmp_path, "-S", "QueryRetrieveLevel=IMAGE",
                       f"StudyInstanceUID={study}", f"SeriesInstanceUID={series}",
                       "SOPInstanceUID", "InstanceNumber=1?")  # fmt: skip
        assert hidden not in {i.SOPInstanceUID for i in images}
        assert images == [] or all(str(i.InstanceNumber).startswith("1") for i in images)

        # movescu to a dcmtk storescp registered as the EPR's own destination
        with storescp(epr_port, tmp_path / "moved", aet=EPR) as moved:
            proc = tool("movescu", "-aet", EPR, "-aem", EPR, "-aec", AET, "-S",
                        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                        "127.0.0.1", port)  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            got = {pydicom.dcmread(p).SOPInstanceUID for p in moved.iterdir()}
        assert len(got) == visible and hidden not in got
        unknown = tool("movescu", "-v", "-aet", EPR, "-aem", "NOBODY", "-aec", AET, "-S",
                       "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                       "127.0.0.1", port)  # fmt: skip
        assert "MoveDestinationUnknown" in unknown.stdout + unknown.stderr

        # getscu on the same association
        out = tmp_path / "got"
        out.mkdir()
        proc = tool("getscu", "-aet", EPR, "-aec", AET, "-S", "-od", out,
                    "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}",
                    "-k", f"SeriesInstanceUID={series}", "127.0.0.1", port)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        got = {pydicom.dcmread(p).SOPInstanceUID for p in out.iterdir()}
        assert len(got) == visible and hidden not in got

        # a modality may not query: no presentation context for it
        refused = tool("findscu", "-aet", CAMERA, "-aec", AET, "-S",
                       "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", port)  # fmt: skip
        assert refused.returncode != 0
    assert "Traceback" not in server.log.read_text()
