"""Governance beyond transitions: IOCM rejection notes, legal holds, and the
rejection notes owed to peers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from archive import (
    Actor,
    Archive,
    Availability,
    InvalidTransition,
    Level,
    NotAuthorised,
    Origin,
    Purpose,
    Role,
)
from archive.iocm import REVOKE, Reference, build_note, read_note
from archive.uids import ENCAPSULATED_PDF, KOS
from tests.archive.helpers import REVIEW, counts, stored_files
from tests.factory import encode, make_dataset
from tests.support import dciodvfy

IG = Actor.operator("ig")

EPR = Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE)
GOVERNANCE = Origin(Actor("IGNODE", Role.GOVERNANCE, None), received_from="IGNODE")
CAMERA = Origin(Actor("CAM1", Role.MODALITY, None), received_from="CAM1")


def _visible(archive: Archive) -> set[str]:
    return {
        m["SOPInstanceUID"] for m in archive.find(Level.IMAGE, {"Modality": "ES"}, requester=EPR)
    }


def _note(title: str, images: list[Dataset]) -> bytes:
    first = images[0]
    refs = [
        Reference(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPClassUID, d.SOPInstanceUID)
        for d in images
    ]
    return encode(build_note(title, refs, patient=first, study=first))


def _images(n: int = 2) -> list[Dataset]:
    first = make_dataset(patient_id="IO1")
    rest = [
        make_dataset(
            patient_id="IO1",
            study_uid=first.StudyInstanceUID,
            series_uid=first.SeriesInstanceUID,
            instance_number=i + 2,
        )
        for i in range(n - 1)
    ]
    return [first, *rest]


@pytest.mark.parametrize(
    "title,code",
    [
        ("113001", "quality"),
        ("113037", "patient-safety"),
        ("113038", "wrong-patient"),
        ("113039", "retention-expired"),
    ],
)
def test_rejection_note_quarantines_with_its_reason(
    archive: Archive, title: str, code: str
) -> None:
    images = _images()
    for d in images:
        archive.ingest(encode(d), origin=CAMERA)
    assert len(_visible(archive)) == 2
    archive.ingest(_note(title, images[:1]), origin=GOVERNANCE)
    assert _visible(archive) == {images[1].SOPInstanceUID}
    from sqlalchemy import select

    from archive.models import Instance

    with archive.sessions() as s:
        rejected = s.scalar(
            select(Instance).where(Instance.sop_instance_uid == images[0].SOPInstanceUID)
        )
    assert rejected is not None
    assert (rejected.availability, rejected.availability_reason_code) == (
        Availability.QUARANTINED,
        code,
    )
    assert len(stored_files(archive)) == 3  # two images and the note: nothing deleted
    assert images[0].SOPInstanceUID in {
        m["SOPInstanceUID"]
        for m in archive.find(
            Level.IMAGE,
            {},
            requester=REVIEW,
        )
    }


def test_note_before_the_instance_and_resend_stay_quarantined(archive: Archive) -> None:
    images = _images(1)
    archive.ingest(_note("113037", images), origin=GOVERNANCE)
    result = archive.ingest(encode(images[0]), origin=CAMERA)
    assert result.availability is Availability.QUARANTINED
    assert _visible(archive) == set()
    again = archive.ingest(encode(images[0]), origin=CAMERA)
    assert again.status == "duplicate" and _visible(archive) == set()


def test_revoke_restores(archive: Archive) -> None:
    images = _images()
    for d in images:
        archive.ingest(encode(d), origin=CAMERA)
    archive.ingest(_note("113001", images), origin=GOVERNANCE)
    assert _visible(archive) == set()
    archive.ingest(_note(REVOKE, images), origin=GOVERNANCE)
    assert _visible(archive) == {d.SOPInstanceUID for d in images}


def test_only_registered_senders_may_reject(archive: Archive) -> None:
    images = _images()
    for d in images:
        archive.ingest(encode(d), origin=CAMERA)
    before = counts(archive)
    with pytest.raises(NotAuthorised):
        archive.ingest(_note("113037", images), origin=CAMERA)
    assert counts(archive) == before and len(_visible(archive)) == 2


@pytest.mark.parametrize("title", ["113001", "113037", "113038", "113039", REVOKE])
def test_rejection_notes_we_build_are_valid_and_read_back(tmp_path: Path, title: str) -> None:
    """highdicom builds them: dciodvfy finds no error, each instance is referenced
    under its study and series, the patient and study are the instances', the new
    UIDs are ours; a document is referenced as COMPOSITE, an image as IMAGE."""
    images = _images()
    pdf = make_dataset(
        patient_id="IO1", study_uid=images[0].StudyInstanceUID, sop_class=ENCAPSULATED_PDF
    )
    refs = [
        Reference(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPClassUID, d.SOPInstanceUID)
        for d in [*images, pdf]
    ]
    root = "1.2.826.0.1.3680043.10.1234"
    ds = build_note(title, refs, patient=images[0], study=images[0], uid_root=root)
    path = tmp_path / "note.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert dciodvfy(path).errors == []
    assert ds.ConceptNameCodeSequence[0].CodeValue == title
    assert ds.SOPInstanceUID.startswith(root + ".") and ds.SeriesInstanceUID.startswith(root + ".")
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID"):
        assert str(ds[keyword].value) == str(images[0][keyword].value)
    [study] = ds.CurrentRequestedProcedureEvidenceSequence
    grouped = {
        series.SeriesInstanceUID: {
            sop.ReferencedSOPInstanceUID for sop in series.ReferencedSOPSequence
        }
        for series in study.ReferencedSeriesSequence
    }
    assert grouped == {
        images[0].SeriesInstanceUID: {d.SOPInstanceUID for d in images},
        pdf.SeriesInstanceUID: {pdf.SOPInstanceUID},
    }
    kinds = {
        i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID: i.ValueType for i in ds.ContentSequence
    }
    assert kinds == {**{d.SOPInstanceUID: "IMAGE" for d in images}, pdf.SOPInstanceUID: "COMPOSITE"}
    note = read_note(ds)
    assert note is not None and note.title == title and note.revoke == (title == REVOKE)
    assert {r.sop_instance_uid for r in note.references} == {r.sop_instance_uid for r in refs}


def test_notes_other_systems_send_are_read() -> None:
    """A minimal IOCM note as another archive writes it: only the title and the
    evidence sequence matter, not how the content tree is built."""
    image = _images(1)[0]
    sop = Dataset()
    sop.ReferencedSOPClassUID = image.SOPClassUID
    sop.ReferencedSOPInstanceUID = image.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = image.SeriesInstanceUID
    series.ReferencedSOPSequence = [sop]
    study = Dataset()
    study.StudyInstanceUID = image.StudyInstanceUID
    study.ReferencedSeriesSequence = [series]
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator = "113039", "DCM"
    title.CodeMeaning = "Data Retention Policy Expired"
    note = Dataset()
    note.SOPClassUID = KOS
    note.SOPInstanceUID = "1.2.3.4"
    note.ConceptNameCodeSequence = [title]
    note.CurrentRequestedProcedureEvidenceSequence = [study]
    parsed = read_note(note)
    assert parsed is not None and parsed.reason_code == "retention-expired"
    assert [r.sop_instance_uid for r in parsed.references] == [image.SOPInstanceUID]
    title.CodeValue = "113000"  # Of Interest: a key object selection, not a rejection
    assert read_note(note) is None


def test_legal_hold_blocks_erasure(archive: Archive) -> None:
    images = _images()
    for d in images:
        archive.ingest(encode(d), origin=CAMERA)
    study = images[0].StudyInstanceUID
    assert (
        archive.set_legal_hold(Level.STUDY, study, on=True, reason="litigation", requester=IG) == 2
    )

    def erase() -> None:
        archive.set_availability(
            Level.STUDY,
            study,
            Availability.ERASED,
            reason="x",
            requester=IG,
            reason_code="not-needed-clinically",
        )

    with pytest.raises(InvalidTransition, match="legal hold"):
        erase()
    assert len(stored_files(archive)) == 2
    archive.set_legal_hold(Level.STUDY, study, on=False, reason="case closed", requester=IG)
    erase()
    assert stored_files(archive) == []


def test_quarantine_owes_peers_that_hold_copies_a_note(archive: Archive) -> None:
    images = _images()
    for d in images:
        archive.ingest(encode(d), origin=CAMERA)
    archive.record_delivery("PEER1", [images[0].SOPInstanceUID])
    archive.record_delivery("PEER2", [d.SOPInstanceUID for d in images])
    archive.set_availability(
        Level.STUDY,
        images[0].StudyInstanceUID,
        Availability.QUARANTINED,
        reason="wrong patient",
        requester=IG,
        reason_code="wrong-patient",
    )
    owed = {(p.destination, p.title_code, len(p.sop_instance_uids)) for p in archive.propagations()}
    assert owed == {("PEER1", "113037", 1), ("PEER2", "113037", 2)}
    first = next(p for p in archive.propagations() if p.destination == "PEER1")
    note = archive.propagation.note(first)
    parsed = read_note(note)
    assert parsed is not None and parsed.title == "113037"
    archive.propagation.mark(first.number, sent=False, error="connection refused")
    assert archive.propagations()[0].attempts == 1
    archive.propagation.mark(first.number, sent=True, note_uid=note.SOPInstanceUID)
    assert [p.destination for p in archive.propagations()] == ["PEER2"]


def _delivered_then_quarantined_as_quality(archive: Archive) -> None:
    images = _images(1)
    archive.ingest(encode(images[0]), origin=CAMERA)
    archive.record_delivery("PEER1", [images[0].SOPInstanceUID])
    archive.set_availability(
        Level.IMAGE,
        images[0].SOPInstanceUID,
        Availability.QUARANTINED,
        reason="blurred",
        requester=IG,
        reason_code="quality",
    )


def test_quality_rejection_propagates_as_quality(archive: Archive) -> None:
    _delivered_then_quarantined_as_quality(archive)
    assert [p.title_code for p in archive.propagations()] == ["113001"]


def test_an_undelivered_note_waits_its_back_off_then_fails_at_max_attempts(
    archive: Archive,
) -> None:
    _delivered_then_quarantined_as_quality(archive)
    [owed] = archive.propagation.due()
    now = datetime.now(UTC)
    mark = partial(archive.propagation.mark, owed.number, sent=False, error="refused")
    mark(max_attempts=2, backoff=60.0, now=now)
    assert archive.propagation.due(now=now + timedelta(seconds=59)) == []
    [again] = archive.propagation.due(now=now + timedelta(seconds=61))
    assert (again.status, again.attempts, again.last_error) == ("pending", 1, "refused")
    failed = mark(max_attempts=2, backoff=60.0)
    assert failed.status == "failed" and archive.propagations() == []
