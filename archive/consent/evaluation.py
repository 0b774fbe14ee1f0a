"""Consent in the index: consent SR documents as they arrive, which instances
they cover, which are current, and what that makes of each instance
(availability and permitted purposes, via :mod:`archive.consent.rules`).

A consent may arrive before its images; it applies when they arrive. A new
document that lists older ones as predecessors supersedes them; the current
documents of an instance are those covering it that nothing supersedes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.consent.rules import (
    ALLOWED_FROM,
    ConsentFacts,
    Decision,
    InstanceFacts,
    age_on,
    combine,
    decide,
    kind_of,
    within_source,
)
from archive.errors import InvalidObject, InvalidTransition
from archive.exchange import propagation
from archive.hierarchy import instance_join
from archive.models import (
    Availability,
    ConsentCoverage,
    ConsentRecord,
    ConsentSupersession,
    Instance,
    Patient,
    Series,
)
from consent_sr import (
    ConsentBasis,
    Consenter,
    ConsentForm,
    ConsentLevel,
    ConsentStatus,
)
from consent_sr import ConsentDocument as ParsedConsent

log = logging.getLogger(__name__)


def register(session: Session, doc: ParsedConsent) -> ConsentRecord:
    """Index a parsed consent document (its SR instance is indexed separately).

    Refuses a document that covers recordings outside its own study: consent
    lives beside the images it covers (R2).
    """
    study_uid = doc.study.study_instance_uid
    outside = [r.sop_instance_uid for r in doc.covered if r.study_instance_uid != study_uid]
    if outside:
        raise InvalidObject(
            f"consent document covers {len(outside)} instance(s) outside its own study"
        )
    c = doc.consent
    record = ConsentRecord(
        sop_instance_uid=doc.document.sop_instance_uid,
        study_instance_uid=study_uid,
        patient_id=doc.patient.patient_id,
        status=str(c.status),
        level=str(c.level or ""),
        purpose=c.purpose or "",
        also_teaching=c.also_teaching,
        consenter=str(c.consenter or ""),
        consenter_name=c.consenter_name or "",
        form=str(c.form or ""),
        basis=str(c.basis or ""),
        authorised_by=c.authorised_by or "",
        circumstances=c.circumstances or "",
        intimate_justification=c.intimate_justification or "",
        recorded_by=c.recorded_by or "",
        decided_at=c.decided_at if c.decided_at.tzinfo else c.decided_at.replace(tzinfo=UTC),
        signed_form_uid=c.signed_form.sop_instance_uid if c.signed_form else "",
        received_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    session.add_all(
        ConsentCoverage(record_pk=record.pk, sop_instance_uid=r.sop_instance_uid)
        for r in doc.covered
    )
    session.add_all(
        ConsentSupersession(record_pk=record.pk, predecessor_uid=r.sop_instance_uid)
        for r in doc.supersedes
    )
    session.flush()
    return record


def _facts(record: ConsentRecord) -> ConsentFacts:
    decided = (
        record.decided_at if record.decided_at.tzinfo else record.decided_at.replace(tzinfo=UTC)
    )
    return ConsentFacts(
        document_uid=record.sop_instance_uid,
        status=ConsentStatus(record.status),
        decided_at=decided,
        level=ConsentLevel(record.level) if record.level else None,
        purpose=record.purpose,
        also_teaching=record.also_teaching,
        consenter=Consenter(record.consenter) if record.consenter else None,
        form=ConsentForm(record.form) if record.form else None,
        basis=ConsentBasis(record.basis) if record.basis else None,
        intimate_justification=record.intimate_justification,
        sequence=record.pk,
    )


def current_records(session: Session, sop_uids: Iterable[str]) -> dict[str, list[ConsentRecord]]:
    """Current consent documents covering each instance.

    Supersession is per instance: a document stops governing an instance
    when a document that covers that same instance names it as predecessor.
    So a withdrawal that covers one photo of a consent ends the consent for
    that photo only, and the others stay governed by the original.
    """
    uids = list(sop_uids)
    out: dict[str, list[ConsentRecord]] = defaultdict(list)
    if not uids:
        return out
    successor = aliased(ConsentCoverage)
    superseded_here = (
        select(ConsentSupersession.pk)
        .join(successor, successor.record_pk == ConsentSupersession.record_pk)
        .where(
            ConsentSupersession.predecessor_uid == ConsentRecord.sop_instance_uid,
            successor.sop_instance_uid == ConsentCoverage.sop_instance_uid,
        )
    )
    rows = session.execute(
        select(ConsentCoverage.sop_instance_uid, ConsentRecord)
        .join(ConsentRecord, ConsentCoverage.record_pk == ConsentRecord.pk)
        .where(ConsentCoverage.sop_instance_uid.in_(uids), ~exists(superseded_here))
        .order_by(ConsentRecord.decided_at)
    )
    for uid, record in rows:
        out[uid].append(record)
    return out


def chain_records(session: Session, sop_uids: Iterable[str]) -> dict[str, list[ConsentRecord]]:
    """Every consent document covering each instance, superseded or not, oldest
    first: the rules read the whole chain of decisions (:func:`rules.decide`)."""
    uids = list(sop_uids)
    out: dict[str, list[ConsentRecord]] = defaultdict(list)
    if not uids:
        return out
    rows = session.execute(
        select(ConsentCoverage.sop_instance_uid, ConsentRecord)
        .join(ConsentRecord, ConsentCoverage.record_pk == ConsentRecord.pk)
        .where(ConsentCoverage.sop_instance_uid.in_(uids))
        .order_by(ConsentRecord.decided_at, ConsentRecord.pk)
    )
    for uid, record in rows:
        out[uid].append(record)
    return out


def decide_arrival(
    session: Session,
    sop_instance_uid: str,
    *,
    sop_class_uid: str,
    modality: str,
    intimate: bool,
    birth_date: str,
    acquisition_date: str,
    documents: bool = True,
    source_uid: str = "",
) -> Decision:
    """The rules' decision for an instance about to be indexed, so ingest writes
    the row once. ``documents`` False says no consent document names it yet
    (the usual case: consent is recorded after the photo), saving the query.
    A derived object (``source_uid``) is bounded by its source's decision."""
    records = (
        chain_records(session, [sop_instance_uid]).get(sop_instance_uid, []) if documents else []
    )
    facts = InstanceFacts(
        kind=kind_of(sop_class_uid, modality),
        intimate=intimate,
        age_at_acquisition=age_on(birth_date, acquisition_date),
    )
    own = decide(facts, [_facts(r) for r in records])
    if not source_uid or source_uid == sop_instance_uid:
        return own
    source = _decisions_of(session, [source_uid]).get(source_uid)
    return within_source(own, source, inherit=not records)


@dataclass(frozen=True)
class Change:
    sop_instance_uid: str
    patient_id: str
    before: Availability
    decision: Decision


def decisions(session: Session, sop_uids: Sequence[str]) -> list[tuple[Instance, str, Decision]]:
    """What the rules decide for each instance present and not erased (no change made):
    (instance, its patient's ID, decision). A derived object's decision is bounded
    by its source's (:func:`rules.within_source`)."""
    found = _bounded(session, sop_uids)
    return [
        found[uid]
        for uid in dict.fromkeys(sop_uids)
        if uid in found and found[uid][0].availability is not Availability.ERASED
    ]


def _decisions_of(session: Session, sop_uids: Iterable[str]) -> dict[str, Decision]:
    """The decision for each instance present and not erased, by SOP Instance UID."""
    return {i.sop_instance_uid: d for i, _, d in decisions(session, list(sop_uids))}


MAX_DERIVATION_DEPTH = 8  # a frame of a video, cropped, ...: chains are short


def _bounded(
    session: Session, sop_uids: Iterable[str], depth: int = 0
) -> dict[str, tuple[Instance, str, Decision]]:
    uids = list(dict.fromkeys(sop_uids))
    if not uids:
        return {}
    rows = session.execute(
        instance_join(
            select(Instance, Patient.patient_id, Patient.patient_birth_date, Series.modality)
        ).where(Instance.sop_instance_uid.in_(uids))
    ).all()
    chain = chain_records(session, [r[0].sop_instance_uid for r in rows])
    out: dict[str, tuple[Instance, str, Decision]] = {}
    for instance, patient_id, birth_date, modality in rows:
        facts = InstanceFacts(
            kind=kind_of(instance.sop_class_uid, modality),
            intimate=instance.intimate,
            age_at_acquisition=age_on(birth_date, instance.acquisition_date),
        )
        records = chain.get(instance.sop_instance_uid, [])
        out[instance.sop_instance_uid] = (
            instance,
            patient_id,
            decide(facts, [_facts(r) for r in records]),
        )
    derived = {
        u: i.source_uid
        for u, (i, _, _) in out.items()
        if i.source_uid and i.source_uid != i.sop_instance_uid
    }
    if derived:
        sources = (
            _bounded(session, set(derived.values()), depth + 1)
            if depth < MAX_DERIVATION_DEPTH
            else {}
        )
        for uid, source_uid in derived.items():
            instance, patient_id, own = out[uid]
            found = sources.get(source_uid)
            source = (
                found[2]
                if found is not None and found[0].availability is not Availability.ERASED
                else None
            )
            inherit = not chain.get(uid)
            out[uid] = (instance, patient_id, within_source(own, source, inherit=inherit))
    return out


def derivatives(session: Session, sop_uids: Iterable[str]) -> list[str]:
    """The instances derived, directly or not, from these."""
    out: list[str] = []
    frontier = list(dict.fromkeys(sop_uids))
    seen = set(frontier)
    for _ in range(MAX_DERIVATION_DEPTH):
        if not frontier:
            break
        found = [
            u
            for u in session.scalars(
                select(Instance.sop_instance_uid).where(Instance.source_uid.in_(frontier))
            )
            if u not in seen
        ]
        seen.update(found)
        out.extend(found)
        frontier = found
    return out


def settle(
    instance: Instance, decision: Decision, *, actor: str, now: datetime | None = None
) -> bool:
    """Write an instance's availability from consent's ``decision`` and governance's
    hold (the one place that does; ingest, consent re-evaluation and governance all
    come here). Permitted uses and the reason always follow the decision that
    governs now. An erased instance never changes, and only the transitions of
    :data:`rules.ALLOWED_FROM` are made. Returns whether the availability
    changed."""
    if instance.availability is Availability.ERASED:
        return False
    instance.use_care = decision.care
    instance.use_teaching = decision.teaching
    instance.use_specified = decision.specified
    instance.governing_consent_uid = decision.governing
    instance.consent_rule = decision.rule
    hold = Availability(instance.governance_hold) if instance.governance_hold else None
    standing = combine(decision, hold, instance.governance_reason, instance.governance_reason_code)
    before = instance.availability
    changed = before is not standing.availability
    if changed and before is not None and before not in ALLOWED_FROM[standing.availability]:
        raise InvalidTransition(f"{instance.sop_instance_uid}: {before} -> {standing.availability}")
    instance.availability = standing.availability
    instance.availability_reason = standing.reason
    instance.availability_basis = standing.basis
    instance.availability_reason_code = standing.reason_code
    if changed or before is None:
        instance.availability_actor = actor[:128]
        instance.availability_changed_at = now or datetime.now(UTC)
    return changed


def reevaluate(
    session: Session,
    sop_uids: Sequence[str],
    *,
    actor: str,
    role: str = "",
    source: str = "",
    arriving: str = "",
) -> list[Change]:
    """Apply the rules to these instances (those present), in the caller's transaction.

    Instances derived from them follow too. Each is written by :func:`settle`:
    consent's decision under governance's hold (which consent never lifts); an
    erased instance never changes. Permitted purposes and the reason always
    follow the decision that governs now.
    Every availability change is audited, except the first decision about
    ``arriving``, the instance being ingested (its ingest event says it).
    """
    changes: list[Change] = []
    quarantined: dict[str, list[str]] = {}
    now = datetime.now(UTC)
    uids = list(dict.fromkeys([*sop_uids, *derivatives(session, sop_uids)]))
    for instance, patient_id, decision in decisions(session, uids):
        arrival = instance.sop_instance_uid == arriving
        before = instance.availability
        if not settle(instance, decision, actor=actor, now=now) and not arrival:
            continue
        if (
            instance.availability is Availability.QUARANTINED
            and instance.availability_basis == "consent"
        ):
            quarantined.setdefault(instance.availability_reason_code, []).append(
                instance.sop_instance_uid
            )
        if not arrival:
            changes.append(Change(instance.sop_instance_uid, patient_id, before, decision))
    _audit(session, changes, actor=actor, role=role, source=source)
    for code, quarantined_uids in quarantined.items():
        propagation.enqueue_propagation(session, quarantined_uids, code)
    return changes


def _audit(session: Session, changes: list[Change], *, actor: str, role: str, source: str) -> None:
    grouped: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for c in changes:
        key = (c.patient_id, str(c.decision.availability), c.decision.reason, c.decision.rule)
        grouped[key].append(c.sop_instance_uid)
    entries = [
        AuditEntry(
            actor=actor,
            role=role,
            action=Action.AVAILABILITY,
            outcome=Outcome.SUCCESS,
            patient_id=patient_id,
            object_uids=tuple(uids),
            source=source,
            detail={"to": to, "reason": reason, "rule": rule, "basis": "consent"},
        )
        for (patient_id, to, reason, rule), uids in grouped.items()
    ]
    if entries:
        audit.record_many(session, entries)
