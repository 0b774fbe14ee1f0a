"""Governance beyond plain transitions: IOCM rejection notes received, legal
holds, and propagation of quarantines to peers that hold copies."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive import audit, consent, policy
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import NotAuthorised
from archive.iocm import Rejection, title_for
from archive.models import (
    Availability,
    Delivery,
    Instance,
    PendingRejection,
    Propagation,
    Series,
    Study,
)

MAY_REJECT = frozenset(str(role) for role in policy.MAY_REJECT)  # role strings of an Origin


@dataclass(frozen=True)
class PropagationInfo:
    """A rejection note owed to a node that holds copies of quarantined instances."""

    pk: int
    destination: str
    title_code: str  # 113001 / 113037 / 113038 / 113039
    sop_instance_uids: str  # JSON list
    status: str  # pending, sent, failed
    attempts: int
    last_error: str
    note_uid: str
    created_at: datetime
    updated_at: datetime


def propagations(session: Session, *, status: str | None) -> list[PropagationInfo]:
    """Rejection notes owed to peers, oldest first (``status`` None: all)."""
    stmt = select(Propagation).order_by(Propagation.pk)
    if status is not None:
        stmt = stmt.where(Propagation.status == status)
    return [
        PropagationInfo(
            pk=p.pk,
            destination=p.destination,
            title_code=p.title_code,
            sop_instance_uids=p.sop_instance_uids,
            status=p.status,
            attempts=p.attempts,
            last_error=p.last_error,
            note_uid=p.note_uid,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )
        for p in session.scalars(stmt)
    ]


def _quarantine(
    session: Session, instance: Instance, *, reason_code: str, reason: str, actor: str
) -> bool:
    """Governance's quarantine, as its own layer (whatever consent says now)."""
    if instance.availability is Availability.ERASED or instance.governance_hold == str(
        Availability.QUARANTINED
    ):
        return False
    instance.governance_hold = str(Availability.QUARANTINED)
    instance.governance_reason = reason
    instance.governance_reason_code = reason_code
    for found, _, decision in consent.decisions(session, [instance.sop_instance_uid]):
        consent.settle(found, decision, actor=actor)
    return True


def apply_rejection(
    session: Session,
    rejection: Rejection,
    *,
    actor: str,
    role: str,
    source: str = "",
) -> list[str]:
    """Quarantine (or, for a revocation, release) what a note references, in the
    caller's transaction. Instances not yet here are remembered and handled on
    arrival. Returns the SOP Instance UIDs changed now."""
    if role not in MAY_REJECT:
        raise NotAuthorised(f"{actor} ({role or 'no role'}) may not send rejection notes")
    uids = [r.sop_instance_uid for r in rejection.references]
    present = {
        i.sop_instance_uid: i
        for i in session.scalars(select(Instance).where(Instance.sop_instance_uid.in_(uids)))
    }
    changed: list[str] = []
    if rejection.revoke:
        session.execute(delete(PendingRejection).where(PendingRejection.sop_instance_uid.in_(uids)))
        released = [
            i.sop_instance_uid
            for i in present.values()
            if i.governance_hold == str(Availability.QUARANTINED)
        ]
        for uid in released:
            present[uid].governance_hold = ""
            present[uid].governance_reason = ""
            present[uid].governance_reason_code = ""
        session.flush()
        consent.reevaluate(session, released, actor=actor, role=role, source=source)
        changed = released
    else:
        reason = f"IOCM rejection note {rejection.note_uid}"
        now = datetime.now(UTC)
        for uid in uids:
            instance = present.get(uid)
            if instance is None:
                session.add(
                    PendingRejection(
                        sop_instance_uid=uid,
                        note_uid=rejection.note_uid,
                        reason_code=rejection.reason_code,
                        received_at=now,
                    )
                )
            elif _quarantine(
                session, instance, reason_code=rejection.reason_code, reason=reason, actor=actor
            ):
                changed.append(uid)
        enqueue_propagation(session, changed, rejection.reason_code)
    audit.record(
        session,
        AuditEntry(
            actor=actor,
            role=role,
            action=Action.AVAILABILITY,
            outcome=Outcome.SUCCESS,
            object_uids=tuple(changed),
            source=source,
            detail={
                "iocm": "revoke" if rejection.revoke else "reject",
                "title": rejection.title,
                "note": rejection.note_uid,
                "referenced": len(uids),
                "pending": len(uids) - len(present),
            },
        ),
    )
    session.flush()
    return changed


def apply_pending(session: Session, instance: Instance, *, actor: str) -> bool:
    """On arrival: a rejection note that came first quarantines the instance."""
    pending = session.scalar(
        select(PendingRejection).where(
            PendingRejection.sop_instance_uid == instance.sop_instance_uid
        )
    )
    if pending is None:
        return False
    return _quarantine(
        session,
        instance,
        reason_code=pending.reason_code,
        reason=f"IOCM rejection note {pending.note_uid} (received before the instance)",
        actor=actor,
    )


def record_delivery(session: Session, destination: str, uids: Sequence[str]) -> None:
    """Remember that these instances now exist at ``destination``."""
    known = set(
        session.scalars(
            select(Delivery.sop_instance_uid).where(
                Delivery.destination == destination, Delivery.sop_instance_uid.in_(list(uids))
            )
        )
    )
    now = datetime.now(UTC)
    session.add_all(
        Delivery(sop_instance_uid=u, destination=destination, sent_at=now)
        for u in dict.fromkeys(uids)
        if u not in known
    )


def enqueue_propagation(session: Session, uids: Sequence[str], reason_code: str) -> int:
    """Owe every node that received any of ``uids`` a rejection note, one per study."""
    if not uids:
        return 0
    rows = session.execute(
        select(Delivery.destination, Study.study_instance_uid, Instance.sop_instance_uid)
        .join(Instance, Instance.sop_instance_uid == Delivery.sop_instance_uid)
        .join(Series, Instance.series_pk == Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .where(Delivery.sop_instance_uid.in_(list(uids)))
    ).all()
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for destination, study_uid, uid in rows:
        grouped[(destination, study_uid)].append(uid)
    now = datetime.now(UTC)
    for (destination, _study), group in sorted(grouped.items()):
        session.add(
            Propagation(
                destination=destination,
                title_code=title_for(reason_code),
                sop_instance_uids=json.dumps(sorted(group)),
                status="pending",
                created_at=now,
                updated_at=now,
            )
        )
    return len(grouped)
