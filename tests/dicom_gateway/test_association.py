"""Association control: unknown, misaddressed and wrong-role callers are refused
and audited; known ones get the services of their role."""

from __future__ import annotations

import json

from pynetdicom import AE
from sqlalchemy import select

from archive import Actor
from archive.models import AuditEvent, Instance
from dicom_gateway.sop import (
    COMMITMENT,
    PATIENT_ROOT_FIND,
    STUDY_ROOT_FIND,
    STUDY_ROOT_MOVE,
    UNCOMPRESSED,
    VERIFICATION,
)
from tests.dicom_gateway.conftest import CAMERA, EPR, GOVERNANCE, PEER, Running, associate
from tests.factory import make_dataset

OPERATOR = Actor.operator("t")


def _events(gw: Running, action: str) -> list[AuditEvent]:
    with gw.archive.sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def test_known_nodes_echo_and_the_association_is_audited(gateway: Running) -> None:
    for title in (CAMERA, EPR, PEER, GOVERNANCE):
        with associate(gateway.port, title, [(VERIFICATION, UNCOMPRESSED)]) as assoc:
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0x0000
    accepted = [e for e in _events(gateway, "association") if e.outcome == "success"]
    assert {e.actor for e in accepted} >= {CAMERA, EPR, PEER, GOVERNANCE}
    assert all(e.source == "127.0.0.1" for e in accepted)


def test_unknown_calling_ae_is_rejected_at_association_and_audited(gateway: Running) -> None:
    with associate(gateway.port, "STRANGER", [(VERIFICATION, UNCOMPRESSED)]) as assoc:
        assert assoc.is_rejected
        rj = assoc.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (0x01, 0x01, 0x03)
    refused = [e for e in _events(gateway, "association") if e.outcome == "refused"]
    assert [e.actor for e in refused] == ["STRANGER"]
    assert "not recognised" in json.loads(refused[0].detail)["reason"]


def test_wrong_called_ae_is_rejected(gateway: Running) -> None:
    with associate(
        gateway.port, CAMERA, [(VERIFICATION, UNCOMPRESSED)], called="SOMEONEELSE"
    ) as assoc:
        assert assoc.is_rejected
        assert assoc.acceptor.primitive.diagnostic == 0x07
    assert any(e.outcome == "refused" for e in _events(gateway, "association"))


def test_address_check_refuses_a_node_calling_from_elsewhere(gateway: Running) -> None:
    gateway.archive.add_node(
        "FARAWAY",
        host="192.0.2.10",
        port=104,
        role="modality",
        check_address=True,
        requester=OPERATOR,
    )
    gateway.archive.add_node(
        "NEARBY",
        host="127.0.0.1",
        port=104,
        role="modality",
        check_address=True,
        requester=OPERATOR,
    )
    with associate(gateway.port, "FARAWAY", [(VERIFICATION, UNCOMPRESSED)]) as assoc:
        assert assoc.is_rejected
    with associate(gateway.port, "NEARBY", [(VERIFICATION, UNCOMPRESSED)]) as assoc:
        assert assoc.is_established


def test_store_from_a_role_that_may_not_store_is_refused_0124(gateway: Running) -> None:
    ds = make_dataset()
    for title in (EPR, PEER, GOVERNANCE):
        with associate(gateway.port, title, [(ds.SOPClassUID, UNCOMPRESSED)]) as assoc:
            status = assoc.send_c_store(ds)
            assert status.Status == 0x0124
            assert "not authorised" in status.ErrorComment
    with gateway.archive.sessions() as s:
        refusals = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "ingest", AuditEvent.outcome == "refused"
                )
            )
        )
    assert {e.actor for e in refusals} == {EPR, PEER, GOVERNANCE}
    with gateway.archive.sessions() as s:
        assert s.scalar(select(Instance.pk)) is None


def test_services_outside_the_role_are_not_negotiated(gateway: Running) -> None:
    """A modality gets no query/retrieve contexts, an EPR no storage commitment,
    a peer or governance node neither (PS3.8 9.3.3.2 abstract syntax not supported)."""
    wanted = [
        (STUDY_ROOT_FIND, UNCOMPRESSED),
        (PATIENT_ROOT_FIND, UNCOMPRESSED),
        (STUDY_ROOT_MOVE, UNCOMPRESSED),
        (COMMITMENT, UNCOMPRESSED),
        (VERIFICATION, UNCOMPRESSED),
    ]
    expected = {
        CAMERA: {COMMITMENT, VERIFICATION},
        EPR: {STUDY_ROOT_FIND, PATIENT_ROOT_FIND, STUDY_ROOT_MOVE, VERIFICATION},
        PEER: {VERIFICATION},
        GOVERNANCE: {VERIFICATION},
    }
    for title, allowed in expected.items():
        with associate(gateway.port, title, wanted) as assoc:
            assert assoc.is_established
            got = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
            assert got == allowed, title
    details = [json.loads(e.detail) for e in _events(gateway, "association") if e.actor == CAMERA]
    assert "find" in details[-1]["not_negotiated"]


def test_max_pdu_and_ae_are_configured(gateway: Running) -> None:
    ae = gateway.gateway.bound.ae
    assert isinstance(ae, AE)
    assert ae.ae_title == "PHOTOPACS"
