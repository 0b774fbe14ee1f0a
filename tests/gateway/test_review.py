"""The governance review path over DIMSE (issue 6): a governance node calling
the review AE title finds, moves and gets exactly the held and quarantined
objects; nobody else may call it; every look is audited as a review."""

from __future__ import annotations

import json

from pydicom.dataset import Dataset
from sqlalchemy import select

from archive.models import AuditEvent
from dicom_gateway.sop import STUDY_ROOT_FIND, STUDY_ROOT_MOVE, UNCOMPRESSED, VERIFICATION
from tests.gateway.conftest import EPR, GOVERNANCE, PEER, Running, World, _query, associate

REVIEW_AET = "PHOTOPACS_REVIEW"
CONTEXTS = [
    (STUDY_ROOT_FIND, UNCOMPRESSED),
    (STUDY_ROOT_MOVE, UNCOMPRESSED),
    (VERIFICATION, UNCOMPRESSED),
]


def _review_find(gw: Running, query: Dataset) -> list[Dataset]:
    with associate(gw.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        assert assoc.is_established
        return [
            ident
            for status, ident in assoc.send_c_find(query, STUDY_ROOT_FIND)
            if status and status.Status in (0xFF00, 0xFF01)
        ]


def test_review_finds_exactly_the_hidden_objects(gateway: Running, world: World) -> None:
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
    with gateway.archive.sessions() as s:
        events = [
            e
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "query"))
            if e.actor == GOVERNANCE
        ]
    assert events and all(json.loads(e.detail)["review"] is True for e in events)
    assert all(e.purpose == "governance" for e in events)


def test_only_governance_nodes_may_call_the_review_aet(gateway: Running) -> None:
    for title in (EPR, PEER):
        with associate(gateway.port, title, CONTEXTS, called=REVIEW_AET) as assoc:
            assert assoc.is_rejected


def test_review_moves_only_to_governance_nodes(gateway: Running, world: World) -> None:
    query = _query("PATIENT", PatientID="QR4")
    with associate(gateway.port, GOVERNANCE, CONTEXTS, called=REVIEW_AET) as assoc:
        statuses = [int(s.Status) for s, _ in assoc.send_c_move(query, PEER, STUDY_ROOT_MOVE) if s]
    assert statuses[-1] == 0xA801  # held objects never go to an ordinary peer
    assert gateway.received == []
