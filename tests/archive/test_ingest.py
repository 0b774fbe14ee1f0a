"""Ingest: durable storage, duplicates, character sets, and refusal of bad input
without changing anything already stored."""

from __future__ import annotations

import io
import json
import struct

import pytest
from pydicom import dcmread

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    DuplicateInstance,
    InconsistentObject,
    InvalidObject,
    Level,
    MissingAttribute,
    ObjectTooLarge,
    Origin,
    Purpose,
    Role,
    StorageFull,
)
from tests.archive.helpers import audit_rows, counts, stored_files
from tests.factory import encode, make_dataset, make_instance

ORIGIN = Origin(Actor("camera-1", Role.MODALITY, None), received_from="CAMERA1")
OP = Actor(actor="test", role=Role.OPERATOR, purpose=Purpose.CARE)


def test_stored_object_is_byte_identical_and_content_addressed(archive: Archive) -> None:
    data = make_instance(patient_name="Secret^Name", patient_id="PX")
    result = archive.ingest(data, origin=ORIGIN)
    assert result.status == "stored"
    [path] = stored_files(archive)
    assert path.read_bytes() == data
    assert path.name == f"{result.sha256}.dcm"
    assert "Secret" not in str(path) and "PX" not in str(path)
    assert counts(archive)["tmp"] == 0


def test_path_and_stream_sources(archive: Archive, tmp_path: object) -> None:
    from pathlib import Path

    p = Path(str(tmp_path)) / "x.dcm"
    p.write_bytes(make_instance())
    assert archive.ingest(p, origin=ORIGIN).status == "stored"
    assert archive.ingest(io.BytesIO(make_instance()), origin=ORIGIN).status == "stored"
    assert counts(archive)["instances"] == 2


def test_identical_resend_is_a_noop_success(archive: Archive) -> None:
    data = make_instance()
    archive.ingest(data, origin=ORIGIN)
    before = counts(archive)
    again = archive.ingest(data, origin=ORIGIN)
    assert again.status == "duplicate"
    assert counts(archive) == before
    assert [e.outcome for e in audit_rows(archive)] == ["success", "duplicate"]


def test_conflicting_resend_is_refused_and_changes_nothing(archive: Archive) -> None:
    ds = make_dataset(study_description="first")
    original = encode(ds)
    archive.ingest(original, origin=ORIGIN)
    before = counts(archive)
    ds.StudyDescription = "second"
    with pytest.raises(DuplicateInstance):
        archive.ingest(encode(ds), origin=ORIGIN)
    assert counts(archive) == before
    [path] = stored_files(archive)
    assert path.read_bytes() == original
    last = audit_rows(archive)[-1]
    assert (last.outcome, json.loads(last.detail)["reason"]) == ("refused", "conflicting duplicate")


@pytest.mark.parametrize(
    "keyword",
    ["SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID"],
)
def test_missing_identifier_is_a_clear_error(archive: Archive, keyword: str) -> None:
    archive.ingest(make_instance(), origin=ORIGIN)
    before = counts(archive)
    ds = make_dataset()
    delattr(ds, keyword)
    with pytest.raises(MissingAttribute, match=keyword):
        archive.ingest(encode(ds), origin=ORIGIN)
    assert counts(archive) == before


def _truncations() -> list[tuple[str, bytes]]:
    data = make_instance(pixel_bytes=4096)
    header_end = data.index(b"\xe0\x7f\x10\x00")
    return [
        ("zero bytes", b""),
        ("not dicom", b"\xff\xd8\xff\xe0" + b"JFIF" + bytes(200)),
        ("text", b"hello world\n" * 20),
        ("preamble only", bytes(128) + b"DICM"),
        ("cut in pixel data", data[: header_end + 100]),
        ("cut in pixel header", data[: header_end + 6]),
        ("cut one byte short", data[:-1]),
    ]


@pytest.mark.parametrize("name,data", _truncations(), ids=[n for n, _ in _truncations()])
def test_malformed_input_is_refused_and_changes_nothing(
    archive: Archive, name: str, data: bytes
) -> None:
    archive.ingest(make_instance(), origin=ORIGIN)
    before = counts(archive)
    with pytest.raises(InvalidObject):
        archive.ingest(data, origin=ORIGIN)
    assert counts(archive) == before
    assert audit_rows(archive)[-1].outcome == "refused"


def test_cut_in_encapsulated_pixel_data_is_refused(archive: Archive) -> None:
    from tests.support import corpus

    data = corpus("dicom", "vlp_rose.dcm").read_bytes()
    for cut in (len(data) - 1, len(data) - 5000, 2000):
        with pytest.raises(InvalidObject, match=r"truncated|[Mm]issing"):
            archive.ingest(data[:cut], origin=ORIGIN)
    assert counts(archive)["instances"] == 0
    assert archive.ingest(data, origin=ORIGIN).status == "stored"


def test_absurd_element_length_is_refused(archive: Archive) -> None:
    data = bytearray(make_instance(study_description="Wound photography"))
    at = data.index(b"Wound photography")
    # Explicit VR LO: 2-byte length just before the value.
    struct.pack_into("<H", data, at - 2, 0xFFFF)
    with pytest.raises(InvalidObject):
        archive.ingest(bytes(data), origin=ORIGIN)
    data = bytearray(make_instance(pixel_bytes=256))
    at = data.index(b"\xe0\x7f\x10\x00OB\x00\x00")
    struct.pack_into("<L", data, at + 8, 0xFFFFFFF0)
    with pytest.raises(InvalidObject, match="Pixel Data"):
        archive.ingest(bytes(data), origin=ORIGIN)
    assert counts(archive)["instances"] == 0


@pytest.mark.parametrize("uid", ["../../etc/passwd", "1.2.3.abc", "1.2." + "3" * 80, "1..2"])
def test_hostile_uids_are_refused(archive: Archive, uid: str) -> None:
    ds = make_dataset()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    with pytest.raises(InvalidObject, match="not a valid UID"):
        archive.ingest(encode(ds), origin=ORIGIN)
    assert counts(archive)["instances"] == 0


def test_study_of_another_patient_is_refused(archive: Archive) -> None:
    first = make_dataset(patient_id="A")
    archive.ingest(encode(first), origin=ORIGIN)
    before = counts(archive)
    with pytest.raises(InconsistentObject):
        archive.ingest(
            make_instance(patient_id="B", study_uid=first.StudyInstanceUID), origin=ORIGIN
        )
    assert counts(archive) == before


def test_size_limit_and_full_disk(settings: ArchiveSettings, archive: Archive) -> None:
    small = ArchiveSettings(
        data_dir=settings.data_dir, database_url=settings.database_url, max_object_bytes=1000
    )
    with Archive.open(small) as limited, pytest.raises(ObjectTooLarge):
        limited.ingest(make_instance(pixel_bytes=4096), origin=ORIGIN)
    full = ArchiveSettings(
        data_dir=settings.data_dir, database_url=settings.database_url, min_free_bytes=2**62
    )
    with Archive.open(full) as starved, pytest.raises(StorageFull):
        starved.ingest(make_instance(), origin=ORIGIN)
    assert counts(archive) == {
        "patients": 0,
        "studies": 0,
        "series": 0,
        "instances": 0,
        "objects": 0,
        "tmp": 0,
    }


CHARSETS = [
    ("ISO_IR 100", "Müller^Renée"),
    ("ISO_IR 192", "Ørsted^Łukasz"),
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    (["ISO 2022 IR 13", "ISO 2022 IR 87"], "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
]


@pytest.mark.parametrize("charset,name", CHARSETS, ids=["latin1", "utf8", "jis", "katakana"])
def test_character_sets_decode_correctly(archive: Archive, charset: object, name: str) -> None:
    data = make_instance(patient_id="CS", patient_name=name, charset=charset)
    assert name.encode("utf-8") not in data or charset == "ISO_IR 192"
    archive.ingest(data, origin=ORIGIN)
    [match] = archive.find(Level.PATIENT, {"PatientID": "CS", "PatientName": ""}, requester=OP)
    assert match["PatientName"] == name


def test_undeclared_non_ascii_is_stored_and_flagged(archive: Archive) -> None:
    ds = make_dataset(patient_id="U1", charset=None, patient_name="Plain^Name")
    data = encode(ds).replace(b"Plain^Name", "Müller^Jo".encode("latin-1") + b" ")
    assert b"Specific" not in data and dcmread(io.BytesIO(data)).PatientID == "U1"
    archive.ingest(data, origin=ORIGIN)
    from sqlalchemy import select

    from archive.models import Instance

    with archive.sessions() as s:
        instance = s.scalars(select(Instance)).one()
    assert instance.charset_undeclared is True
    [match] = archive.find(Level.PATIENT, {"PatientID": "U1", "PatientName": ""}, requester=OP)
    assert match["PatientName"] == "Müller^Jo"


@pytest.mark.parametrize(
    ("keyword", "value", "reason"),
    [
        ("PatientName", "A" * 601, "PatientName has a component group of 601 characters"),
        ("PatientName", "Short^Name=" + "山" * 65, "component group of 65 characters"),
        ("PatientID", "P" * 65, "PatientID is 65 characters; LO allows 64"),
        ("AccessionNumber", "A" * 17, "AccessionNumber is 17 characters; SH allows 16"),
        ("StudyID", "S" * 17, "StudyID is 17 characters; SH allows 16"),
    ],
)
def test_values_the_archive_could_never_consent_are_refused_at_the_door(
    archive: Archive, keyword: str, value: str, reason: str
) -> None:
    """A consent document copies these values; one longer than its VR allows would
    leave the recording held forever, so the object is refused with the reason."""
    ds = make_dataset()
    setattr(ds, keyword, value)
    before = counts(archive)
    with pytest.raises(InvalidObject, match=reason):
        archive.ingest(encode(ds), origin=ORIGIN)
    assert counts(archive) == before
    assert audit_rows(archive)[-1].outcome == "refused"
    assert value not in str(audit_rows(archive)[-1].detail)  # no patient data in the trail
