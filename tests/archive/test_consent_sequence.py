"""Consent decisions that follow each other: the governing consent of a recording
comes from the whole chain of decisions (who decided, in what capacity, the
patient's age at acquisition, the basis), and governance's holds are a layer of
their own (docs/architecture.md R4, R5, R9-R12; README "Consent rules").
Through the archive's public API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import VideoPhotographicImageStorage, generate_uid

from archive import (
    Actor,
    Archive,
    ArchiveError,
    Availability,
    ConsentRequest,
    InvalidArgument,
    Level,
    Purpose,
    Role,
)
from consent_sr import ConsentStatus
from tests.archive.test_consent_flow import (
    EDUCATOR,
    EPR,
    GIVEN1,
    JOURNAL,
    ORIGIN,
    PUBLISHER,
    REVIEW,
    VITAL_INTERESTS,
    patients_written,
    photo,
    seen,
    session_of_photos,
)
from tests.factory import VL_PHOTO, encode

IG = Actor.operator("ig")

OPERATOR = Actor.operator("test")
PHOTOGRAPHER = Actor(actor="photographer1", role=Role.PHOTOGRAPHER, purpose=Purpose.CARE)
CHILD_BORN = "20140101"  # 12 at the photos' acquisition (2026)
SIGNED = b"%PDF-1.4\n% signed consent form\n%%EOF\n"


def record(archive: Archive, study: str, status: ConsentStatus, **kw: object) -> object:
    req = ConsentRequest(study_instance_uid=study, status=status, recorded_by="Nurse^Ann", **kw)  # type: ignore[arg-type]
    return archive.record_consent(req, requester=OPERATOR)


def state(archive: Archive, patient: str = "C1") -> dict[str, tuple[str, str, list[str]]]:
    overview = archive.consent_overview(patient, requester=OPERATOR)
    return {i.sop_instance_uid: (i.availability, i.reason, i.uses) for i in overview.instances}


PARENT_WRITTEN = {
    "level": "teaching",
    "consenter": "parent",
    "consenter_name": "Parent^Pat",
    "form": "written",
    "circumstances": "Parent present in clinic",
    "form_pdf": SIGNED,
}


def test_a_competent_childs_refusal_outweighs_a_later_parents_consent(archive: Archive) -> None:
    study, uids = session_of_photos(archive, birth_date=CHILD_BORN)
    record(archive, study, ConsentStatus.REFUSED, consenter="fraser-competent-child")
    with pytest.raises(InvalidArgument, match="child's refusal"):
        record(archive, study, ConsentStatus.GIVEN, **PARENT_WRITTEN)
    assert seen(archive, EPR) == set() and seen(archive, EDUCATOR) == set()
    # The child's own written consent returns the photos to use.
    record(
        archive,
        study,
        ConsentStatus.GIVEN,
        level="record",
        consenter="fraser-competent-child",
        form="written",
        circumstances="Discussed with the patient alone",
        form_pdf=SIGNED,
    )
    assert seen(archive, EPR) == set(uids)


@pytest.mark.parametrize(
    ("birth_date", "refuser", "why"),
    [
        pytest.param(CHILD_BORN, "fraser-competent-child", "child protection", id="child"),
        # R9 names vulnerable adults beside children (an unconscious patient's
        # recording waits as pending-retrospective instead, R6, and a later
        # refusal sets it aside).
        pytest.param("19800101", "patient", "safeguarding", id="vulnerable-adult"),
    ],
)
def test_a_vital_interests_record_keeps_the_recording_for_care_after_a_refusal(
    archive: Archive, birth_date: str, refuser: str, why: str
) -> None:
    """A consultant's vital-interests record (child protection, safeguarding) keeps
    the recording in the medical record, for care only, when the patient later
    refuses or withdraws; it is never used for teaching."""
    study, uids = session_of_photos(archive, birth_date=birth_date)
    record(archive, study, ConsentStatus.IMPLICIT, **VITAL_INTERESTS)
    record(archive, study, ConsentStatus.REFUSED, consenter=refuser)
    assert seen(archive, EPR) == set(uids)
    assert seen(archive, EDUCATOR) == set()
    assert {s[1] for s in state(archive).values()} == {
        f"recorded in the patient's vital interests ({why}: kept for care only despite the refusal)"
    }


def test_a_parent_cannot_consent_for_an_adult(archive: Archive) -> None:
    study, uids = session_of_photos(archive, birth_date="19800101")  # 46 at acquisition
    with pytest.raises(InvalidArgument, match=r"only for a child.*representative"):
        record(archive, study, ConsentStatus.GIVEN, **PARENT_WRITTEN)
    assert seen(archive, EPR) == set()
    record(
        archive,
        study,
        ConsentStatus.GIVEN,
        level="record",
        consenter="representative",
        consenter_name="Attorney^Alex",
        form="written",
    )
    assert seen(archive, EPR) == set(uids)


@pytest.mark.parametrize("target", [Availability.HELD, Availability.QUARANTINED])
def test_a_governance_hold_on_a_hidden_recording_survives_a_later_consent(
    archive: Archive, target: Availability
) -> None:
    study, uids = session_of_photos(archive)  # held: no consent yet
    result = archive.set_availability(
        Level.IMAGE, uids[0], target, reason="incidental capture of another patient", requester=IG
    )
    assert result.changed == (uids[0],)
    record(archive, study, ConsentStatus.GIVEN, level="record", consenter="patient", form="written")
    assert seen(archive, EPR) == {uids[1]}
    assert state(archive)[uids[0]][1] == "incidental capture of another patient"
    # Withdrawn and given again: governance's decision still stands.
    record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient")
    record(archive, study, ConsentStatus.GIVEN, form_pdf=SIGNED, **GIVEN1)
    assert seen(archive, EPR) == {uids[1]}
    # Release hands it back to consent.
    archive.set_availability(Level.IMAGE, uids[0], Availability.ACTIVE, reason="ok", requester=IG)
    assert seen(archive, EPR) == set(uids)


def test_a_photographer_does_not_see_their_photo_once_governance_holds_it(
    archive: Archive,
) -> None:
    _, uids = session_of_photos(archive)
    assert seen(archive, PHOTOGRAPHER) == set(uids)  # held for want of consent
    archive.set_availability(
        Level.IMAGE, uids[0], Availability.HELD, reason="complaint under review", requester=IG
    )
    assert seen(archive, PHOTOGRAPHER) == {uids[1]}
    assert seen(archive, REVIEW) == set(uids)


def _frame_of(video: Dataset) -> Dataset:
    """A frame as archive.convert.derive.extract_frames makes it: DERIVED, in the
    video's series, with a Source Image Sequence naming the video."""
    frame = photo(
        study_uid=video.StudyInstanceUID,
        series_uid=video.SeriesInstanceUID,
        instance_number=2,
    )
    frame.ImageType = ["DERIVED", "PRIMARY"]
    item = Dataset()
    item.ReferencedSOPClassUID = video.SOPClassUID
    item.ReferencedSOPInstanceUID = video.SOPInstanceUID
    item.ReferencedFrameNumber = 10
    frame.SourceImageSequence = DicomSequence([item])
    return frame


def test_a_frame_of_a_video_is_used_only_within_the_videos_consent(archive: Archive) -> None:
    video = photo(sop_class=VideoPhotographicImageStorage)
    archive.ingest(encode(video), origin=ORIGIN)
    record(archive, video.StudyInstanceUID, ConsentStatus.GIVEN, **patients_written("teaching"))
    frame = _frame_of(video)
    archive.ingest(encode(frame), origin=ORIGIN)
    # The frame has no consent document of its own, but its video's consent.
    assert {u for u in seen(archive, EDUCATOR)} == {frame.SOPInstanceUID}
    record(
        archive,
        video.StudyInstanceUID,
        ConsentStatus.WITHDRAWN,
        consenter="patient",
        instances=(video.SOPInstanceUID,),
    )
    assert seen(archive, EPR) == set() and seen(archive, EDUCATOR) == set()
    assert state(archive)[frame.SOPInstanceUID][:2] == (
        "quarantined",
        "source recording: consent withdrawn",
    )


def test_governance_decisions_on_a_video_reach_the_frames_made_from_it(archive: Archive) -> None:
    """A video quarantined as the wrong patient takes its extracted frame with it;
    released, both return to consent; erased, no copy of it stays in use."""
    video = photo(sop_class=VideoPhotographicImageStorage)
    archive.ingest(encode(video), origin=ORIGIN)
    record(archive, video.StudyInstanceUID, ConsentStatus.GIVEN, **GIVEN1)
    frame = _frame_of(video)
    frame.SeriesInstanceUID = generate_uid()  # filed in a series of its own
    archive.ingest(encode(frame), origin=ORIGIN)
    both = {video.SOPInstanceUID, frame.SOPInstanceUID}

    def in_use() -> set[str]:
        return {u for u, (a, _, _) in state(archive).items() if a == "active"}

    assert in_use() == both
    moved = archive.set_availability(
        Level.IMAGE,
        video.SOPInstanceUID,
        Availability.QUARANTINED,
        reason="wrong patient",
        requester=IG,
        reason_code="wrong-patient",
    )
    assert set(moved.changed) == both
    assert in_use() == set() and seen(archive, EPR) == set()
    assert state(archive)[frame.SOPInstanceUID][:2] == ("quarantined", "wrong patient")
    archive.set_availability(
        Level.IMAGE, video.SOPInstanceUID, Availability.ACTIVE, reason="checked", requester=IG
    )
    assert in_use() == both
    archive.set_availability(
        Level.SERIES,
        video.SeriesInstanceUID,
        Availability.ERASED,
        reason="not needed",
        requester=IG,
    )
    assert in_use() == set() and seen(archive, EPR) == set()
    assert state(archive)[frame.SOPInstanceUID][0] == "erased"


def test_a_frame_that_arrives_before_its_video_waits_for_it(archive: Archive) -> None:
    video = photo(sop_class=VideoPhotographicImageStorage)
    frame = _frame_of(video)
    archive.ingest(encode(frame), origin=ORIGIN)
    assert state(archive)[frame.SOPInstanceUID][0] == "held"
    archive.ingest(encode(video), origin=ORIGIN)
    record(archive, video.StudyInstanceUID, ConsentStatus.GIVEN, **GIVEN1)
    assert seen(archive, EPR) == {frame.SOPInstanceUID}


def test_a_further_consent_adds_its_use_and_only_a_withdrawal_narrows(archive: Archive) -> None:
    study, uids = session_of_photos(archive)
    record(archive, study, ConsentStatus.GIVEN, **patients_written("teaching"))
    record(archive, study, ConsentStatus.GIVEN, purpose=JOURNAL, **patients_written("specified"))
    assert seen(archive, EDUCATOR) == set(uids) == seen(archive, PUBLISHER)
    lancet = "Publication in The Lancet, case series 2027"
    record(archive, study, ConsentStatus.GIVEN, purpose=lancet, **patients_written("specified"))
    other = Actor(
        actor="edu", role=Role.EDUCATOR, purpose=Purpose.SPECIFIED, specified_purpose=lancet
    )
    assert seen(archive, other) == set(uids) == seen(archive, PUBLISHER)
    assert sorted(state(archive)[uids[0]][2]) == sorted(
        ["care", "teaching", f"specified:{JOURNAL}", f"specified:{lancet}"]
    )
    record(archive, study, ConsentStatus.WITHDRAWN, consenter="patient")
    assert seen(archive, EPR) == set() and seen(archive, PUBLISHER) == set()


def test_vital_interests_can_carry_an_intimate_justification(archive: Archive) -> None:
    study, uids = session_of_photos(archive, birth_date=CHILD_BORN, body_part="BUTTOCK")
    record(
        archive,
        study,
        ConsentStatus.IMPLICIT,
        **VITAL_INTERESTS,
        intimate_justification="Suspected non-accidental injury: bruising pattern",
    )
    assert seen(archive, EPR) == set(uids)


def test_the_reason_names_the_decision_that_governs_now(archive: Archive) -> None:
    study, _ = session_of_photos(archive)
    record(archive, study, ConsentStatus.GIVEN, **patients_written("teaching"))
    assert {s[1] for s in state(archive).values()} == {"consent given (level 2)"}
    record(archive, study, ConsentStatus.GIVEN, purpose=JOURNAL, **patients_written("specified"))
    assert {s[1] for s in state(archive).values()} == {"consent given (level 3, adding to level 2)"}


def test_release_of_a_governance_hold_on_an_unconsented_photo_is_refused(
    archive: Archive,
) -> None:
    _, uids = session_of_photos(archive, 1)
    archive.set_availability(
        Level.IMAGE, uids[0], Availability.QUARANTINED, reason="wrong patient?", requester=IG
    )
    with pytest.raises(ArchiveError, match="record consent"):
        archive.set_availability(
            Level.IMAGE, uids[0], Availability.ACTIVE, reason="x", requester=IG
        )
    assert seen(archive, REVIEW) == set(uids)


def test_photos_are_vl_photos() -> None:  # the helpers above make what seen() counts
    assert photo().SOPClassUID == VL_PHOTO and generate_uid()
