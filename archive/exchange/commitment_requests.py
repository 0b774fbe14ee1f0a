"""Storage-commitment requests photopacs sends (PS3.4 J.3, photopacs the SCU),
kept in the index with the result their N-EVENT-REPORT brings.

``photopacs send --commit`` records the transaction here *before* it sends the
N-ACTION, so a report can be matched whichever way it arrives: on the same
association (the sender writes it), or on a new association the destination
opens to our AE title (``photopacs serve``, or ``send`` itself listening on
the archive's DICOM port, writes it). The sender watches the record until
its timeout and then marks it timed out; a report that comes later still
lands (the record says when and how).

A report is accepted only for a transaction we recorded and only from the
node that transaction was sent to; anything else is refused (the caller
answers with a DIMSE failure). Recording a request, every report (accepted
or refused) and every timeout are audit events.

Statuses: ``pending`` (waiting for the report), ``committed`` (every instance
committed), ``partly-failed`` (the report names at least one failure, or
leaves a requested instance out), ``timed-out`` (no report before the
sender's timeout), ``refused`` (the destination refused the N-ACTION).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.db import aware
from archive.dicomfile import valid_uid
from archive.errors import AlreadyExists, InvalidArgument, NotAuthorised, NotFound
from archive.exchange.nodes import valid_ae_title
from archive.models import CommitmentRequest, CommitmentRequestInstance
from archive.policy import Actor

PENDING, COMMITTED, PARTLY_FAILED = "pending", "committed", "partly-failed"
TIMED_OUT, REFUSED = "timed-out", "refused"
STATUSES = (PENDING, COMMITTED, PARTLY_FAILED, TIMED_OUT, REFUSED)
# What `photopacs commitment sent` shows unless --all: everything not (yet) committed.
UNSETTLED = (PENDING, PARTLY_FAILED, TIMED_OUT, REFUSED)
REPORTED = frozenset({COMMITTED, PARTLY_FAILED})
SERVICE = "storage-commitment-request"  # audit detail "service" of this module's events


@dataclass(frozen=True)
class InstanceResult:
    sop_class_uid: str
    sop_instance_uid: str
    result: str  # pending / committed / failed
    failure_reason: int | None  # PS3.3 C.14.1.1; None when the report gave none


@dataclass(frozen=True)
class CommitmentRequestInfo:
    number: int
    transaction_uid: str
    destination: str
    calling_aet: str
    requested_by: str
    status: str
    instances: tuple[InstanceResult, ...]
    reported_by: str
    via: str
    detail: str
    created_at: datetime
    updated_at: datetime
    reported_at: datetime | None

    @property
    def reported(self) -> bool:
        """A report arrived (whatever it said)."""
        return self.status in REPORTED

    @property
    def committed(self) -> list[str]:
        return [i.sop_instance_uid for i in self.instances if i.result == "committed"]

    @property
    def not_committed(self) -> list[InstanceResult]:
        return [i for i in self.instances if i.result != "committed"]


def _info(
    row: CommitmentRequest, items: Sequence[CommitmentRequestInstance]
) -> CommitmentRequestInfo:
    return CommitmentRequestInfo(
        number=row.pk,
        transaction_uid=row.transaction_uid,
        destination=row.destination,
        calling_aet=row.calling_aet,
        requested_by=row.requested_by,
        status=row.status,
        instances=tuple(
            InstanceResult(i.sop_class_uid, i.sop_instance_uid, i.result, i.failure_reason)
            for i in sorted(items, key=lambda i: i.pk)
        ),
        reported_by=row.reported_by,
        via=row.via,
        detail=row.detail,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        reported_at=aware(row.reported_at) if row.reported_at else None,
    )


def _row(session: Session, transaction_uid: str, *, lock: bool = False) -> CommitmentRequest | None:
    stmt = select(CommitmentRequest).where(CommitmentRequest.transaction_uid == transaction_uid)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def _items(session: Session, row: CommitmentRequest) -> list[CommitmentRequestInstance]:
    return list(
        session.scalars(
            select(CommitmentRequestInstance).where(CommitmentRequestInstance.request_pk == row.pk)
        )
    )


def _refs(refs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Valid (SOP class, SOP instance) pairs, each instance once, in order."""
    seen: dict[str, str] = {}
    for sop_class, sop_instance in refs:
        if not valid_uid(sop_class) or not valid_uid(sop_instance):
            raise InvalidArgument(f"not a pair of UIDs: {sop_class!r}, {sop_instance!r}")
        seen.setdefault(sop_instance, sop_class)
    return [(c, i) for i, c in seen.items()]


class CommitmentRequests:
    """Outgoing storage-commitment transactions (``archive.exchange.commitment_requests``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(
        self,
        transaction_uid: str,
        destination: str,
        refs: Sequence[tuple[str, str]],
        *,
        calling_aet: str,
        requester: Actor,
    ) -> CommitmentRequestInfo:
        """Record a request about to be sent (audited); status ``pending``."""
        if not valid_uid(transaction_uid):
            raise InvalidArgument(f"Transaction UID {transaction_uid!r} is not a UID")
        destination = valid_ae_title(destination)
        calling_aet = valid_ae_title(calling_aet)
        pairs = _refs(refs)
        if not pairs:
            raise InvalidArgument("a storage-commitment request names at least one instance")
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            if session.scalar(
                select(CommitmentRequest.pk).where(
                    CommitmentRequest.transaction_uid == transaction_uid
                )
            ):
                raise AlreadyExists(f"transaction {transaction_uid} is already recorded")
            row = CommitmentRequest(
                transaction_uid=transaction_uid,
                destination=destination,
                calling_aet=calling_aet,
                requested_by=requester.actor[:128],
                status=PENDING,
                reported_by="",
                via="",
                detail="",
                created_at=now,
                updated_at=now,
                reported_at=None,
            )
            session.add(row)
            session.flush()
            items = [
                CommitmentRequestInstance(
                    request_pk=row.pk,
                    sop_class_uid=c,
                    sop_instance_uid=i,
                    result="pending",
                    failure_reason=None,
                )
                for c, i in pairs
            ]
            session.add_all(items)
            session.flush()
            audit.record(
                session,
                AuditEntry(
                    actor=requester.actor,
                    role=str(requester.role),
                    action=Action.ASSOCIATION,
                    outcome=Outcome.SUCCESS,
                    object_uids=tuple(i for _, i in pairs)[:1000],
                    source=requester.source,
                    detail={
                        "service": SERVICE,
                        "event": "requested",
                        "transaction": transaction_uid,
                        "destination": destination,
                        "calling_aet": calling_aet,
                        "instances": len(pairs),
                    },
                ),
            )
            return _info(row, items)

    def get(self, transaction_uid: str) -> CommitmentRequestInfo | None:
        with self.sessions() as session:
            row = _row(session, transaction_uid)
            return _info(row, _items(session, row)) if row else None

    def listing(self, *, statuses: Sequence[str] | None = UNSETTLED) -> list[CommitmentRequestInfo]:
        with self.sessions() as session:
            stmt = select(CommitmentRequest).order_by(CommitmentRequest.pk)
            if statuses is not None:
                stmt = stmt.where(CommitmentRequest.status.in_(list(statuses)))
            rows = list(session.scalars(stmt))
            items: dict[int, list[CommitmentRequestInstance]] = {r.pk: [] for r in rows}
            if rows:
                for item in session.scalars(
                    select(CommitmentRequestInstance).where(
                        CommitmentRequestInstance.request_pk.in_(list(items))
                    )
                ):
                    items[item.request_pk].append(item)
            return [_info(r, items[r.pk]) for r in rows]

    def report(
        self,
        transaction_uid: str,
        reporter: Actor,
        *,
        committed: Sequence[tuple[str, str]],
        failed: Sequence[tuple[str, str, int | None]],
        via: str,
    ) -> CommitmentRequestInfo:
        """Apply an N-EVENT-REPORT (PS3.4 J.3.3) from the node ``reporter`` (audited).

        Raises :class:`NotFound` for a transaction we never recorded and
        :class:`NotAuthorised` when ``reporter`` is not the node it was sent
        to; both refusals are audited before the error is raised. A report
        for a timed-out transaction is applied (marked late in the audit)."""
        now = datetime.now(UTC)
        refusal: tuple[Exception, dict[str, Any]] | None = None
        with self.sessions() as session, session.begin():
            row = _row(session, transaction_uid, lock=True)
            if row is None:
                refusal = (
                    NotFound(f"no storage-commitment transaction {transaction_uid}"),
                    {"reason": "unknown transaction"},
                )
            elif row.destination != reporter.actor:
                refusal = (
                    NotAuthorised(f"{reporter.actor} is not the destination of {transaction_uid}"),
                    {"reason": "not the destination of the transaction"},
                )
            else:
                items = _items(session, row)
                info, detail = self._apply(row, items, reporter.actor, committed, failed, via, now)
                audit.record(
                    session,
                    AuditEntry(
                        actor=reporter.actor,
                        role=str(reporter.role),
                        action=Action.ASSOCIATION,
                        outcome=Outcome.SUCCESS if info.status == COMMITTED else Outcome.FAILURE,
                        object_uids=tuple(i.sop_instance_uid for i in info.instances)[:1000],
                        source=reporter.source,
                        detail=detail,
                    ),
                )
                return info
        error, why = refusal
        self._audit_refusal(transaction_uid, reporter, via=via, **why)
        raise error

    @staticmethod
    def _apply(
        row: CommitmentRequest,
        items: list[CommitmentRequestInstance],
        reporter: str,
        committed: Sequence[tuple[str, str]],
        failed: Sequence[tuple[str, str, int | None]],
        via: str,
        now: datetime,
    ) -> tuple[CommitmentRequestInfo, dict[str, Any]]:
        ok = {i for _, i in committed}
        reasons = {i: reason for _, i, reason in failed}
        requested = {item.sop_instance_uid for item in items}
        for item in items:
            uid = item.sop_instance_uid
            if uid in reasons:  # named as failed: failed, even if also named as committed
                item.result, item.failure_reason = "failed", reasons[uid]
            elif uid in ok:
                item.result, item.failure_reason = "committed", None
            else:  # left out of the report: not committed, no reason given
                item.result, item.failure_reason = "failed", None
        late = row.status == TIMED_OUT
        row.status = COMMITTED if all(i.result == "committed" for i in items) else PARTLY_FAILED
        row.reported_by = reporter
        row.via = via[:32]
        row.reported_at = now
        row.updated_at = now
        if late:
            row.detail = f"report arrived after the sender stopped waiting ({row.detail})"[:2000]
        info = _info(row, items)
        detail: dict[str, Any] = {
            "service": SERVICE,
            "event": "report",
            "transaction": row.transaction_uid,
            "destination": row.destination,
            "status": row.status,
            "committed": len(info.committed),
            "failed": len(info.not_committed),
            "left_out": len(requested - ok - set(reasons)),
            "unrequested": len((ok | set(reasons)) - requested),
            "via": via,
            "late": late,
        }
        return info, detail

    def _audit_refusal(
        self, transaction_uid: str, reporter: Actor, *, via: str, reason: str
    ) -> None:
        with self.sessions() as session, session.begin():
            audit.record(
                session,
                AuditEntry(
                    actor=reporter.actor,
                    role=str(reporter.role),
                    action=Action.ASSOCIATION,
                    outcome=Outcome.REFUSED,
                    source=reporter.source,
                    detail={
                        "service": SERVICE,
                        "event": "report",
                        "transaction": transaction_uid[:64],
                        "reason": reason,
                        "via": via,
                    },
                ),
            )

    def give_up(
        self, transaction_uid: str, *, status: str, detail: str, requester: Actor
    ) -> CommitmentRequestInfo:
        """Mark a still-pending transaction ``timed-out`` or ``refused`` (audited).
        A report that already arrived wins: the record is returned unchanged."""
        if status not in (TIMED_OUT, REFUSED):
            raise InvalidArgument(f"cannot give up a transaction as {status!r}")
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            result = session.execute(
                update(CommitmentRequest)
                .where(
                    CommitmentRequest.transaction_uid == transaction_uid,
                    CommitmentRequest.status == PENDING,
                )
                .values(status=status, detail=detail[:2000], updated_at=now)
            )
            changed = isinstance(result, CursorResult) and result.rowcount > 0
            row = _row(session, transaction_uid)
            if row is None:
                raise NotFound(f"no storage-commitment transaction {transaction_uid}")
            info = _info(row, _items(session, row))
            if changed:
                audit.record(
                    session,
                    AuditEntry(
                        actor=requester.actor,
                        role=str(requester.role),
                        action=Action.ASSOCIATION,
                        outcome=Outcome.FAILURE,
                        object_uids=tuple(i.sop_instance_uid for i in info.instances)[:1000],
                        source=requester.source,
                        detail={
                            "service": SERVICE,
                            "event": status,
                            "transaction": transaction_uid,
                            "destination": row.destination,
                            "reason": detail[:500],
                        },
                    ),
                )
            return info
