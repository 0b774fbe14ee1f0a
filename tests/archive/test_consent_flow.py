"""Consent drives availability and use, end to end through the archive
(ingest of SR documents, supersession, policy), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydicom.dataset import Dataset

from archive import (
    Actor,
    Archive,
    ArchiveError,
    Availability,
    ConsentRequest,
    InvalidArgument,
    InvalidObject,
    Level,
    NotFound,
    Origin,
    Purpose,
    Role,
)
from consent_sr import Consent, ConsentStatus, InstanceRef, build_consent_sr
from consent_sr import Patient as SRPatient
from consent_sr import Study as SRStudy
from tests.archive.helpers import REVIEW, audit_rows, counts, stored_files
from tests.factory import VL_PHOTO, encode, make_dataset

IG = Actor.operator("ig")

ORIGIN = Origin(Actor("photographer1", Role.PHOTOGRAPHER, None))
EPR = Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE)
EDUCATOR = Actor(actor="edu", role=Role.EDUCATOR, purpose=Purpose.TEACHING)
JOURNAL = "Publication in the British Journal of Dermatology, case report 2026"
PUBLISHER = Actor(
    actor="edu", role=Role.EDUCATOR, purpose=Purpose.SPECIFIED, specified_purpose=JOURNAL
)


def photo(**kw: object) -> Dataset:
    values: dict[str, object] = {
        "sop_class": VL_PHOTO,
        "modality": "XC",
        "patient_id": "C1",
        "birth_date": "19800101",
    }
    values.update(kw)
    return make_dataset(**values)  # type: ignore[arg-type]


def session_of_photos(archive: Archive, n: int = 2, **kw: object) -> tuple[str, list[str]]:
    first = photo(**kw)
    archive.ingest(encode(first), origin=ORIGIN)
    uids = [first.SOPInstanceUID]
    for i in range(n - 1):
        ds = photo(
            study_uid=first.StudyInstanceUID,
            series_uid=first.SeriesInstanceUID,
            instance_number=i + 2,
            **kw,
        )
        archive.ingest(encode(ds), origin=ORIGIN)
        uids.append(ds.SOPInstanceUID)
    return first.StudyInstanceUID, uids


def seen(archive: Archive, who: Actor) -> set[str]:
    """The photos (not the consent documents, which are part of the record) ``who`` sees."""
    found = archive.find(Level.IMAGE, {"SOPClassUID": VL_PHOTO}, requester=who)
    return {m["SOPInstanceUID"] for m in found}


def record(archive: Archive, study: str, status: ConsentStatus, **kw: object) -> object:
    req = ConsentRequest(study_instance_uid=study, status=status, recorded_by="Nurse^Ann", **kw)  # type: ignore[arg-type]
    return archive.record_consent(req, requester=Actor.operator("test"))


def patients_written(level: str) -> dict[str, str]:
    """The patient's own written consent at ``level``: what most decisions here record."""
    return {"level": level, "consenter": "patient", "form": "written"}


GIVEN1 = patients_written("record")
# A consultant's record that the photos were taken in the patient's vital interests.
VITAL_INTERESTS = {"basis": "vital-interests", "authorised_by": "Consultant^Carla"}


def consent_sr_for(ds: Dataset) -> Dataset:
    """A consent document covering ``ds`` alone, as another system writes one: the
    patient's written consent for the record, given on 1 January 2026."""
    consent = Consent(
        status="given",
        decided_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        recorded_by="Nurse^Ann",
        covered=[InstanceRef.from_dataset(ds)],
        level="record",
        consenter="patient",
        form="written",
    )
    return build_consent_sr(
        consent, patient=SRPatient.from_dataset(ds), study=SRStudy.from_dataset(ds)
    )


def test_photos_are_held_until_consent_then_follow_its_level(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    assert seen(archive, EPR) == set() and seen(archive, REVIEW) == set(uids)
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    assert seen(archive, EPR) == set(uids)
    assert seen(archive, EDUCATOR) == set()
    record(archive, study, ConsentStatus.GIVEN, **patients_written("teaching"))
    assert seen(archive, EDUCATOR) == set(uids) == seen(archive, EPR)
    assert seen(archive, PUBLISHER) == set()


def test_level_3_grants_exactly_the_named_purpose(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    record(archive, study, ConsentStatus.GIVEN, purpose=JOURNAL, **patients_written("specified"))
    assert seen(archive, PUBLISHER) == set(uids)
    other = Actor(
        actor="edu",
        role=Role.EDUCATOR,
        purpose=Purpose.SPECIFIED,
        specified_purpose="Publication in The Lancet, 2027",
    )
    assert seen(archive, other) == set() and seen(archive, EDUCATOR) == set()
    with pytest.raises(InvalidArgument, match="purpose"):
        record(
            archive,
            study,
            ConsentStatus.GIVEN,
            purpose="publication as required",
            **patients_written("specified"),
        )


def test_withdrawal_quarantines_keeps_everything_and_is_audited(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    record(archive, study, ConsentStatus.GIVEN, **patients_written("teaching"))
    files_before = stored_files(archive)
    outcome = record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient")
    assert set(outcome.availability.values()) == {"quarantined"}  # type: ignore[attr-defined]
    assert seen(archive, EPR) == set() and seen(archive, EDUCATOR) == set()
    assert seen(archive, REVIEW) == set(uids)
    assert set(files_before) <= set(stored_files(archive))  # nothing deleted
    events = [
        json.loads(e.detail) for e in audit_rows(archive) if e.action == "availability-change"
    ]
    assert any(d["reason"] == "consent withdrawn" and d["rule"] == "R5" for d in events)
    overview = archive.consent_overview("C1", requester=Actor.operator("test"))
    assert [h["status"] for h in overview.history] == ["given", "withdrawn"]
    assert {i.availability for i in overview.instances} == {"quarantined"}


def test_partial_withdrawal_touches_only_the_named_photo(archive: Archive) -> None:
    study, uids = session_of_photos(archive, 3)
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient", instances=(uids[0],))
    assert seen(archive, EPR) == set(uids[1:])


def test_pending_then_refused_after_regaining_capacity(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    record(archive, study, ConsentStatus.PENDING_RETROSPECTIVE)
    assert seen(archive, EPR) == set() and seen(archive, REVIEW) == set(uids)
    record(archive, study, ConsentStatus.REFUSED, consenter="patient")
    assert seen(archive, EPR) == set() and seen(archive, REVIEW) == set(uids)
    overview = archive.consent_overview("C1", requester=Actor.operator("test"))
    assert {i.reason for i in overview.instances} == {"consent refused"}


def test_consent_that_arrives_before_its_images_applies_when_they_arrive(
    archive: Archive,
) -> None:
    early = photo()
    sr = consent_sr_for(early)
    archive.ingest(encode(sr), origin=Origin(Actor.operator("OTHERPACS")))  # as if by C-STORE
    result = archive.ingest(encode(early), origin=ORIGIN)
    assert result.availability is Availability.ACTIVE
    assert seen(archive, EPR) == {early.SOPInstanceUID}


def test_children_need_written_consent(archive: Archive) -> None:
    study, uids = session_of_photos(archive, birth_date="20200101")
    parent = {
        "level": "record",
        "consenter": "parent",
        "consenter_name": "Parent^Pat",
        "circumstances": "Parent present in clinic",
    }
    record(archive, study, ConsentStatus.GIVEN, form="verbal-recorded", **parent)
    assert seen(archive, EPR) == set()
    record(archive, study, ConsentStatus.GIVEN, form="written", **parent)
    assert seen(archive, EPR) == set(uids)


def test_intimate_recordings_need_a_justification(archive: Archive) -> None:
    study, uids = session_of_photos(archive, body_part="BREAST")
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    assert seen(archive, EPR) == set()
    record(
        archive,
        study,
        ConsentStatus.GIVEN,
        **GIVEN1,
        intimate_justification="Post-operative wound monitoring",
    )
    assert seen(archive, EPR) == set(uids)


def test_vital_interests_is_care_only(archive: Archive) -> None:
    study, uids = session_of_photos(archive, birth_date="20190101")
    record(archive, study, ConsentStatus.IMPLICIT, **VITAL_INTERESTS)
    assert seen(archive, EPR) == set(uids)
    assert seen(archive, EDUCATOR) == set()


def test_photographer_sees_the_held_photos_they_took(archive: Archive) -> None:
    _, uids = session_of_photos(archive)
    own = Actor(actor="photographer1", role=Role.PHOTOGRAPHER, purpose=Purpose.CARE)
    other = Actor(actor="photographer2", role=Role.PHOTOGRAPHER, purpose=Purpose.CARE)
    assert seen(archive, own) == set(uids) and seen(archive, other) == set()


def test_governance_quarantine_is_not_undone_by_consent(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    archive.set_availability(
        Level.IMAGE,
        uids[0],
        Availability.QUARANTINED,
        reason="incidental capture of another patient",
        requester=IG,
    )
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    assert seen(archive, EPR) == {uids[1]}


def test_bad_consent_requests_change_nothing(archive: Archive) -> None:
    study, _ = session_of_photos(archive)
    before = counts(archive)
    with pytest.raises(InvalidArgument, match="no current consent to withdraw"):
        record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient")
    with pytest.raises(NotFound):
        record(archive, "1.2.3.4", ConsentStatus.GIVEN, **GIVEN1)
    with pytest.raises(NotFound, match="not recordings"):  # absent and hidden alike
        record(archive, study, ConsentStatus.GIVEN, instances=("1.2.3",), **GIVEN1)
    with pytest.raises(InvalidArgument):
        record(archive, study, ConsentStatus.GIVEN, **patients_written("specified"))
    assert counts(archive) == before


def test_malformed_or_misplaced_consent_documents_are_refused(archive: Archive) -> None:
    study, _ = session_of_photos(archive)
    other = photo(patient_id="C1")
    sr = consent_sr_for(other)
    misplaced = encode(sr).replace(other.StudyInstanceUID.encode(), study.encode(), 1)
    before = counts(archive)
    broken = sr.copy()
    del broken.ContentSequence
    for data in (misplaced, encode(broken)):
        with pytest.raises((InvalidObject, ArchiveError)):
            archive.ingest(data, origin=ORIGIN)
    assert counts(archive) == before
    assert seen(archive, EPR) == set()


def test_release_is_refused_while_consent_forbids_use(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    archive.set_availability(
        Level.STUDY,
        study,
        Availability.QUARANTINED,
        reason="wrong patient?",
        requester=IG,
        reason_code="wrong-patient",
    )
    with pytest.raises(ArchiveError, match="record consent"):
        archive.set_availability(
            Level.STUDY, study, Availability.ACTIVE, reason="checked", requester=IG
        )
    assert seen(archive, REVIEW) == set(uids)  # still quarantined by governance
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    assert seen(archive, EPR) == set()  # governance quarantine stays until released
    result = archive.set_availability(
        Level.STUDY, study, Availability.ACTIVE, reason="checked", requester=IG
    )
    assert set(result.changed) == set(uids) and seen(archive, EPR) == set(uids)


def test_the_consent_overview_shows_only_what_the_policy_lets_the_requester_see(
    archive: Archive,
) -> None:
    """The archive, not the edge, cuts the overview down: a care reader sees the
    recordings it may use and the decisions about their studies; a patient with
    nothing it may see is absent to it, in the words used for an unknown patient,
    and the refused look is audited once."""
    study, uids = session_of_photos(archive)
    _, hidden = session_of_photos(archive)
    record(archive, study, ConsentStatus.GIVEN, **GIVEN1)
    care = archive.consent_overview("C1", requester=EPR)
    assert {i.sop_instance_uid for i in care.instances} == set(uids)
    assert {h["study"] for h in care.history} == {study}
    everything = archive.consent_overview("C1", requester=Actor.operator("test"))
    assert {i.sop_instance_uid for i in everything.instances} == set(uids) | set(hidden)
    record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient")
    refused_before = [e for e in audit_rows(archive) if e.outcome == "refused"]
    with pytest.raises(NotFound, match=r"^no patient C1 in the archive$"):
        archive.consent_overview("C1", requester=EPR)
    with pytest.raises(NotFound, match=r"^no patient NOBODY in the archive$"):
        archive.consent_overview("NOBODY", requester=EPR)
    refused = [e for e in audit_rows(archive) if e.outcome == "refused"][len(refused_before) :]
    # An unknown ID is not written into the trail as if it were a patient.
    assert [(e.patient_id, json.loads(e.detail)["what"]) for e in refused] == [
        ("C1", "consent overview"),
        ("", "consent overview"),
    ]
