"""Consent in the index: consent SR documents as they arrive, which instances
they cover, which are current, and what that makes of each instance
(availability and permitted purposes, via :mod:`archive.consent_rules`).

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

from archive import audit, governance
from archive.audit import Action, AuditEntry, Outcome
from archive.consent_rules import (
    ConsentFacts,
    Decision,
    InstanceFacts,
    age_on,
    decide,
    kind_of,
)
from archive.errors import InvalidObject
from archive.models import (
    Availability,
    ConsentCoverage,
    ConsentRecord,
    ConsentSupersession,
    Instance,
    Patient,
    Series,
    Study,
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
) -> Decision:
    """The rules' decision for an instance about to be indexed, so ingest writes
    the row once. ``documents`` False says no consent document names it yet
    (the usual case: consent is recorded after the photo), saving the query."""
    records = (
        current_records(session, [sop_instance_uid]).get(sop_instance_uid, []) if documents else []
    )
    facts = InstanceFacts(
        kind=kind_of(sop_class_uid, modality),
        intimate=intimate,
        age_at_acquisition=age_on(birth_date, acquisition_date),
    )
    return decide(facts, [_facts(r) for r in records])


def reason_code_for(decision: Decision) -> str:
    """The governance reason code a consent decision to quarantine carries."""
    if decision.availability is Availability.QUARANTINED:
        return _REASON_CODES.get(decision.rule, "")
    return ""


@dataclass(frozen=True)
class Change:
    sop_instance_uid: str
    patient_id: str
    before: Availability
    decision: Decision


def decisions(session: Session, sop_uids: Sequence[str]) -> list[tuple[Instance, str, Decision]]:
    """What the rules decide for each instance present and not erased (no change made):
    (instance, its patient's ID, decision)."""
    if not sop_uids:
        return []
    rows = session.execute(
        select(Instance, Patient.patient_id, Patient.patient_birth_date, Series.modality)
        .join(Series, Instance.series_pk == Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .join(Patient, Study.patient_pk == Patient.pk)
        .where(Instance.sop_instance_uid.in_(list(sop_uids)))
    ).all()
    current = current_records(session, [r[0].sop_instance_uid for r in rows])
    out: list[tuple[Instance, str, Decision]] = []
    for instance, patient_id, birth_date, modality in rows:
        if instance.availability is Availability.ERASED:
            continue
        facts = InstanceFacts(
            kind=kind_of(instance.sop_class_uid, modality),
            intimate=instance.intimate,
            age_at_acquisition=age_on(birth_date, instance.acquisition_date),
        )
        records = current.get(instance.sop_instance_uid, [])
        out.append((instance, patient_id, decide(facts, [_facts(r) for r in records])))
    return out


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

    Consent decides availability unless governance has held or quarantined the
    instance (those stay until governance releases them); an erased instance
    never changes. Permitted purposes always follow the governing consent.
    Every availability change is audited, except the first decision about
    ``arriving``, the instance being ingested (its ingest event says it).
    """
    changes: list[Change] = []
    quarantined: dict[str, list[str]] = {}
    now = datetime.now(UTC)
    for instance, patient_id, decision in decisions(session, sop_uids):
        instance.use_care = decision.care
        instance.use_teaching = decision.teaching
        instance.use_specified = decision.specified
        instance.governing_consent_uid = decision.governing
        instance.consent_rule = decision.rule
        sticky = instance.availability_basis == "governance" and instance.availability in (
            Availability.HELD,
            Availability.QUARANTINED,
        )
        arrival = instance.sop_instance_uid == arriving
        if sticky or (instance.availability is decision.availability and not arrival):
            continue
        before = instance.availability
        instance.availability = decision.availability
        instance.availability_reason = decision.reason
        instance.availability_actor = actor[:128]
        instance.availability_changed_at = now
        instance.availability_basis = "consent"
        instance.availability_reason_code = reason_code_for(decision)
        if decision.availability is Availability.QUARANTINED:
            quarantined.setdefault(instance.availability_reason_code, []).append(
                instance.sop_instance_uid
            )
        if not arrival:
            changes.append(Change(instance.sop_instance_uid, patient_id, before, decision))
    _audit(session, changes, actor=actor, role=role, source=source)
    for code, uids in quarantined.items():
        governance.enqueue_propagation(session, uids, code)
    return changes


_REASON_CODES = {"R5": "consent-withdrawn", "R6": "consent-refused"}


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
