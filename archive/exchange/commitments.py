"""Storage-commitment results owed to cameras (PS3.4 J.3.3), kept in the index.

The gateway evaluates a commitment request, saves the result here before it
tries to send the N-EVENT-REPORT, and marks it delivered once the camera has
it. A report that could not be delivered (association closed, camera
switched off, server restarted) stays pending and is retried with backoff on
a new association to the camera's registered address, until it is delivered
or ``max_attempts`` is reached; every outcome is an audit event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.exchange import outbox
from archive.exchange.outbox import OPEN, ItemInfo, Retry, Status, item_fields
from archive.models import CommitmentReport


@dataclass(frozen=True)
class ReportInfo(ItemInfo):
    transaction_uid: str
    requester: str
    committed: tuple[tuple[str, str], ...]  # (SOP class, SOP instance)
    failed: tuple[tuple[str, str], ...]


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(c), str(i)) for c, i in json.loads(text))


def _info(row: CommitmentReport) -> ReportInfo:
    return ReportInfo(
        transaction_uid=row.transaction_uid,
        requester=row.requester,
        committed=_pairs(row.committed),
        failed=_pairs(row.failed),
        **item_fields(row),
    )


class CommitmentReports:
    """The durable queue of N-EVENT-REPORTs (``archive.exchange.commitments``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def save(
        self,
        transaction_uid: str,
        requesting_ae: str,
        *,
        committed: Sequence[tuple[str, str]],
        failed: Sequence[tuple[str, str]],
        retry_after: float,
    ) -> ReportInfo:
        """Keep a result until delivered; the retry loop takes it after ``retry_after`` s."""
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            row = CommitmentReport(
                transaction_uid=transaction_uid[:64],
                requester=requesting_ae[:16],
                committed=json.dumps([list(p) for p in committed]),
                failed=json.dumps([list(p) for p in failed]),
                **outbox.fresh(now, after=retry_after),
            )
            session.add(row)
            session.flush()
            return _info(row)

    def listing(self, *, statuses: Sequence[str] | None = OPEN) -> list[ReportInfo]:
        with self.sessions() as session:
            return [_info(r) for r in outbox.listing(session, CommitmentReport, statuses)]

    def due(self, *, limit: int = 100, now: datetime | None = None) -> list[ReportInfo]:
        """Pending reports whose next attempt is due."""
        now = now or datetime.now(UTC)
        with self.sessions() as session:
            return [_info(r) for r in outbox.due(session, CommitmentReport, now=now, limit=limit)]

    def mark(
        self,
        number: int,
        *,
        delivered: bool,
        error: str = "",
        max_attempts: int,
        backoff: float,
        how: str = "new association",
    ) -> ReportInfo:
        """Record one delivery attempt (audited)."""
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            row = outbox.attempt_on(
                session,
                CommitmentReport,
                number,
                what="commitment report",
                error=None if delivered else error,
                done=Status.DELIVERED,
                retry=Retry(max_attempts=max_attempts, backoff=backoff),
                now=now,
            )
            info = _info(row)
            audit.record(
                session,
                AuditEntry(
                    actor=row.requester,
                    role="modality",
                    action=Action.ASSOCIATION,
                    outcome=Outcome.SUCCESS if delivered else Outcome.FAILURE,
                    object_uids=tuple(i for _, i in (*info.committed, *info.failed))[:1000],
                    source=row.requester,
                    detail={
                        "service": "storage-commitment",
                        "transaction": row.transaction_uid,
                        "committed": len(info.committed),
                        "failed": len(info.failed),
                        "delivered": delivered,
                        "via": how,
                        "attempts": row.attempts,
                        "status": row.status,
                        "error": row.last_error[:500],
                    },
                ),
            )
            return info
