"""Availability transitions at patient, study, series and instance level
(docs/architecture.md, section 3; rules R5-R7, R16).

A governance hold or quarantine is a layer of its own (``Instance.governance_hold``):
it is recorded whatever consent makes of the instance when it is placed, consent
never lifts it, and the availability is the stricter of the two
(:func:`archive.consent.settle`). Release lifts the layer and hands the instance
back to the consent rules; it is refused while its consent still forbids use (R5-R7).
``active`` <-> ``held`` <-> ``quarantined`` are reversible by governance;
``erased`` is final: the bytes are deleted, the index row stays as a
tombstone. Every transition is an audit event in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from archive import audit, consent
from archive.audit import Action, AuditEntry, Outcome
from archive.consent import ALLOWED_FROM, Decision
from archive.errors import InvalidTransition, NotFound
from archive.exchange import propagation
from archive.hierarchy import instance_join
from archive.keys import Level
from archive.models import Availability, Instance, Patient, Series, Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    """What a change did: the instances it moved, and the storage keys to erase."""

    target: Availability
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    erase_keys: tuple[str, ...]
    # Not released: their consent still forbids use (they stay as they were).
    held_by_consent: tuple[str, ...] = ()


LEVEL_KEY = {
    Level.PATIENT: Patient.patient_id,
    Level.STUDY: Study.study_instance_uid,
    Level.SERIES: Series.series_instance_uid,
    Level.IMAGE: Instance.sop_instance_uid,
}


def select_at(level: Level, uid: str, *columns: Any) -> Select[Any]:
    """``columns`` of every instance under a patient (by PatientID), study, series or
    instance UID."""
    return instance_join(select(*columns).select_from(Instance)).where(LEVEL_KEY[level] == uid)


def instances_at(session: Session, level: Level, uid: str) -> list[tuple[Instance, str]]:
    """Every instance under a patient (by PatientID), study, series or instance UID,
    with its patient's ID."""
    stmt = select_at(level, uid, Instance, Patient.patient_id)
    rows = session.execute(stmt.order_by(Instance.pk).with_for_update())
    return [(row[0], row[1]) for row in rows]


def with_derived(session: Session, found: list[tuple[Instance, str]]) -> list[tuple[Instance, str]]:
    """``found`` and every instance derived from it (frames, crops), wherever they
    are filed: what governance decides of a recording it decides of the copies
    made from it (a wrong patient's video is a wrong patient's frame)."""
    have = {i.sop_instance_uid for i, _ in found}
    more = [u for u in consent.derivatives(session, have) if u not in have]
    if not more:
        return found
    rows = session.execute(
        instance_join(select(Instance, Patient.patient_id))
        .where(Instance.sop_instance_uid.in_(more))
        .order_by(Instance.pk)
        .with_for_update()
    )
    return found + [(row[0], row[1]) for row in rows]


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
    found = _to_change(session, level, uid, target, reason)
    now = datetime.now(UTC)
    tally = _Tally()
    decided = {
        i.sop_instance_uid: d
        for i, _, d in consent.decisions(session, [i.sop_instance_uid for i, _ in found])
    }
    for instance, patient_id in found:
        tally.patients.add(patient_id)
        sop_uid = instance.sop_instance_uid
        if instance.availability is Availability.ERASED:
            tally.unchanged.append(sop_uid)
        elif target is Availability.ERASED:
            _erase(tally, instance, decided[sop_uid], reason, reason_code, actor, now)
        elif target is Availability.ACTIVE:
            _release(tally, instance, decided[sop_uid], actor=actor, now=now)
        else:
            _govern(tally, instance, decided[sop_uid], target, reason, reason_code, actor, now)
    if target is Availability.ACTIVE and tally.blocked and not tally.changed:
        raise InvalidTransition(
            f"consent does not allow use of {len(tally.blocked)} instance(s): record consent "
            "before releasing them"
        )
    if target in (Availability.QUARANTINED, Availability.ERASED):
        propagation.enqueue_propagation(session, tally.hidden, reason_code or "governance-review")
    erased_already = all(i.availability is Availability.ERASED for i, _ in found)
    if not tally.changed and erased_already and target is not Availability.ERASED:
        raise InvalidTransition(f"{level.name.lower()} {uid} is erased; erasure is final")
    _audit(session, tally, level, uid, target, reason, reason_code, actor, role, purpose, source)
    return Transition(
        target=target,
        changed=tuple(tally.changed),
        unchanged=tuple(tally.unchanged),
        erase_keys=tuple(tally.keys),
        held_by_consent=tuple(tally.blocked),
    )


@dataclass
class _Tally:
    """What a change did so far, instance by instance."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # consent forbids release
    keys: list[str] = field(default_factory=list)  # storage keys to erase
    hidden: list[str] = field(default_factory=list)  # newly out of use: peers are told
    patients: set[str] = field(default_factory=set)


def _to_change(
    session: Session, level: Level, uid: str, target: Availability, reason: str
) -> list[tuple[Instance, str]]:
    """The instances at ``level``/``uid`` and those derived from them, after the
    checks every change makes (a reason, something there, no legal hold on erasure)."""
    if target in (Availability.QUARANTINED, Availability.ERASED, Availability.HELD) and not reason:
        raise InvalidTransition(f"a reason is required to make instances {target}")
    found = instances_at(session, level, uid)
    if not found:
        raise NotFound(f"no {level.name.lower()} {uid} in the archive")
    found = with_derived(session, found)
    if target is Availability.ERASED:
        held = [i.sop_instance_uid for i, _ in found if i.legal_hold]
        if held:
            raise InvalidTransition(
                f"{len(held)} instance(s) are under a legal hold and may not be erased"
            )
    return found


def _erase(
    tally: _Tally,
    instance: Instance,
    decision: Decision,
    reason: str,
    reason_code: str,
    actor: str,
    now: datetime,
) -> None:
    """Erasure is governance's strictest layer, written like the others by
    :func:`consent.settle` (the one writer of availability), and final."""
    uid, previous = instance.sop_instance_uid, instance.availability
    if previous not in ALLOWED_FROM[Availability.ERASED]:
        tally.unchanged.append(uid)
        return
    instance.governance_hold = str(Availability.ERASED)
    instance.governance_reason = reason
    instance.governance_reason_code = reason_code
    consent.settle(instance, decision, actor=actor, now=now)
    tally.changed.append(uid)
    tally.hidden.append(uid)
    tally.keys.append(instance.storage_key)
    log.info("%s: %s -> %s", uid, previous, Availability.ERASED)


def _release(
    tally: _Tally, instance: Instance, decision: Decision, *, actor: str, now: datetime
) -> None:
    """Release lifts governance's hold and hands the instance back to the consent
    rules; refused while its consent still forbids use."""
    uid = instance.sop_instance_uid
    if decision.availability is not Availability.ACTIVE:
        tally.blocked.append(uid)
    elif not instance.governance_hold:
        tally.unchanged.append(uid)
    else:
        instance.governance_hold = ""
        instance.governance_reason = ""
        instance.governance_reason_code = ""
        consent.settle(instance, decision, actor=actor, now=now)
        tally.changed.append(uid)


def _govern(
    tally: _Tally,
    instance: Instance,
    decision: Decision,
    target: Availability,
    reason: str,
    reason_code: str,
    actor: str,
    now: datetime,
) -> None:
    """A hold or quarantine by governance: its own layer, recorded whatever
    consent makes of the instance now, and never lifted by consent."""
    uid = instance.sop_instance_uid
    if instance.governance_hold == str(target):
        tally.unchanged.append(uid)
        return
    instance.governance_hold = str(target)
    instance.governance_reason = reason
    instance.governance_reason_code = reason_code
    moved = consent.settle(instance, decision, actor=actor, now=now)
    if moved and instance.availability is Availability.QUARANTINED:
        tally.hidden.append(uid)
    tally.changed.append(uid)
    log.info("%s: governance %s (now %s)", uid, target, instance.availability)


def _audit(
    session: Session,
    tally: _Tally,
    level: Level,
    uid: str,
    target: Availability,
    reason: str,
    reason_code: str,
    actor: str,
    role: str,
    purpose: str,
    source: str,
) -> None:
    """One audit event per patient whose instances the change touched."""
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
                object_uids=tuple(tally.changed),
                source=source,
                detail={
                    "level": level.name,
                    "uid": uid,
                    "to": str(target),
                    "reason": reason,
                    "reason_code": reason_code,
                    "unchanged": len(tally.unchanged),
                    "held_by_consent": len(tally.blocked),
                },
            )
            for patient_id in sorted(tally.patients)
        ],
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
    found = with_derived(session, instances_at(session, level, uid))
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
