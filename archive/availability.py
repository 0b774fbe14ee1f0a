"""Availability transitions at patient, study, series and instance level
(docs/architecture.md, section 3; rules R5-R7, R16).

A governance hold or quarantine stays until governance releases it, whatever
consent says; release hands the instance back to the consent rules and is
refused while its consent still forbids use (R5-R7).
``active`` <-> ``held`` <-> ``quarantined`` are reversible by governance;
``erased`` is final: the bytes are deleted, the index row stays as a
tombstone. Every transition is an audit event in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit, consent, governance
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import InvalidTransition, NotFound
from archive.keys import Level
from archive.models import Availability, Instance, Patient, Series, Study

log = logging.getLogger(__name__)

# Which states each target may be reached from.
ALLOWED_FROM: dict[Availability, frozenset[Availability]] = {
    Availability.ACTIVE: frozenset({Availability.HELD, Availability.QUARANTINED}),
    Availability.HELD: frozenset({Availability.ACTIVE, Availability.QUARANTINED}),
    Availability.QUARANTINED: frozenset({Availability.ACTIVE, Availability.HELD}),
    Availability.ERASED: frozenset(
        {Availability.ACTIVE, Availability.HELD, Availability.QUARANTINED}
    ),
}


@dataclass(frozen=True)
class Transition:
    """What a change did: the instances it moved, and the storage keys to erase."""

    target: Availability
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    erase_keys: tuple[str, ...]
    # Not released: their consent still forbids use (they stay as they were).
    held_by_consent: tuple[str, ...] = ()


def instances_at(session: Session, level: Level, uid: str) -> list[tuple[Instance, str]]:
    """Every instance under a patient (by PatientID), study, series or instance UID,
    with its patient's ID."""
    stmt = (
        select(Instance, Patient.patient_id)
        .join(Series, Instance.series_pk == Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .join(Patient, Study.patient_pk == Patient.pk)
    )
    column = {
        Level.PATIENT: Patient.patient_id,
        Level.STUDY: Study.study_instance_uid,
        Level.SERIES: Series.series_instance_uid,
        Level.IMAGE: Instance.sop_instance_uid,
    }[level]
    rows = session.execute(stmt.where(column == uid).order_by(Instance.pk).with_for_update())
    return [(row[0], row[1]) for row in rows]


def change(
    session: Session,
    *,
    level: Level,
    uid: str,
    target: Availability,
    reason: str,
    actor: str,
    role: str = "",
    purpose: str = "",
    source: str = "",
    reason_code: str = "",
) -> Transition:
    """Move everything at ``level``/``uid`` to ``target``, in the caller's transaction.

    Instances already in ``target`` are left as they are; an erased instance
    never comes back. Raises :class:`NotFound` when nothing is there and
    :class:`InvalidTransition` when nothing could be moved.
    """
    reason = reason.strip()
    if target in (Availability.QUARANTINED, Availability.ERASED, Availability.HELD) and not reason:
        raise InvalidTransition(f"a reason is required to make instances {target}")
    found = instances_at(session, level, uid)
    if not found:
        raise NotFound(f"no {level.name.lower()} {uid} in the archive")
    if target is Availability.ERASED:
        held = [i.sop_instance_uid for i, _ in found if i.legal_hold]
        if held:
            raise InvalidTransition(
                f"{len(held)} instance(s) are under a legal hold and may not be erased"
            )
    now = datetime.now(UTC)
    changed: list[str] = []
    unchanged: list[str] = []
    blocked: list[str] = []
    keys: list[str] = []
    patients: set[str] = set()
    allowed: set[str] = set()
    if target is Availability.ACTIVE:
        # Release hands instances back to the consent rules, and is refused for
        # those whose consent still forbids use (they stay as they are).
        allowed = {
            i.sop_instance_uid
            for i, _, d in consent.decisions(session, [i.sop_instance_uid for i, _ in found])
            if d.availability is Availability.ACTIVE
        }
    for instance, patient_id in found:
        patients.add(patient_id)
        if instance.availability is target or instance.availability not in ALLOWED_FROM[target]:
            unchanged.append(instance.sop_instance_uid)
            continue
        previous = instance.availability
        if target is Availability.ACTIVE:
            if instance.sop_instance_uid not in allowed:
                blocked.append(instance.sop_instance_uid)
                continue
            instance.availability_basis = "consent"
            changed.append(instance.sop_instance_uid)
            continue
        instance.availability_basis = "governance"
        instance.availability_reason_code = reason_code
        instance.availability = target
        instance.availability_reason = reason
        instance.availability_actor = actor[:128]
        instance.availability_changed_at = now
        changed.append(instance.sop_instance_uid)
        if target is Availability.ERASED:
            keys.append(instance.storage_key)
        log.info("%s: %s -> %s", instance.sop_instance_uid, previous, target)
    if target is Availability.ACTIVE:
        if blocked and not changed:
            raise InvalidTransition(
                f"consent does not allow use of {len(blocked)} instance(s): record consent "
                "before releasing them"
            )
        consent.reevaluate(session, changed, actor=actor, role=role, source=source)
    if target in (Availability.QUARANTINED, Availability.ERASED):
        governance.enqueue_propagation(session, changed, reason_code or "governance-review")
    erased_already = all(i.availability is Availability.ERASED for i, _ in found)
    if not changed and erased_already and target is not Availability.ERASED:
        raise InvalidTransition(f"{level.name.lower()} {uid} is erased; erasure is final")
    audit.record_many(
        session,
        [
            AuditEntry(
                actor=actor,
                role=role,
                purpose=purpose,
                action=Action.ERASE if target is Availability.ERASED else Action.AVAILABILITY,
                outcome=Outcome.SUCCESS,
                patient_id=patient_id,
                object_uids=tuple(changed),
                source=source,
                detail={
                    "level": level.name,
                    "uid": uid,
                    "to": str(target),
                    "reason": reason,
                    "reason_code": reason_code,
                    "unchanged": len(unchanged),
                    "held_by_consent": len(blocked),
                },
            )
            for patient_id in sorted(patients)
        ],
    )
    return Transition(
        target=target,
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        erase_keys=tuple(keys),
        held_by_consent=tuple(blocked),
    )


def set_legal_hold(
    session: Session,
    *,
    level: Level,
    uid: str,
    on: bool,
    reason: str,
    actor: str,
    role: str = "",
    source: str = "",
) -> int:
    """Place or lift a legal hold (erasure is refused while it is on). Audited."""
    if not reason.strip():
        raise InvalidTransition("a reason is required to change a legal hold")
    found = instances_at(session, level, uid)
    if not found:
        raise NotFound(f"no {level.name.lower()} {uid} in the archive")
    changed = [i for i, _ in found if i.legal_hold is not on]
    for instance in changed:
        instance.legal_hold = on
    audit.record_many(
        session,
        [
            AuditEntry(
                actor=actor,
                role=role,
                action=Action.AVAILABILITY,
                outcome=Outcome.SUCCESS,
                patient_id=patient_id,
                object_uids=tuple(i.sop_instance_uid for i in changed),
                source=source,
                detail={"legal_hold": on, "level": level.name, "uid": uid, "reason": reason},
            )
            for patient_id in sorted({p for _, p in found})
        ],
    )
    return len(changed)
