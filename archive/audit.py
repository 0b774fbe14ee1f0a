"""The audit trail: typed events, persisted append-only with a hash chain (R14).

Each row's hash covers its sequence number, every field, and the previous
row's hash, so an edited, inserted or deleted row breaks the chain and
:func:`verify` names the first row where it breaks. Appends are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock that
``BEGIN IMMEDIATE`` takes) and commit with the change they describe.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from archive.models import AuditEvent

if TYPE_CHECKING:
    from archive.policy import Actor

GENESIS = "0" * 64
_LOCK_KEY = 0x50484F544F  # "PHOTO": the advisory lock that serialises appends


class Action(enum.StrEnum):
    INGEST = "ingest"
    QUERY = "query"
    RETRIEVE = "retrieve"
    VIEW = "view"
    AVAILABILITY = "availability-change"
    ERASE = "erase"
    FIXITY = "fixity-check"
    AUDIT_VERIFY = "audit-verify"
    ASSOCIATION = "association"
    CONSENT = "consent"
    ADMIN = "admin"
    REVIEW = "governance-review"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    FAILURE = "failure"


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which objects, for what purpose, and how it went."""

    actor: str
    action: Action | str
    outcome: Outcome | str
    role: str = ""
    purpose: str = ""
    patient_id: str = ""
    object_uids: tuple[str, ...] = ()
    source: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def by(
        cls,
        requester: Actor,
        *,
        action: Action | str,
        outcome: Outcome | str,
        patient_id: str = "",
        object_uids: tuple[str, ...] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """What ``requester`` did: its actor, role, purpose and source, as every
        entry about a requester's own action records them."""
        return cls(
            actor=requester.actor,
            role=str(requester.role),
            purpose=requester.purpose_label,
            action=action,
            outcome=outcome,
            patient_id=patient_id,
            object_uids=object_uids,
            source=requester.source,
            detail={} if detail is None else detail,
        )


def _digest(prev_hash: str, seq: int, fields: Mapping[str, str]) -> str:
    payload = json.dumps(
        {"seq": seq, "prev": prev_hash, **fields}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _fields(row: AuditEvent) -> dict[str, str]:
    return {
        "occurred_at": row.occurred_at,
        "actor": row.actor,
        "role": row.role,
        "purpose": row.purpose,
        "action": row.action,
        "outcome": row.outcome,
        "patient_id": row.patient_id,
        "object_uids": row.object_uids,
        "source": row.source,
        "detail": row.detail,
    }


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def record(session: Session, entry: AuditEntry) -> AuditEvent:
    """Append one event in the caller's transaction."""
    return record_many(session, [entry])[-1]


def record_many(session: Session, entries: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Append events in order, in the caller's transaction."""
    _lock_chain(session)
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    rows: list[AuditEvent] = []
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for entry in entries:
        seq += 1
        row = AuditEvent(
            seq=seq,
            occurred_at=now,
            actor=entry.actor,
            role=entry.role,
            purpose=entry.purpose,
            action=str(entry.action),
            outcome=str(entry.outcome),
            patient_id=entry.patient_id,
            object_uids=json.dumps(list(entry.object_uids)),
            source=entry.source,
            detail=json.dumps(dict(entry.detail), sort_keys=True, default=str),
            prev_hash=prev,
            hash="",
        )
        row.hash = _digest(prev, seq, _fields(row))
        prev = row.hash
        rows.append(row)
    session.add_all(rows)
    session.flush()
    return rows


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`verify`."""

    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, max_problems: int = 50) -> ChainReport:
    """Recompute the chain from the first row and report every break."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    count = 0
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(2000)
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            problems.append(f"event {row.seq}: expected event {expected_seq} (rows missing)")
        if row.prev_hash != prev:
            problems.append(f"event {row.seq}: does not follow the previous event's hash")
        if _digest(row.prev_hash, row.seq, _fields(row)) != row.hash:
            problems.append(f"event {row.seq}: content does not match its hash (edited)")
        prev = row.hash
        expected_seq = row.seq + 1
        if len(problems) >= max_problems:
            break
    return ChainReport(events=count, problems=tuple(problems))
