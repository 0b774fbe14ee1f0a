"""Outgoing storage-commitment transactions in the index: recorded before the
N-ACTION, matched by Transaction UID and destination, every step audited."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from archive import Actor, Archive, InvalidArgument, NotAuthorised, NotFound, Role
from archive.models import AuditEvent

VL = "1.2.840.10008.5.1.4.1.1.77.1.4"

OP = Actor.operator("cli:t")
PEER = Actor("PEER1", Role.PEER, None)  # the node the requests go to
INTRUDER = Actor("INTRUDER", Role.PEER, None)


def _events(archive: Archive) -> list[dict[str, object]]:
    with archive.sessions() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        return [
            {"actor": e.actor, "outcome": e.outcome, **json.loads(e.detail)}
            for e in rows
            if "storage-commitment-request" in e.detail
        ]


def test_a_report_from_the_destination_settles_the_transaction(archive: Archive) -> None:
    uids = [generate_uid() for _ in range(3)]
    tx = generate_uid()
    recorded = archive.commitment_requests.record(
        tx,
        "PEER1",
        [(VL, u) for u in [*uids, uids[0]]],
        calling_aet="PHOTOPACS",
        requester=OP,
    )
    assert recorded.status == "pending" and len(recorded.instances) == 3  # each instance once
    info = archive.commitment_requests.report(
        tx,
        PEER,
        committed=[(VL, uids[0]), (VL, uids[1])],
        failed=[(VL, uids[2], 0x0112)],
        via="new association",
    )
    assert info.status == "partly-failed" and info.committed == uids[:2]
    [bad] = info.not_committed
    assert (bad.sop_instance_uid, bad.failure_reason) == (uids[2], 0x0112)
    assert (info.reported_by, info.via) == ("PEER1", "new association")
    again = archive.commitment_requests.report(
        tx, PEER, committed=[(VL, u) for u in uids], failed=[], via="new association"
    )
    assert again.status == "committed"
    assert archive.commitment_requests.listing() == []
    assert [r.transaction_uid for r in archive.commitment_requests.listing(statuses=None)] == [tx]
    events = _events(archive)
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("requested", "success"),
        ("report", "failure"),
        ("report", "success"),
    ]


def test_reports_for_unknown_transactions_or_from_other_nodes_are_refused(
    archive: Archive,
) -> None:
    tx = generate_uid()
    uid = generate_uid()
    archive.commitment_requests.record(tx, "PEER1", [(VL, uid)], calling_aet="PP", requester=OP)
    with pytest.raises(NotFound):
        archive.commitment_requests.report(
            generate_uid(), PEER, committed=[(VL, uid)], failed=[], via="new association"
        )
    with pytest.raises(NotAuthorised):
        archive.commitment_requests.report(
            tx, INTRUDER, committed=[(VL, uid)], failed=[], via="new association"
        )
    info = archive.commitment_requests.get(tx)
    assert info is not None and info.status == "pending"
    refused = [e for e in _events(archive) if e["outcome"] == "refused"]
    assert [(e["actor"], e["reason"]) for e in refused] == [
        ("PEER1", "unknown transaction"),
        ("INTRUDER", "not the destination of the transaction"),
    ]


def test_timeout_then_a_late_report(archive: Archive) -> None:
    tx, uid = generate_uid(), generate_uid()
    archive.commitment_requests.record(tx, "PEER1", [(VL, uid)], calling_aet="PP", requester=OP)
    timed_out = archive.commitment_requests.give_up(
        tx, status="timed-out", detail="no report within 5 s", requester=OP
    )
    assert timed_out.status == "timed-out"
    # giving up twice changes nothing; a report that lands later is still recorded
    archive.commitment_requests.give_up(tx, status="refused", detail="x", requester=OP)
    late = archive.commitment_requests.report(
        tx, PEER, committed=[], failed=[], via="same association"
    )
    assert late.status == "partly-failed"  # the report left the instance out
    assert late.not_committed[0].failure_reason is None
    assert "after the sender stopped waiting" in late.detail
    assert [e["event"] for e in _events(archive)] == ["requested", "timed-out", "report"]
    assert _events(archive)[-1]["late"] is True


def test_bad_requests_are_refused(archive: Archive) -> None:
    with pytest.raises(InvalidArgument):
        archive.commitment_requests.record("1.2.x", "PEER1", [(VL, "1.2")], calling_aet="A",
                                           requester=OP)  # fmt: skip
    with pytest.raises(InvalidArgument):
        archive.commitment_requests.record(generate_uid(), "PEER1", [], calling_aet="A",
                                           requester=OP)  # fmt: skip
    with pytest.raises(InvalidArgument):
        archive.commitment_requests.record(generate_uid(), "P\\1", [(VL, "1.2")],
                                           calling_aet="A", requester=OP)  # fmt: skip
    assert archive.commitment_requests.listing(statuses=None) == []
