"""Reads of the record beyond :meth:`Archive.find`: a patient's timeline, one
image's details, the governance review queue and the "who accessed this
patient" view of the audit trail. The :class:`~archive.Archive` methods of the
same names run them, each in its own transaction.

Every function takes an open session (the caller's transaction). Every read of
instances here filters with :func:`archive.policy.visible` (the one access
decision) in the database and is audited in that transaction; nothing here
filters availability or consent on its own. A read that shows nothing raises
:class:`NotFound` carrying its refused-look audit entry, which
:meth:`Archive.transaction` writes after the rollback (ADR 0007). Reads of the
audit trail are for governance staff acting for the governance purpose only
(:func:`archive.policy.may_read_audit`).

What is returned are plain dataclasses, never index rows; how they are shown
(video or document, rendered copies) is the edge's business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import NotFound
from archive.hierarchy import instance_join
from archive.models import AuditEvent, ConsentRecord, Instance, Patient, Series, Study
from archive.policy import (
    Actor,
    may_read_audit,
    permitted_uses,
    visible,
)
from archive.retrieve import owner_of
from archive.store import BlobStore


@dataclass(frozen=True)
class PatientInfo:
    patient_id: str
    name: str
    birth_date: str
    sex: str


@dataclass(frozen=True)
class ImageItem:
    """One visible instance as the viewer lists it."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    body_part: str
    series_description: str
    instance_number: int | None
    content_date: str
    content_time: str
    number_of_frames: int | None
    availability: str
    availability_reason: str
    uses: tuple[str, ...]
    governing_consent_uid: str
    sha256: str
    storage_key: str
    transfer_syntax_uid: str
    size_bytes: int
    received_at: datetime
    received_by: str
    received_from: str


@dataclass
class StudyEntry:
    study_instance_uid: str
    study_date: str
    study_time: str
    description: str
    accession_number: str
    items: list[ImageItem] = field(default_factory=list)


@dataclass
class Timeline:
    patient: PatientInfo
    studies: list[StudyEntry]

    @property
    def count(self) -> int:
        return sum(len(s.items) for s in self.studies)


@dataclass(frozen=True)
class ConsentBadge:
    """The consent document that governs an instance, as a badge shows it."""

    document_uid: str
    status: str
    level: str
    purpose: str
    also_teaching: bool
    consenter: str
    consenter_name: str
    form: str
    basis: str
    authorised_by: str
    recorded_by: str
    decided_at: datetime


@dataclass(frozen=True)
class ImageRecord:
    patient: PatientInfo
    item: ImageItem
    consent: ConsentBadge | None
    path: Path


@dataclass(frozen=True)
class AccessEvent:
    seq: int
    occurred_at: str
    actor: str
    role: str
    purpose: str
    action: str
    outcome: str
    object_uids: tuple[str, ...]
    source: str
    detail: dict[str, object]


_COLUMNS = (
    Instance,
    Series.series_instance_uid,
    Series.modality,
    Series.body_part_examined,
    Series.series_description,
    Study.study_instance_uid,
    Study,
    Patient,
)


def _hierarchy(*columns: Any) -> Any:  # a Select (typed differently in SQLAlchemy 2.0 and 2.1)
    """``columns`` from instances joined up to their series, study and patient."""
    return instance_join(select(*columns).select_from(Instance))


def _joined(requester: Actor) -> Any:  # a Select of _COLUMNS
    return _hierarchy(*_COLUMNS).where(visible(requester))


def _patient(p: Patient) -> PatientInfo:
    return PatientInfo(p.patient_id, p.patient_name, p.patient_birth_date, p.patient_sex)


def _item(
    i: Instance, series_uid: str, modality: str, body_part: str, series_desc: str, study_uid: str
) -> ImageItem:
    uses = permitted_uses(i)
    return ImageItem(
        sop_instance_uid=i.sop_instance_uid,
        sop_class_uid=i.sop_class_uid,
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        modality=modality,
        body_part=body_part,
        series_description=series_desc,
        instance_number=i.instance_number,
        content_date=i.content_date,
        content_time=i.content_time,
        number_of_frames=i.number_of_frames,
        availability=str(i.availability),
        availability_reason=i.availability_reason,
        uses=tuple(uses),
        governing_consent_uid=i.governing_consent_uid,
        sha256=i.sha256,
        storage_key=i.storage_key,
        transfer_syntax_uid=i.transfer_syntax_uid,
        size_bytes=i.size_bytes,
        received_at=i.received_at,
        received_by=i.received_by,
        received_from=i.received_from,
    )


def _entry(requester: Actor, *, detail: dict[str, Any], **fields: object) -> AuditEntry:
    """The audit entry of a read; a review look carries its review's reason and number."""
    return AuditEntry(
        actor=requester.actor,
        role=str(requester.role),
        purpose=requester.purpose_label,
        source=requester.source,
        detail={**detail, **requester.audit_detail},
        **fields,  # type: ignore[arg-type]
    )


def _record(
    session: Session, requester: Actor, *, detail: dict[str, Any], **fields: object
) -> None:
    audit.record(session, _entry(requester, detail=detail, **fields))


def _refused(
    requester: Actor, message: str, *, what: str, reason: str, **fields: object
) -> NotFound:
    """The 404 of a read that shows nothing, carrying its refused-look audit entry
    (written by :meth:`Archive.transaction` after the rollback)."""
    entry = _entry(
        requester,
        action=Action.VIEW,
        outcome=Outcome.REFUSED,
        detail={"what": what, "reason": reason},
        **fields,
    )
    return NotFound(message, refusal=entry)


def timeline(session: Session, requester: Actor, patient_id: str) -> Timeline:
    """A patient's studies, newest first, with the instances ``requester`` may see.

    Raises :class:`NotFound` when the requester sees nothing of that patient
    (not told apart from a patient the archive does not hold). Audited as a view.
    """
    rows = session.execute(
        _joined(requester)
        .where(Patient.patient_id == patient_id)
        .order_by(Study.study_date.desc(), Study.study_time.desc(), Study.pk, Instance.pk)
    ).all()
    if not rows:
        known = session.scalar(select(Patient.pk).where(Patient.patient_id == patient_id))
        raise _refused(
            requester,
            "no such patient",
            what="timeline",
            reason="nothing visible",
            patient_id=patient_id[:64] if known is not None else "",
        )
    studies: dict[str, StudyEntry] = {}
    patient = _patient(rows[0][7])
    for inst, series_uid, modality, body_part, series_desc, study_uid, study, _ in rows:
        entry = studies.setdefault(
            study_uid,
            StudyEntry(
                study_uid,
                study.study_date,
                study.study_time,
                study.study_description,
                study.accession_number,
            ),
        )
        entry.items.append(_item(inst, series_uid, modality, body_part, series_desc, study_uid))
    result = Timeline(patient=patient, studies=list(studies.values()))
    _record(
        session,
        requester,
        action=Action.VIEW,
        outcome=Outcome.SUCCESS,
        patient_id=patient_id,
        object_uids=tuple(i.sop_instance_uid for s in result.studies for i in s.items)[:1000],
        detail={"what": "timeline", "instances": result.count},
    )
    return result


def image(
    session: Session, store: BlobStore, requester: Actor, sop_instance_uid: str, *, what: str
) -> ImageRecord:
    """One instance ``requester`` may see, with its governing consent; audited as
    a view of ``what`` (page, thumbnail, image, video, download). Raises
    :class:`NotFound` for an instance that is absent or not visible alike."""
    row = session.execute(
        _joined(requester).where(Instance.sop_instance_uid == sop_instance_uid)
    ).first()
    if row is None:
        raise _refused(
            requester,
            "no such image",
            what=what,
            reason="not found or not visible",
            object_uids=(sop_instance_uid[:64],),
            patient_id=owner_of(session, sop_instance_uid),
        )
    inst, series_uid, modality, body_part, series_desc, study_uid, _, pat = row
    item = _item(inst, series_uid, modality, body_part, series_desc, study_uid)
    badge = None
    if inst.governing_consent_uid:
        rec = session.scalar(
            select(ConsentRecord).where(
                ConsentRecord.sop_instance_uid == inst.governing_consent_uid
            )
        )
        if rec is not None:
            badge = ConsentBadge(
                document_uid=rec.sop_instance_uid,
                status=rec.status,
                level=rec.level,
                purpose=rec.purpose,
                also_teaching=rec.also_teaching,
                consenter=rec.consenter,
                consenter_name=rec.consenter_name,
                form=rec.form,
                basis=rec.basis,
                authorised_by=rec.authorised_by,
                recorded_by=rec.recorded_by,
                decided_at=rec.decided_at,
            )
    _record(
        session,
        requester,
        action=Action.VIEW,
        outcome=Outcome.SUCCESS,
        patient_id=pat.patient_id,
        object_uids=(inst.sop_instance_uid,),
        detail={"what": what},
    )
    return ImageRecord(
        patient=_patient(pat), item=item, consent=badge, path=store.path_for(inst.storage_key)
    )


def visible_instances(session: Session, requester: Actor, patient_id: str) -> set[str]:
    """SOP Instance UIDs of a patient's instances that ``requester`` may see (not audited:
    callers use it to filter what an audited read returned)."""
    return set(
        session.scalars(
            _hierarchy(Instance.sop_instance_uid).where(
                Patient.patient_id == patient_id, visible(requester)
            )
        )
    )


def patient_of_study(session: Session, requester: Actor, study_instance_uid: str) -> str:
    """The PatientID of a study holding an instance ``requester`` may see, else NotFound
    (not audited)."""
    found: str | None = session.scalar(
        _hierarchy(Patient.patient_id)
        .where(Study.study_instance_uid == study_instance_uid, visible(requester))
        .limit(1)
    )
    if found is None:
        raise NotFound("no such study")
    return found


@dataclass(frozen=True)
class ReviewItem:
    patient: PatientInfo
    item: ImageItem
    changed_by: str
    changed_at: datetime | None


def review_queue(session: Session, requester: Actor, *, limit: int = 500) -> list[ReviewItem]:
    """Held and quarantined instances: the governance review path (``requester.review``
    with the governance purpose; anyone else gets an empty list). Audited."""
    rows = session.execute(
        _joined(requester)
        .order_by(Instance.availability_changed_at.desc(), Instance.pk)
        .limit(limit)
    ).all()
    out = [
        ReviewItem(
            patient=_patient(pat),
            item=_item(inst, series_uid, modality, body_part, desc, study_uid),
            changed_by=inst.availability_actor,
            changed_at=inst.availability_changed_at,
        )
        for inst, series_uid, modality, body_part, desc, study_uid, _, pat in rows
    ]
    _record(
        session,
        requester,
        action=Action.VIEW,
        outcome=Outcome.SUCCESS,
        object_uids=tuple(r.item.sop_instance_uid for r in out)[:1000],
        detail={"what": "review queue", "instances": len(out)},
    )
    return out


def accesses(
    session: Session,
    requester: Actor,
    *,
    patient_id: str = "",
    about_actor: str = "",
    refused_only: bool = False,
    re_consents_only: bool = False,
    limit: int = 1000,
) -> list[AccessEvent]:
    """Who accessed this patient's record (every audited event naming the patient), or
    what one person or node did (``about_actor``); ``refused_only``: what was tried and
    refused; ``re_consents_only``: consents that returned recordings to use after a
    withdrawal or refusal (R5, R6), for governance to look at. Newest first.
    Governance purpose only; the look itself is audited."""
    if not may_read_audit(requester):
        raise NotFound("no such view")
    where = [AuditEvent.patient_id == patient_id] if patient_id else []
    if about_actor:
        where.append(AuditEvent.actor == about_actor)
    if refused_only:
        where = [*where, AuditEvent.outcome == str(Outcome.REFUSED)]
    if re_consents_only:  # the flag Archive.record_consent writes (details are sorted JSON)
        where += [
            AuditEvent.action == str(Action.CONSENT),
            AuditEvent.outcome == str(Outcome.SUCCESS),
            AuditEvent.detail.contains('"re_consent": true'),
        ]
    rows = session.scalars(
        select(AuditEvent).where(*where).order_by(AuditEvent.seq.desc()).limit(limit)
    ).all()
    out = [
        AccessEvent(
            seq=r.seq,
            occurred_at=r.occurred_at,
            actor=r.actor,
            role=r.role,
            purpose=r.purpose,
            action=r.action,
            outcome=r.outcome,
            object_uids=tuple(json.loads(r.object_uids or "[]")),
            source=r.source,
            detail=dict(json.loads(r.detail or "{}")),
        )
        for r in rows
    ]
    _record(
        session,
        requester,
        action=Action.VIEW,
        outcome=Outcome.SUCCESS,
        patient_id=patient_id,
        detail={
            "what": "access audit",
            "events": len(out),
            "refused_only": refused_only,
            **({"re_consents_only": True} if re_consents_only else {}),
            **({"about_actor": about_actor} if about_actor else {}),
        },
    )
    return out
