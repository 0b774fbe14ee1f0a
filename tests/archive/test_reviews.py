"""Governance reviews: hidden objects are looked at only under an
open review with a stated reason; opening, closing and expiry are audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from archive import (
    Actor,
    Archive,
    Availability,
    InvalidArgument,
    Level,
    NotFound,
    Origin,
    Purpose,
    Role,
    node_subject,
    session_subject,
)
from archive.models import GovernanceReview
from tests.archive.helpers import audit_rows
from tests.factory import encode, make_dataset

OPERATOR = Actor.operator("test")
IG = Actor.operator("ig")

REASON = "IG-2026-201: patient asks who saw the withdrawn photos"


@pytest.fixture
def hidden(archive: Archive) -> str:
    ds = make_dataset(patient_id="REV1")
    archive.ingest(encode(ds), origin=Origin(OPERATOR))
    archive.set_availability(
        Level.IMAGE, ds.SOPInstanceUID, Availability.QUARANTINED, reason="wrong", requester=IG
    )
    archive.add_node("IGNODE", host="127.0.0.1", port=104, role="governance", requester=OPERATOR)
    archive.add_node("EPRNODE", host="127.0.0.1", port=105, role="epr", requester=OPERATOR)
    return str(ds.SOPInstanceUID)


def test_opening_needs_a_real_reason_and_a_governance_subject(
    archive: Archive, hidden: str
) -> None:
    for reason in ("", "   ", "complaint", "x" * 1001):
        with pytest.raises(InvalidArgument):
            archive.open_review(node_subject("IGNODE"), reason=reason, requester=IG)
    with pytest.raises(InvalidArgument, match="not a governance node"):
        archive.open_review(node_subject("EPRNODE"), reason=REASON, requester=IG)
    with pytest.raises(NotFound):
        archive.open_review(node_subject("NOPE"), reason=REASON, requester=IG)
    with pytest.raises(InvalidArgument, match="hours"):
        archive.open_review(node_subject("IGNODE"), reason=REASON, requester=IG, hours=0)
    assert archive.reviews() == []
    assert archive.current_review(node_subject("IGNODE")) is None


def test_open_close_expire_and_the_record_of_reviews(archive: Archive, hidden: str) -> None:
    subject = node_subject("IGNODE")
    first = archive.open_review(subject, reason=REASON, requester=Actor.operator("ig.lead"))
    assert archive.current_review(subject) == first
    # Re-opening replaces the open review (one reason at a time), and keeps the old one.
    second = archive.open_review(
        subject, reason=REASON + " (second look)", requester=Actor.operator("ig.lead")
    )
    assert archive.current_review(subject) == second
    assert archive.close_review(subject, requester=Actor.operator("ig.lead")) == [second.number]
    assert archive.current_review(subject) is None
    assert archive.close_review(subject, requester=Actor.operator("ig.lead")) == []
    listed = archive.reviews()
    assert [r.number for r in listed] == [first.number, second.number]
    assert all(r.closed_at is not None for r in listed)
    assert archive.reviews(open_only=True) == []

    third = archive.open_review(subject, reason=REASON, requester=Actor.operator("ig.lead"))
    with archive.sessions.begin() as s:  # an hour later than its end
        s.execute(
            update(GovernanceReview)
            .where(GovernanceReview.pk == third.number)
            .values(expires_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert archive.current_review(subject) is None

    events = [json.loads(e.detail) for e in audit_rows(archive) if e.action == "governance-review"]
    assert [e.get("opened", e.get("closed")) for e in events] == [subject] * 4
    assert events[0]["review_reason"] == REASON


def test_a_session_review_never_outlives_the_session(archive: Archive) -> None:
    end = datetime.now(UTC) + timedelta(minutes=30)
    info = archive.open_review(
        session_subject("abc"),
        reason=REASON,
        requester=Actor("ig", Role.GOVERNANCE, Purpose.GOVERNANCE),
        not_after=end,
    )
    assert info.expires_at == end


def test_every_review_read_carries_the_reason(archive: Archive, hidden: str) -> None:
    info = archive.open_review(node_subject("IGNODE"), reason=REASON, requester=IG)
    requester = Actor(
        actor="IGNODE",
        role=Role.GOVERNANCE,
        purpose=Purpose.GOVERNANCE,
        review=True,
        review_reason=info.reason,
        review_number=info.number,
    )
    found = archive.find(Level.IMAGE, {"PatientID": "REV1"}, requester=requester)
    assert [m["SOPInstanceUID"] for m in found] == [hidden]
    located = archive.locate(
        Level.IMAGE, {"SOPInstanceUID": hidden}, requester=requester, destination="IGNODE"
    )
    assert [i.sop_instance_uid for i in located] == [hidden]
    reads = [e for e in audit_rows(archive) if e.action in ("query", "retrieve")]
    assert len(reads) == 2
    for event in reads:
        detail = json.loads(event.detail)
        assert detail["review_reason"] == REASON and detail["review_number"] == info.number
