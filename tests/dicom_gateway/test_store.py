"""C-STORE SCP: every listed SOP class and transfer syntax is stored as received;
every failure has its status, loses nothing already stored, and is audited
(PS3.4 B.2.3, Annex GG)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import _config
from sqlalchemy import select

from archive import Actor, Archive, ArchiveSettings, Level, Purpose, Role
from archive.models import AuditEvent, Instance
from dicom_gateway.sop import STORAGE, TRANSFER_SYNTAXES, UNCOMPRESSED
from tests.dicom_gateway.conftest import CAMERA, Running, associate, gateway_started, seed
from tests.factory import encode, make_dataset
from tests.support import corpus

OPERATOR = Actor.operator("t")

OP = Actor(actor="t", role=Role.OPERATOR, purpose=Purpose.CARE)
COMPRESSED = [
    ts for ts in TRANSFER_SYNTAXES if ts not in (*UNCOMPRESSED, DeflatedExplicitVRLittleEndian)
]
MPEG = {ts for ts in COMPRESSED if ts.startswith("1.2.840.10008.1.2.4.10")}


@pytest.fixture
def chunked_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send files as they are (meta and data set bytes untouched)."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)


def _stored(archive: Archive, uid: str) -> Instance | None:
    with archive.sessions() as s:
        return s.scalar(select(Instance).where(Instance.sop_instance_uid == uid))


def _dataset_bytes(path: Path) -> bytes:
    """The data set part of a Part 10 file (after the File Meta group)."""
    raw = path.read_bytes()
    group_length = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_length :]


def _write(tmp_path: Path, ds: Dataset, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(encode(ds))
    return path


def _encapsulated(ts: str, sop_class: str) -> Dataset:
    """An object whose pixel data are opaque fragments in ``ts`` (never decoded)."""
    ds = make_dataset(sop_class=sop_class)
    ds.PhotometricInterpretation = "YBR_FULL_422" if ts in MPEG else "MONOCHROME2"
    ds.PixelData = encapsulate([hashlib.sha256(ts.encode()).digest() * 4])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts
    return ds


def _raw(ds: Dataset) -> bytes:
    """Part 10 bytes with the File Meta exactly as set (not rebuilt from the data set)."""
    ds.preamble = b"\0" * 128
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _refusals(archive: Archive) -> list[AuditEvent]:
    with archive.sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "ingest", AuditEvent.outcome == "refused"
                )
            )
        )


def test_every_storage_class_is_accepted_and_indexed(gateway: Running) -> None:
    datasets = [make_dataset(sop_class=uid, patient_id="CLASSES") for uid in STORAGE]
    with associate(gateway.port, CAMERA, [(uid, UNCOMPRESSED) for uid in STORAGE]) as assoc:
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0x0000
    for ds in datasets:
        row = _stored(gateway.archive, ds.SOPInstanceUID)
        assert row is not None and row.sop_class_uid == ds.SOPClassUID
        assert row.received_from == CAMERA


def test_every_transfer_syntax_is_stored_as_received(
    gateway: Running, tmp_path: Path, chunked_send: None
) -> None:
    files = {}
    video = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
    photo = "1.2.840.10008.5.1.4.1.1.77.1.4"
    for ts in COMPRESSED:
        files[ts] = _write(tmp_path, _encapsulated(ts, video if ts in MPEG else photo), ts)
    implicit = make_dataset()
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    files[ImplicitVRLittleEndian] = _write(tmp_path, implicit, "implicit")
    deflated = make_dataset()
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    files[DeflatedExplicitVRLittleEndian] = _write(tmp_path, deflated, "deflated")
    files["jpeg-corpus"] = corpus("dicom", "vlp_rose.dcm")
    files["video-corpus"] = corpus("dicom", "video_testsrc.dcm")
    metas = {k: pydicom.dcmread(p, stop_before_pixels=True).file_meta for k, p in files.items()}
    contexts = [(m.MediaStorageSOPClassUID, [m.TransferSyntaxUID]) for m in metas.values()]
    with associate(gateway.port, CAMERA, contexts) as assoc:
        assert len(assoc.accepted_contexts) == len(contexts)
        for key, path in files.items():
            status = assoc.send_c_store(path)
            assert status.Status == 0x0000, key
    for key, path in files.items():
        meta = metas[key]
        row = _stored(gateway.archive, meta.MediaStorageSOPInstanceUID)
        assert row is not None, key
        assert row.transfer_syntax_uid == meta.TransferSyntaxUID
        stored = gateway.archive.store.path_for(row.storage_key)
        assert _dataset_bytes(stored) == _dataset_bytes(path), key


def test_identical_resend_is_success_and_conflicting_duplicate_is_refused(
    gateway: Running,
) -> None:
    ds = make_dataset(patient_id="DUP")
    with associate(gateway.port, CAMERA, [(ds.SOPClassUID, UNCOMPRESSED)]) as assoc:
        assert assoc.send_c_store(ds).Status == 0x0000
        before = _stored(gateway.archive, ds.SOPInstanceUID)
        assert assoc.send_c_store(ds).Status == 0x0000
        ds.PatientName = "Other^Content"
        status = assoc.send_c_store(ds)
    assert status.Status == 0xC003
    assert "conflicting duplicate" in status.ErrorComment
    after = _stored(gateway.archive, ds.SOPInstanceUID)
    assert before is not None and after is not None and after.sha256 == before.sha256
    assert gateway.archive.store.hash_of(after.storage_key) == before.sha256
    assert any("conflicting" in r.detail for r in _refusals(gateway.archive))


@pytest.mark.parametrize(
    ("damage", "status", "words"),
    [
        ("class", 0xA900, "does not match"),
        ("instance", 0xA900, "does not match"),
        ("patient-id", 0xC001, "PatientID"),
        ("truncated", 0xC000, "truncated"),
        ("garbage", 0xC000, "cannot understand"),
        ("name too long to consent", 0xC000, "PatientName has a component group of 601"),
    ],
)
def test_bad_data_sets_get_their_status_and_lose_nothing(
    gateway: Running, tmp_path: Path, chunked_send: None, damage: str, status: int, words: str
) -> None:
    (kept,) = seed(gateway.archive, make_dataset(patient_id="KEEP"))
    ds = make_dataset(patient_id="BAD", pixel_bytes=4096)
    sop_class = ds.SOPClassUID
    if damage == "class":
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    if damage == "instance":
        ds.SOPInstanceUID = "1.2.3.4.5"
    if damage == "patient-id":
        del ds.PatientID
    if damage == "name too long to consent":
        ds.PatientName = "A" * 601
    raw = _raw(ds)
    if damage == "truncated":
        raw = raw[:-1000]
    if damage == "garbage":
        meta_len = 144 + int.from_bytes(raw[140:144], "little")
        raw = raw[:meta_len] + b"\x08\x00\x18\x00UI\xff\x7f" + b"junk" * 50
    path = tmp_path / "bad.dcm"
    path.write_bytes(raw)
    with associate(gateway.port, CAMERA, [(sop_class, UNCOMPRESSED)]) as assoc:
        answer = assoc.send_c_store(path)
    assert answer.Status == status
    assert words.lower() in answer.ErrorComment.lower()
    with gateway.archive.sessions() as s:
        uids = set(s.scalars(select(Instance.sop_instance_uid)))
    assert uids == {kept.sop_instance_uid}
    assert gateway.archive.fixity_check(requester=OPERATOR).ok
    assert _refusals(gateway.archive), "refusal not audited"
    assert list(gateway.archive.store.tmp.iterdir()) == []


@pytest.fixture
def full_gateway(settings: ArchiveSettings, archive: Archive) -> Iterator[int]:
    """A second gateway over the same archive whose data folder is 'full'."""
    full = ArchiveSettings(
        data_dir=settings.data_dir, database_url=settings.database_url, min_free_bytes=10**18
    )
    archive.add_node(CAMERA, host="127.0.0.1", port=104, role="modality", requester=OPERATOR)
    with Archive.open(full) as full_archive, gateway_started(full_archive) as (_, port):
        yield port


def test_disk_full_is_out_of_resources_and_audited(archive: Archive, full_gateway: int) -> None:
    (kept,) = seed(archive, make_dataset(patient_id="KEEP"))
    ds = make_dataset(patient_id="FULL")
    with associate(full_gateway, CAMERA, [(ds.SOPClassUID, UNCOMPRESSED)]) as assoc:
        status = assoc.send_c_store(ds)
    assert status.Status == 0xA700
    assert "out of resources" in status.ErrorComment
    assert _stored(archive, ds.SOPInstanceUID) is None
    assert _stored(archive, kept.sop_instance_uid) is not None
    refusals = _refusals(archive)
    assert refusals and "reserve" in json.loads(refusals[-1].detail)["reason"]


def test_stored_objects_are_found_by_the_archive(gateway: Running) -> None:
    ds = make_dataset(patient_id="FINDME")
    with associate(gateway.port, CAMERA, [(ds.SOPClassUID, UNCOMPRESSED)]) as assoc:
        assert assoc.send_c_store(ds).Status == 0x0000
    found = gateway.archive.find(Level.IMAGE, {"PatientID": "FINDME"}, requester=OP)
    assert [m["SOPInstanceUID"] for m in found] == [ds.SOPInstanceUID]
