"""Governance beyond plain transitions: IOCM rejection notes received, which
quarantine (or release) what they reference. A quarantine is owed to peers that
hold copies through :mod:`archive.exchange.propagation`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive import audit, consent, policy
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import NotAuthorised
from archive.exchange.propagation import enqueue_propagation
from archive.iocm import Rejection
from archive.models import Availability, Instance, PendingRejection

MAY_REJECT = frozenset(str(role) for role in policy.MAY_REJECT)  # role strings of an Origin


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
