"""Availability transitions, erasure, the audit chain and fixity."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from archive import (
    Actor,
    Archive,
    Availability,
    InvalidTransition,
    Level,
    NotFound,
    Origin,
    Purpose,
    Role,
)
from tests.archive.helpers import audit_rows, stored_files
from tests.factory import encode, make_dataset

OPERATOR = Actor.operator("test")
IG = Actor.operator("ig")

ORIGIN = Origin(OPERATOR)
OP = Actor(actor="t", role=Role.OPERATOR, purpose=Purpose.CARE)


def _two_instances(archive: Archive) -> tuple[str, str, str]:
    first = make_dataset(patient_id="G1")
    second = make_dataset(
        patient_id="G1", study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID
    )
    archive.ingest(encode(first), origin=ORIGIN)
    archive.ingest(encode(second), origin=ORIGIN)
    return first.StudyInstanceUID, first.SOPInstanceUID, second.SOPInstanceUID


def test_transitions_at_study_level_are_audited(archive: Archive) -> None:
    study, a, b = _two_instances(archive)
    result = archive.set_availability(
        Level.STUDY, study, Availability.QUARANTINED, reason="wrong patient", requester=IG
    )
    assert sorted(result.changed) == sorted([a, b])
    event = audit_rows(archive)[-1]
    assert (event.action, event.actor, event.patient_id) == ("availability-change", "ig", "G1")
    assert json.loads(event.detail)["reason"] == "wrong patient"
    assert sorted(json.loads(event.object_uids)) == sorted([a, b])
    again = archive.set_availability(
        Level.STUDY, study, Availability.QUARANTINED, reason="again", requester=IG
    )
    assert again.changed == () and len(again.unchanged) == 2


def test_a_study_level_change_names_the_study_not_its_last_instance(archive: Archive) -> None:
    """The audit detail and the "erasure is final" refusal name what was asked for."""
    study, _, _ = _two_instances(archive)
    archive.set_availability(
        Level.STUDY, study, Availability.ERASED, reason="not needed clinically", requester=IG
    )
    assert json.loads(audit_rows(archive)[-1].detail)["uid"] == study
    with pytest.raises(InvalidTransition, match=f"^study {study} is erased; erasure is final$"):
        archive.set_availability(
            Level.STUDY, study, Availability.HELD, reason="check", requester=IG
        )


def test_quarantine_needs_a_reason_and_a_target(archive: Archive) -> None:
    study, _, _ = _two_instances(archive)
    with pytest.raises(InvalidTransition, match="reason"):
        archive.set_availability(
            Level.STUDY, study, Availability.QUARANTINED, reason=" ", requester=IG
        )
    with pytest.raises(NotFound):
        archive.set_availability(
            Level.STUDY, "1.2.3", Availability.QUARANTINED, reason="x", requester=IG
        )


def test_erasure_deletes_bytes_keeps_tombstone_and_is_final(archive: Archive) -> None:
    _, a, b = _two_instances(archive)
    assert len(stored_files(archive)) == 2
    archive.set_availability(
        Level.IMAGE, a, Availability.ERASED, reason="not needed clinically", requester=IG
    )
    assert len(stored_files(archive)) == 1
    report = archive.fixity_check(requester=OPERATOR)
    assert (report.ok, report.checked, report.erased, report.missing) == (True, 1, 1, [])
    with pytest.raises(InvalidTransition, match="final"):
        archive.set_availability(Level.IMAGE, a, Availability.ACTIVE, reason="undo", requester=IG)
    assert archive.verify_audit(requester=OPERATOR).ok
    assert archive.find(Level.IMAGE, {"SOPInstanceUID": a}, requester=OP) == []
    assert [m["SOPInstanceUID"] for m in archive.find(Level.IMAGE, {}, requester=OP)] == [b]


def test_resending_erased_content_does_not_resurrect_it(archive: Archive) -> None:
    ds = make_dataset(patient_id="G2")
    data = encode(ds)
    archive.ingest(data, origin=ORIGIN)
    archive.set_availability(
        Level.IMAGE, ds.SOPInstanceUID, Availability.ERASED, reason="not needed", requester=IG
    )
    result = archive.ingest(data, origin=ORIGIN)
    assert (result.status, result.availability) == ("duplicate", Availability.ERASED)
    assert stored_files(archive) == []
    assert archive.find(Level.IMAGE, {}, requester=OP) == []


def test_audit_chain_detects_an_edited_row(archive: Archive) -> None:
    _two_instances(archive)
    assert archive.verify_audit(requester=OPERATOR).ok
    with archive.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2"))
    report = archive.verify_audit(requester=OPERATOR)
    assert not report.ok
    assert any("event 2" in p and "edited" in p for p in report.problems)


def test_audit_chain_detects_a_deleted_row(archive: Archive) -> None:
    _two_instances(archive)
    archive.verify_audit(requester=OPERATOR)
    with archive.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    report = archive.verify_audit(requester=OPERATOR)
    assert not report.ok
    assert any("event 3" in p and "missing" in p for p in report.problems)


def test_audit_chain_detects_a_recomputed_forgery(archive: Archive) -> None:
    """Rewriting a row and its own hash still breaks the link to the next row."""
    from archive.audit import _digest, _fields
    from archive.models import AuditEvent

    _two_instances(archive)
    with archive.sessions() as s, s.begin():
        row = s.get(AuditEvent, 1)
        assert row is not None
        row.actor = "forger"
        row.hash = _digest(row.prev_hash, row.seq, _fields(row))
    report = archive.verify_audit(requester=OPERATOR)
    assert any("event 2" in p and "previous" in p for p in report.problems)


def test_fixity_catches_a_flipped_byte_and_a_missing_file(archive: Archive) -> None:
    _, a, b = _two_instances(archive)
    assert archive.fixity_check(requester=Actor.operator("t")).ok
    files = stored_files(archive)
    victim = files[0]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0x01
    victim.write_bytes(bytes(data))
    files[1].unlink()
    report = archive.fixity_check(requester=Actor.operator("t"))
    assert not report.ok
    assert len(report.mismatched) == 1 and len(report.missing) == 1
    assert set(report.mismatched + report.missing) == {a, b}
    assert audit_rows(archive)[-1].outcome == "failure"


def test_refused_governance_actions_are_audited(archive: Archive) -> None:
    with pytest.raises(NotFound):
        archive.set_availability(
            Level.STUDY, "1.2.3", Availability.QUARANTINED, reason="x", requester=IG
        )
    event = audit_rows(archive)[-1]
    assert (event.action, event.outcome, event.actor) == ("availability-change", "refused", "ig")
    assert "no study 1.2.3" in json.loads(event.detail)["reason"]
