"""Auto-forwarding: rules that send every new object from a given node (or from
anyone) on to a registered ``peer`` or ``epr`` node, with retry.

* A rule names a source AE title (the calling AE of the C-STORE, stored as
  ``Instance.received_from``; ``*`` for any source), optionally one SOP
  class, and a destination node of role ``peer`` or ``epr``.
* :func:`queue_for` is called by ingest inside the ingest transaction: the
  job commits with the object or not at all, so a crash loses nothing.
  An object is never forwarded back to the node it came from.
* The gateway's worker asks :meth:`ForwardQueue.due` for what to send. The
  access policy decides at send time, through :func:`archive.policy.visible`
  for a care requester (:data:`FORWARDER`, role ``epr``: a machine that
  receives recordings for care, the same decision a C-MOVE by an EPR
  gets): only active instances whose consent permits care leave. Held
  instances (no consent yet, child or intimate without what they need,
  consent not covering care) wait, queued and not counted as attempts,
  until consent makes them visible; quarantined, erased or vanished
  instances are dropped, with the reason recorded and audited.
* Each instance handed to the sender is recorded as a delivery first (as
  C-MOVE does), so a later quarantine owes that node a rejection note.
* Failed sends are retried with exponential backoff (``backoff * 2**(n-1)``
  seconds, at most an hour) until ``max_attempts``, then marked failed.
  Every outcome is an audit event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.db import aware
from archive.dicomfile import valid_uid
from archive.errors import InvalidArgument, NotFound
from archive.exchange import outbox, propagation
from archive.exchange.nodes import NodeInfo, node_info, valid_ae_title
from archive.exchange.outbox import OPEN, ItemInfo, Retry, Status, item_fields
from archive.hierarchy import instance_join
from archive.models import (
    Availability,
    ForwardJob,
    ForwardRule,
    Instance,
    Node,
    Patient,
)
from archive.policy import Actor, Purpose, Role, may_receive, visible
from archive.retrieve import Located
from archive.store import BlobStore

ANY_SOURCE = "*"
# Forwarding discloses recordings to a machine for care: decided as an EPR's care read.
FORWARDER = Actor(actor="forwarder", role=Role.EPR, purpose=Purpose.CARE)
STATUSES = (Status.PENDING, Status.SENT, Status.FAILED, Status.DROPPED)


@dataclass(frozen=True)
class RuleInfo:
    number: int
    source_ae: str
    sop_class_uid: str
    destination: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class JobInfo(ItemInfo):
    rule: int | None
    sop_instance_uid: str
    destination: str


@dataclass(frozen=True)
class Batch:
    """What to send to one destination in one association: (job number, instance)."""

    destination: NodeInfo
    items: tuple[tuple[int, Located], ...]


def _rule(row: ForwardRule) -> RuleInfo:
    return RuleInfo(
        number=row.pk,
        source_ae=row.source_ae,
        sop_class_uid=row.sop_class_uid,
        destination=row.destination,
        created_by=row.created_by,
        created_at=aware(row.created_at),
    )


def _job(row: ForwardJob) -> JobInfo:
    return JobInfo(
        rule=row.rule_pk,
        sop_instance_uid=row.sop_instance_uid,
        destination=row.destination,
        **item_fields(row),
    )


def valid_sop_class(uid: str) -> str:
    value = uid.strip()
    if value and not valid_uid(value):
        raise InvalidArgument(f"SOP class {uid!r} is not a UID (digits and dots, at most 64)")
    return value


def queue_for(session: Session, instance: Instance) -> int:
    """Ingest hook, in the ingest transaction: queue one job per destination of
    every rule matching this new instance. Returns how many were queued."""
    source = instance.received_from
    rules = session.execute(
        select(ForwardRule.pk, ForwardRule.destination)
        .where(
            ForwardRule.source_ae.in_([ANY_SOURCE, source] if source else [ANY_SOURCE]),
            ForwardRule.sop_class_uid.in_(["", instance.sop_class_uid]),
        )
        .order_by(ForwardRule.pk)
    ).all()
    if not rules:
        return 0
    now = datetime.now(UTC)
    destinations: dict[str, int] = {}
    for pk, destination in rules:
        if destination != source:  # never back to where it came from
            destinations.setdefault(destination, pk)
    session.add_all(
        ForwardJob(
            rule_pk=pk,
            sop_instance_uid=instance.sop_instance_uid,
            destination=destination,
            **outbox.fresh(now),
        )
        for destination, pk in destinations.items()
    )
    return len(destinations)


class ForwardQueue:
    """Rules and the job queue (``archive.exchange.forwarding``)."""

    def __init__(self, sessions: sessionmaker[Session], store: BlobStore) -> None:
        self.sessions = sessions
        self.store = store

    # --- rules --------------------------------------------------------------
    def add_rule(
        self, source_ae: str, destination: str, *, sop_class_uid: str = "", requester: Actor
    ) -> RuleInfo:
        """Forward what arrives from ``source_ae`` (``*``: anyone) to ``destination``."""
        source = source_ae.strip()
        if source != ANY_SOURCE:
            source = valid_ae_title(source_ae)
        target = valid_ae_title(destination)
        sop_class = valid_sop_class(sop_class_uid)
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            node = session.scalar(select(Node).where(Node.ae_title == target))
            if node is None:
                raise NotFound(f"no registered node {target}: add it with `photopacs node add`")
            if not may_receive(node.role, review=False):
                raise InvalidArgument(
                    f"{target} is a {node.role} node: forwarding goes to peer or epr nodes only"
                )
            if source == target:
                raise InvalidArgument("a rule may not forward a node's objects back to it")
            row = ForwardRule(
                source_ae=source,
                sop_class_uid=sop_class,
                destination=target,
                created_by=requester.actor[:128],
                created_at=now,
            )
            session.add(row)
            session.flush()
            self._audit_admin(session, requester, "forward-rule-add", _rule(row))
            return _rule(row)

    def remove_rule(self, number: int, *, requester: Actor) -> RuleInfo:
        """Stop a rule; jobs it already queued are still delivered."""
        with self.sessions() as session, session.begin():
            row = session.get(ForwardRule, number)
            if row is None:
                raise NotFound(f"no forwarding rule {number}")
            info = _rule(row)
            session.delete(row)
            self._audit_admin(session, requester, "forward-rule-remove", info)
            return info

    def rules(self) -> list[RuleInfo]:
        with self.sessions() as session:
            return [_rule(r) for r in session.scalars(select(ForwardRule).order_by(ForwardRule.pk))]

    @staticmethod
    def _audit_admin(session: Session, requester: Actor, operation: str, rule: RuleInfo) -> None:
        audit.record(
            session,
            AuditEntry(
                actor=requester.actor,
                role=str(requester.role),
                source=requester.source,
                action=Action.ADMIN,
                outcome=Outcome.SUCCESS,
                detail={
                    "operation": operation,
                    "rule": rule.number,
                    "from": rule.source_ae,
                    "to": rule.destination,
                    "sop_class_uid": rule.sop_class_uid,
                },
            ),
        )

    # --- the queue ----------------------------------------------------------
    def jobs(self, *, statuses: Sequence[str] | None = OPEN) -> list[JobInfo]:
        """Jobs with one of ``statuses`` (None: all), oldest first."""
        with self.sessions() as session:
            return [_job(j) for j in outbox.listing(session, ForwardJob, statuses)]

    def due(self, *, limit: int = 500, now: datetime | None = None) -> list[Batch]:
        """Decide, under the access policy, what to send now; one batch per destination.

        Waiting (held) jobs stay pending; dropped ones are recorded and audited;
        what is handed out is recorded as delivered to its destination."""
        now = now or datetime.now(UTC)
        with self.sessions() as session, session.begin():
            jobs = outbox.due(session, ForwardJob, now=now, limit=limit)
            if not jobs:
                return []
            uids = list({j.sop_instance_uid for j in jobs})
            instances, sendable = self._instances(session, uids)
            nodes = {
                n.ae_title: n
                for n in session.scalars(
                    select(Node).where(Node.ae_title.in_({j.destination for j in jobs}))
                )
            }
            patients = self._patients(session, uids)
            grouped: dict[str, list[tuple[int, Located]]] = defaultdict(list)
            dropped: list[tuple[ForwardJob, str]] = []
            for job in jobs:
                node = nodes.get(job.destination)
                instance = instances.get(job.sop_instance_uid)
                if node is None or not may_receive(node.role, review=False):
                    gone = f"{job.destination} is no longer a registered peer or epr node"
                    dropped.append((job, outbox.give_up(job, Status.FAILED, gone, now=now)))
                elif instance is None:
                    dropped.append((job, self._drop(job, "no longer in the archive", now)))
                elif instance.availability in (Availability.QUARANTINED, Availability.ERASED):
                    why = instance.availability_reason_code or instance.availability_reason
                    dropped.append(
                        (job, self._drop(job, f"{instance.availability}: {why}".strip(), now))
                    )
                elif instance.sop_instance_uid not in sendable:
                    reason = (
                        f"waiting: held ({instance.availability_reason})"
                        if instance.availability is Availability.HELD
                        else "waiting: consent does not permit care use"
                    )
                    outbox.postpone(job, reason, now=now)
                else:
                    patient_id = patients.get(instance.sop_instance_uid, "")
                    grouped[job.destination].append((job.pk, self._located(instance, patient_id)))
            for destination, items in grouped.items():
                propagation.record_delivery(
                    session, destination, [loc.sop_instance_uid for _, loc in items]
                )
            if dropped:
                self._audit_dropped(session, dropped, patients)
            return [
                Batch(destination=node_info(nodes[d]), items=tuple(items))
                for d, items in sorted(grouped.items())
            ]

    @staticmethod
    def _instances(session: Session, uids: list[str]) -> tuple[dict[str, Instance], set[str]]:
        """The instances of due jobs by UID, and which of them the forwarder may send."""
        instances = {
            i.sop_instance_uid: i
            for i in session.scalars(select(Instance).where(Instance.sop_instance_uid.in_(uids)))
        }
        sendable = set(
            session.scalars(
                select(Instance.sop_instance_uid).where(
                    Instance.sop_instance_uid.in_(uids), visible(FORWARDER)
                )
            )
        )
        return instances, sendable

    def _located(self, instance: Instance, patient_id: str) -> Located:
        return Located(
            sop_class_uid=instance.sop_class_uid,
            sop_instance_uid=instance.sop_instance_uid,
            transfer_syntax_uid=instance.transfer_syntax_uid,
            patient_id=patient_id,
            study_instance_uid="",
            size=instance.size_bytes,
            path=self.store.path_for(instance.storage_key),
        )

    @staticmethod
    def _audit_dropped(
        session: Session, dropped: list[tuple[ForwardJob, str]], patients: dict[str, str]
    ) -> None:
        """One refused retrieve per dropped job, as the forwarder."""
        audit.record_many(
            session,
            [
                AuditEntry(
                    actor=FORWARDER.actor,
                    role=str(FORWARDER.role),
                    purpose=FORWARDER.purpose_label,
                    action=Action.RETRIEVE,
                    outcome=Outcome.REFUSED,
                    patient_id=patients.get(job.sop_instance_uid, ""),
                    object_uids=(job.sop_instance_uid,),
                    source=job.destination,
                    detail={
                        "service": "forward",
                        "job": job.pk,
                        "status": job.status,
                        "reason": reason,
                    },
                )
                for job, reason in dropped
            ],
        )

    @staticmethod
    def _drop(job: ForwardJob, reason: str, now: datetime) -> str:
        return outbox.give_up(job, Status.DROPPED, f"dropped: {reason}", now=now)

    @staticmethod
    def _patients(session: Session, uids: Sequence[str]) -> dict[str, str]:
        return {
            uid: pid
            for uid, pid in session.execute(
                instance_join(select(Instance.sop_instance_uid, Patient.patient_id)).where(
                    Instance.sop_instance_uid.in_(list(uids))
                )
            )
        }

    def mark(
        self,
        destination: str,
        *,
        sent: Sequence[int],
        failed: Mapping[int, str],
        max_attempts: int,
        backoff: float,
        now: datetime | None = None,
    ) -> None:
        """Record one round's send attempt to ``destination``: ``sent`` job numbers are
        done; ``failed`` ones (number -> error) retry later, or fail at ``max_attempts``."""
        now = now or datetime.now(UTC)
        retry = Retry(max_attempts=max_attempts, backoff=backoff)
        numbers = [*sent, *failed]
        if not numbers:
            return
        with self.sessions() as session, session.begin():
            rows = {
                j.pk: j
                for j in session.scalars(
                    select(ForwardJob).where(
                        ForwardJob.pk.in_(numbers), ForwardJob.destination == destination
                    )
                )
            }
            patients = self._patients(session, [j.sop_instance_uid for j in rows.values()])
            groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
            for number in numbers:
                job = rows.get(number)
                if job is None:
                    continue
                why = failed.get(number)
                outbox.attempt(job, error=why, done=Status.SENT, retry=retry, now=now)
                outcome = str(Outcome.SUCCESS if why is None else Outcome.FAILURE)
                pid = patients.get(job.sop_instance_uid, "")
                key = (outcome, pid, job.status, job.last_error[:500])
                groups[key].append(job.sop_instance_uid)
            audit.record_many(
                session,
                [
                    AuditEntry(
                        actor=FORWARDER.actor,
                        role=str(FORWARDER.role),
                        purpose=FORWARDER.purpose_label,
                        action=Action.RETRIEVE,
                        outcome=outcome,
                        patient_id=pid,
                        object_uids=tuple(uids[:1000]),
                        source=destination,
                        detail={
                            "service": "forward",
                            "destination": destination,
                            "status": status,
                            "instances": len(uids),
                            "error": error,
                        },
                    )
                    for (outcome, pid, status, error), uids in sorted(groups.items())
                ],
            )

    def retry(self, number: int | None = None, *, requester: Actor) -> int:
        """Put failed jobs (one, or all) back in the queue with a fresh attempt count."""
        now = datetime.now(UTC)
        with self.sessions() as session, session.begin():
            which = () if number is None else (ForwardJob.pk == number,)
            rows = outbox.listing(session, ForwardJob, (Status.FAILED,), *which)
            if number is not None and not rows:
                raise NotFound(f"no failed forwarding job {number}")
            outbox.requeue(rows, now=now)
            if rows:
                audit.record(
                    session,
                    AuditEntry(
                        actor=requester.actor,
                        role=str(requester.role),
                        source=requester.source,
                        action=Action.ADMIN,
                        outcome=Outcome.SUCCESS,
                        object_uids=tuple(j.sop_instance_uid for j in rows[:1000]),
                        detail={"operation": "forward-retry", "jobs": len(rows)},
                    ),
                )
            return len(rows)
