"""Auto-forwarding in the archive: rules are validated, jobs are queued in the
ingest transaction, and the access policy decides at send time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from archive import (
    Actor,
    Archive,
    Availability,
    InvalidArgument,
    Level,
    NotFound,
    Origin,
    Role,
    StorageError,
)
from archive.models import AuditEvent, Delivery, ForwardJob, Instance
from archive.store import BlobStore, StagedBlob
from tests.factory import VL_PHOTO, encode, make_dataset

OPERATOR = Actor.operator("t")

CAMERA = Origin(Actor("CAM1", Role.MODALITY, None, source="127.0.0.1"), received_from="CAM1")


@pytest.fixture
def nodes(archive: Archive) -> Archive:
    archive.add_node("CAM1", host="127.0.0.1", port=104, role="modality", requester=OPERATOR)
    archive.add_node("PEER1", host="127.0.0.1", port=105, role="peer", requester=OPERATOR)
    archive.add_node("EPR1", host="127.0.0.1", port=106, role="epr", requester=OPERATOR)
    archive.add_node("GOV1", host="127.0.0.1", port=107, role="governance", requester=OPERATOR)
    return archive


def test_bad_rules_are_refused_and_store_nothing(nodes: Archive) -> None:
    fwd = nodes.forwarding
    with pytest.raises(NotFound, match="no registered node NOPE"):
        fwd.add_rule("CAM1", "NOPE", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="peer or epr nodes only"):
        fwd.add_rule("CAM1", "GOV1", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="peer or epr nodes only"):
        fwd.add_rule("*", "CAM1", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="1 to 16 characters"):
        fwd.add_rule("A" * 17, "PEER1", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="backslash"):
        fwd.add_rule("CAM\\1", "PEER1", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="not a UID"):
        fwd.add_rule("CAM1", "PEER1", sop_class_uid="1.2.abc", requester=OPERATOR)
    with pytest.raises(InvalidArgument, match="back to it"):
        fwd.add_rule("PEER1", "PEER1", requester=OPERATOR)
    assert fwd.rules() == []
    rule = fwd.add_rule(" CAM1 ", "PEER1", requester=OPERATOR)
    assert (rule.source_ae, rule.destination, rule.sop_class_uid) == ("CAM1", "PEER1", "")
    assert [r.number for r in fwd.rules()] == [rule.number]
    fwd.remove_rule(rule.number, requester=OPERATOR)
    with pytest.raises(NotFound):
        fwd.remove_rule(rule.number, requester=OPERATOR)
    assert fwd.rules() == []


def test_ingest_queues_a_job_per_matching_destination(nodes: Archive) -> None:
    fwd = nodes.forwarding
    fwd.add_rule("CAM1", "PEER1", requester=OPERATOR)
    fwd.add_rule("*", "PEER1", requester=OPERATOR)  # same destination: one job
    fwd.add_rule("*", "EPR1", sop_class_uid=VL_PHOTO, requester=OPERATOR)
    fwd.add_rule("*", "EPR1", sop_class_uid="1.2.3", requester=OPERATOR)  # matches nothing here
    endoscopy = make_dataset(patient_id="F1")
    photo = make_dataset(patient_id="F1", sop_class=VL_PHOTO, modality="XC")
    nodes.ingest(encode(endoscopy), origin=CAMERA)
    nodes.ingest(encode(photo), origin=CAMERA)
    jobs = {(j.sop_instance_uid, j.destination) for j in fwd.jobs()}
    assert jobs == {
        (endoscopy.SOPInstanceUID, "PEER1"),
        (photo.SOPInstanceUID, "PEER1"),
        (photo.SOPInstanceUID, "EPR1"),
    }
    # From another source only the "*" rules match; never back to the sender;
    # a duplicate re-send queues nothing new.
    other = make_dataset(patient_id="F2")
    nodes.ingest(encode(other), origin=Origin(Actor.operator("PEER1"), received_from="PEER1"))
    nodes.ingest(encode(endoscopy), origin=CAMERA)
    assert len(fwd.jobs()) == 3
    assert all(j.status == "pending" and j.attempts == 0 for j in fwd.jobs())


def test_the_job_commits_with_the_object_or_not_at_all(
    nodes: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes.forwarding.add_rule("CAM1", "PEER1", requester=OPERATOR)

    def disk_fails(self: BlobStore, staged: StagedBlob) -> str:
        raise StorageError("disk gone")

    monkeypatch.setattr(BlobStore, "commit", disk_fails)
    ds = make_dataset(patient_id="F3")
    with pytest.raises(StorageError):
        nodes.ingest(encode(ds), origin=CAMERA)
    monkeypatch.undo()
    with nodes.sessions() as s:
        assert (
            s.scalar(select(Instance).where(Instance.sop_instance_uid == ds.SOPInstanceUID)) is None
        )
        assert list(s.scalars(select(ForwardJob))) == []
    nodes.ingest(encode(ds), origin=CAMERA)
    assert [j.sop_instance_uid for j in nodes.forwarding.jobs()] == [ds.SOPInstanceUID]


def test_policy_decides_at_send_time(nodes: Archive) -> None:
    fwd = nodes.forwarding
    fwd.add_rule("CAM1", "PEER1", requester=OPERATOR)
    active = make_dataset(patient_id="F4")
    held = make_dataset(patient_id="F4", sop_class=VL_PHOTO, modality="XC")
    gone = make_dataset(patient_id="F4")
    for ds in (active, held, gone):
        nodes.ingest(encode(ds), origin=CAMERA)
    nodes.set_availability(
        Level.IMAGE,
        gone.SOPInstanceUID,
        Availability.QUARANTINED,
        reason="wrong patient",
        requester=Actor.operator("ig"),
        reason_code="wrong-patient",
    )
    (batch,) = fwd.due()
    assert batch.destination.ae_title == "PEER1" and batch.destination.port == 105
    [(number, loc)] = batch.items
    assert loc.sop_instance_uid == active.SOPInstanceUID and loc.path.is_file()
    jobs = {j.sop_instance_uid: j for j in fwd.jobs(statuses=None)}
    assert jobs[held.SOPInstanceUID].status == "pending"
    assert jobs[held.SOPInstanceUID].attempts == 0
    assert jobs[held.SOPInstanceUID].last_error.startswith("waiting: held")
    assert jobs[gone.SOPInstanceUID].status == "dropped"
    assert "quarantined" in jobs[gone.SOPInstanceUID].last_error
    with nodes.sessions() as s:
        delivered = set(s.scalars(select(Delivery.sop_instance_uid)))
        refused = s.scalar(
            select(AuditEvent).where(
                AuditEvent.outcome == "refused", AuditEvent.actor == "forwarder"
            )
        )
    assert delivered == {active.SOPInstanceUID}  # recorded before sending
    assert refused is not None and gone.SOPInstanceUID in refused.object_uids

    # A failure backs off; the last allowed attempt marks the job failed.
    now = datetime.now(UTC)
    fwd.mark("PEER1", sent=[], failed={number: "refused"}, max_attempts=2, backoff=30, now=now)
    (job,) = [j for j in fwd.jobs() if j.number == number]
    assert job.attempts == 1 and job.last_error == "refused"
    assert job.next_attempt_at >= now + timedelta(seconds=29)
    assert fwd.due(now=now + timedelta(seconds=1)) == []
    assert len(fwd.due(now=now + timedelta(seconds=31))) == 1
    fwd.mark("PEER1", sent=[], failed={number: "refused again"}, max_attempts=2, backoff=30)
    assert {j.number: j.status for j in fwd.jobs()}[number] == "failed"
    assert fwd.retry(number, requester=OPERATOR) == 1
    assert {j.number: (j.status, j.attempts) for j in fwd.jobs()}[number] == ("pending", 0)
    (batch,) = fwd.due()
    fwd.mark("PEER1", sent=[number], failed={}, max_attempts=2, backoff=30)
    assert {j.number: j.status for j in fwd.jobs(statuses=None)}[number] == "sent"
