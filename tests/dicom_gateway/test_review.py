"""The governance review path over DIMSE: a governance node calling
the review AE title finds, moves and gets exactly the held and quarantined
objects while it has an open review with a stated reason; nobody else may
call it; every look is audited with the review's reason and number."""

from __future__ import annotations

import json

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import select

from archive import Actor, ReviewInfo, node_subject
from archive.models import AuditEvent
from dicom_gateway.sop import STUDY_ROOT_FIND, STUDY_ROOT_MOVE, UNCOMPRESSED, VERIFICATION
from tests.dicom_gateway.conftest import EPR, GOVERNANCE, PEER, Running, World, _query, associate

REVIEW_AET = "PHOTOPACS_REVIEW"
CONTEXTS = [
    (STUDY_ROOT_FIND, UNCOMPRESSED),
    (STUDY_ROOT_MOVE, UNCOMPRESSED),
    (VERIFICATION, UNCOMPRESSED),
]


REASON = "IG-2026-114: complaint about a photo taken in theatre"


@pytest.fixture
def review(gateway: Running) -> ReviewInfo:
    return gateway.archive.open_review(
        node_subject(GOVERNANCE), reason=REASON, requester=Actor.operator("ig.lead")
    )


def _events(gw: Running, action: str, actor: str) -> list[AuditEvent]:
    with gw.archive.sessions() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [e for e in rows if e.actor == actor]


def _review_find(gw: Running, query: Dataset) -> list[Dataset]:
    with associate(gw.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        assert assoc.is_established
        return [
            ident
            for status, ident in assoc.send_c_find(query, STUDY_ROOT_FIND)
            if status and status.Status in (0xFF00, 0xFF01)
        ]


def test_review_finds_exactly_the_hidden_objects(
    gateway: Running, world: World, review: ReviewInfo
) -> None:
    images = _review_find(
        gateway,
        _query(
            "IMAGE", PatientID="QR*", SOPInstanceUID="", StudyInstanceUID="", SeriesInstanceUID=""
        ),
    )
    hidden = {str(i.SOPInstanceUID) for i in images}
    assert world.held in hidden
    assert not hidden & set(world.active1)
    patients = _review_find(gateway, _query("STUDY", PatientID="", StudyInstanceUID=""))
    assert {str(p.PatientID) for p in patients} == {"QR1", "QR4"}
    events = _events(gateway, "query", GOVERNANCE)
    assert events
    for event in events:
        detail = json.loads(event.detail)
        assert detail["review"] is True
        assert detail["review_reason"] == REASON
        assert detail["review_number"] == review.number
        assert event.purpose == "governance"


def test_no_review_without_an_open_review_with_a_reason(gateway: Running, world: World) -> None:
    with associate(gateway.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        assert assoc.is_rejected
    refused = [
        json.loads(e.detail)
        for e in _events(gateway, "association", GOVERNANCE)
        if e.outcome == "refused"
    ]
    assert refused[-1]["reason"] == "no open governance review with a stated reason for this node"
    # The ordinary AE title is unaffected (rejection notes may still be sent).
    with associate(gateway.port, GOVERNANCE, CONTEXTS) as assoc:
        assert assoc.is_established


def test_closing_the_review_ends_the_look_mid_association(
    gateway: Running, world: World, review: ReviewInfo
) -> None:
    query = _query("IMAGE", PatientID="QR*", SOPInstanceUID="", StudyInstanceUID="")
    query.SeriesInstanceUID = ""
    with associate(gateway.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        first = [s.Status for s, _ in assoc.send_c_find(query, STUDY_ROOT_FIND) if s]
        assert first[-1] == 0x0000 and 0xFF00 in first
        assert gateway.archive.close_review(
            node_subject(GOVERNANCE), requester=Actor.operator("ig.lead")
        ) == [review.number]
        after = [(s, i) for s, i in assoc.send_c_find(query, STUDY_ROOT_FIND) if s]
    assert [int(s.Status) for s, _ in after] == [0x0124]
    assert "no open governance review" in str(after[0][0].ErrorComment)
    with associate(gateway.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        assert assoc.is_rejected


def test_only_governance_nodes_may_call_the_review_aet(gateway: Running) -> None:
    for title in (EPR, PEER):
        with associate(gateway.port, title, CONTEXTS, called=REVIEW_AET) as assoc:
            assert assoc.is_rejected


def test_review_moves_only_to_governance_nodes(
    gateway: Running, world: World, review: ReviewInfo
) -> None:
    query = _query("PATIENT", PatientID="QR4")
    with associate(gateway.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        statuses = [int(s.Status) for s, _ in assoc.send_c_move(query, PEER, STUDY_ROOT_MOVE) if s]
    assert statuses[-1] == 0xA801  # held objects never go to an ordinary peer
    assert gateway.received == []
