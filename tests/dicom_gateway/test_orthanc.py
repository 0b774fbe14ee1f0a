"""Orthanc 1.10 as a real peer PACS (tests/orthanc.py): photopacs moves to it,
it queries and pulls from photopacs, and it answers `photopacs send --commit`
with a storage-commitment report on a new association. One Orthanc per
module, emptied before each test."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from sqlalchemy import select

from archive import Actor, Archive, ArchiveSettings, Availability, Level
from archive.models import Instance, Series, Study
from dicom_gateway import Gateway, GatewaySettings
from dicom_gateway.sop import STUDY_ROOT_MOVE, UNCOMPRESSED
from tests.dicom_gateway.conftest import AET, EPR, associate, seed
from tests.orthanc import AET as ORTHANC
from tests.orthanc import PHOTOPACS_MODALITY, Orthanc, orthanc
from tests.serving import free_port, photopacs_bin
from tests.support import REPO, corpus

OPERATOR = Actor.operator("test")

pytestmark = pytest.mark.orthanc
PHOTOS = ["rose", "wizard", "logo", "plasma", "tiny"]
PATIENT = "CORPUS0001"


@pytest.fixture(scope="module")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the module; photopacs is its modality on a port chosen now."""
    folder = tmp_path_factory.mktemp("orthanc")
    with orthanc(folder, photopacs_aet=AET, photopacs_port=free_port()) as server:
        yield server


@pytest.fixture
def pacs(orthanc_server: Orthanc) -> Orthanc:
    orthanc_server.clear()
    assert orthanc_server.instances() == {}
    return orthanc_server


@pytest.fixture
def photopacs(archive: Archive, pacs: Orthanc) -> Iterator[Gateway]:
    """photopacs's gateway on the port Orthanc knows it by."""
    gateway = Gateway(GatewaySettings(), archive, aet=AET)
    gateway.start("127.0.0.1", pacs.photopacs_port)
    try:
        yield gateway
    finally:
        gateway.stop(grace=5)


def _photos() -> list[Path]:
    return [corpus("dicom", f"vlp_{name}.dcm") for name in PHOTOS]


def _active(archive: Archive, study: str) -> dict[str, Path]:
    """SOP Instance UID -> stored file of every active instance in ``study``."""
    with archive.sessions() as s:
        rows = s.scalars(
            select(Instance)
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
            .where(Study.study_instance_uid == study, Instance.availability == Availability.ACTIVE)
        )
        return {r.sop_instance_uid: archive.store.path_for(r.storage_key) for r in rows}


def _data_set(part10: bytes) -> bytes:
    """The bytes after the File Meta Information (Orthanc writes its own meta)."""
    fp = io.BytesIO(part10)
    pydicom.filereader.read_preamble(fp, False)
    pydicom.filereader._read_file_meta_info(fp)
    return part10[fp.tell() :]


def _same_objects(pacs: Orthanc, expected: dict[str, Path]) -> None:
    """Orthanc holds exactly ``expected``, each with our data set bytes and pixel data."""
    held = pacs.instances()
    assert set(held) == set(expected)
    for uid, path in expected.items():
        ours = path.read_bytes()
        theirs = pacs.get_bytes(f"/instances/{held[uid]}/file")
        assert _data_set(theirs) == _data_set(ours), uid
        mine, got = pydicom.dcmread(io.BytesIO(ours)), pydicom.dcmread(io.BytesIO(theirs))
        assert got.file_meta.TransferSyntaxUID == mine.file_meta.TransferSyntaxUID
        if "PixelData" in mine:
            assert got.PixelData == mine.PixelData, uid


def test_photopacs_moves_a_study_to_orthanc(
    archive: Archive, pacs: Orthanc, photopacs: Gateway
) -> None:
    archive.add_node(EPR, host="127.0.0.1", port=free_port(), role="epr", requester=OPERATOR)
    archive.add_node(
        ORTHANC, host="127.0.0.1", port=pacs.dicom_port, role="peer", requester=OPERATOR
    )
    results = seed(archive, *_photos(), corpus("dicom", "video_testsrc.dcm"))
    study = results[0].study_instance_uid
    expected = _active(archive, study)
    assert len(expected) >= len(results)  # the photos, the video and the consent document

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study
    with associate(photopacs.ports[0], EPR, [(STUDY_ROOT_MOVE, UNCOMPRESSED)]) as assoc:
        statuses = [s for s, _ in assoc.send_c_move(identifier, ORTHANC, STUDY_ROOT_MOVE)]
    final = statuses[-1]
    assert final.Status == 0x0000, final
    assert final.NumberOfCompletedSuboperations == len(expected)
    assert final.get("NumberOfFailedSuboperations", 0) == 0
    _same_objects(pacs, expected)


def test_orthanc_queries_and_pulls_only_what_is_visible(
    archive: Archive, pacs: Orthanc, photopacs: Gateway
) -> None:
    # Orthanc queries us and is its own move destination: an EPR (epr may be a destination).
    archive.add_node(
        ORTHANC, host="127.0.0.1", port=pacs.dicom_port, role="epr", requester=OPERATOR
    )
    results = seed(archive, *_photos())
    study = results[0].study_instance_uid
    held, quarantined = results[0].sop_instance_uid, results[1].sop_instance_uid
    archive.set_availability(
        Level.IMAGE, held, Availability.HELD, reason="test", requester=Actor.operator("t")
    )
    archive.set_availability(
        Level.IMAGE,
        quarantined,
        Availability.QUARANTINED,
        reason="test",
        requester=Actor.operator("t"),
    )
    expected = _active(archive, study)
    assert held not in expected and quarantined not in expected

    query = pacs.post(
        f"/modalities/{PHOTOPACS_MODALITY}/query",
        {"Level": "Study", "Query": {"PatientID": PATIENT, "StudyInstanceUID": ""}},
    )
    answers = pacs.get(f"/queries/{query['ID']}/answers?expand&simplify")
    assert [a["StudyInstanceUID"] for a in answers] == [study]
    pacs.post(
        f"/queries/{query['ID']}/retrieve",
        {"TargetAet": ORTHANC, "Synchronous": True},
        timeout=120,
    )
    pacs.wait_for(lambda: len(pacs.instances()) >= len(expected), "all visible instances")
    _same_objects(pacs, expected)


def test_send_commit_to_orthanc_gets_its_report_on_a_new_association(
    archive: Archive, settings: ArchiveSettings, pacs: Orthanc
) -> None:
    """No photopacs serve: `send` listens on the port Orthanc reports to."""
    archive.add_node(
        ORTHANC, host="127.0.0.1", port=pacs.dicom_port, role="peer", requester=OPERATOR
    )
    photos = _photos()
    env = {
        **os.environ,
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": settings.resolved_database_url(),
        "PHOTOPACS_DICOM_PORT": str(pacs.photopacs_port),
        "PHOTOPACS_AET": AET,
    }
    proc = subprocess.run(
        [photopacs_bin(), "send", *map(str, photos), "--to", ORTHANC, "--commit",
         "--commit-timeout", "60"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{pacs.tail()}"
    assert f"sent {len(photos)}, failed 0, refused 0" in proc.stdout
    assert f"committed {len(photos)}, not committed 0" in proc.stdout
    [request] = archive.commitment_requests.listing(statuses=None)
    assert (request.status, request.via, request.reported_by) == (
        "committed", "new association", ORTHANC,
    )  # fmt: skip
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in photos}
    assert set(request.committed) == uids == set(pacs.instances())
