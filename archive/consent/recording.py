"""Recording consent decisions: the archive builds the consent SR (and the
Encapsulated PDF of a scanned signed form) with :mod:`consent_sr` and ingests
them through the one ingest path, exactly as if another system had sent them
by C-STORE. Also the consent overview of a patient.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.audit import Action, AuditEntry, Outcome
from archive.consent.evaluation import chain_records, current_records
from archive.consent.rules import (
    LIFTS_CHILD_VETO,
    PARENTAL,
    Kind,
    age_on,
    capacity_problem,
    kind_of,
)
from archive.errors import InvalidArgument, NotAuthorised, NotFound
from archive.hierarchy import instance_join
from archive.models import Availability, ConsentRecord, Instance, Patient, Series, Study
from archive.policy import Actor, Role, decidable, may_reverse, permitted_uses
from consent_sr import (
    Consent,
    Consenter,
    ConsentStatus,
    ConsentValidationError,
    InstanceRef,
    PatientSex,
    build_consent_form_pdf,
    build_consent_sr,
)
from consent_sr import Patient as SRPatient
from consent_sr import Study as SRStudy


@dataclass(frozen=True)
class ConsentRequest:
    """A consent decision to record (fields as in :class:`consent_sr.Consent`)."""

    study_instance_uid: str
    status: ConsentStatus
    recorded_by: str
    instances: tuple[str, ...] = ()  # empty: every recording in the study
    level: str | None = None
    purpose: str | None = None
    also_teaching: bool = False
    consenter: str | None = None
    consenter_name: str | None = None
    form: str | None = None
    basis: str | None = None
    authorised_by: str | None = None
    circumstances: str | None = None
    intimate_justification: str | None = None
    comment: str | None = None
    form_pdf: bytes | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    """What recording a consent decision did."""

    document: str  # SOP Instance UID of the consent SR
    signed_form: str  # of the Encapsulated PDF, or ""
    superseded: tuple[str, ...]
    availability: dict[str, str]  # covered instance -> its availability now


@dataclass(frozen=True)
class Prepared:
    """The documents to ingest, in order (signed form first, then the SR)."""

    datasets: list[Dataset]
    covered: tuple[str, ...]
    superseded: tuple[str, ...]
    reverses: tuple[str, ...] = ()  # the withdrawals or refusals a re-consent supersedes
    patient_id: str = ""


def encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if text else None
    except ValueError:
        return None


REVERSIBLE_ONLY = frozenset({str(ConsentStatus.WITHDRAWN), str(ConsentStatus.REFUSED)})


def _why_not_reverse(requester: Actor, request: ConsentRequest) -> str:
    """Why this decision may not follow a withdrawal or refusal ("" if it may)."""
    if request.status is ConsentStatus.GIVEN:
        return may_reverse(
            requester, written=request.form == "written", signed_form=request.form_pdf is not None
        )
    if request.status is ConsentStatus.IMPLICIT and requester.role in (
        Role.GOVERNANCE,
        Role.OPERATOR,
    ):
        return ""  # vital interests (child protection) is governance's decision
    return "after a withdrawal or refusal, only a new written consent returns recordings to use"


def _refusal(requester: Actor, request: ConsentRequest, reason: str, **fields: object) -> Any:
    return AuditEntry(
        actor=requester.actor,
        role=str(requester.role),
        purpose=requester.purpose_label,
        action=Action.CONSENT,
        outcome=Outcome.REFUSED,
        source=requester.source,
        detail={
            "study": request.study_instance_uid,
            "decision": str(request.status),
            "reason": reason,
            **requester.audit_detail,
        },
        **fields,  # type: ignore[arg-type]
    )


def prepare(
    session: Session, request: ConsentRequest, *, requester: Actor, uid_root: str | None
) -> Prepared:
    """Build the consent SR (and PDF) for ``request`` from what the index holds.

    The access policy decides first (:func:`archive.policy.decidable`): a decision
    covers only recordings the requester may decide on, and one about recordings
    it may not see is refused as if they did not exist (audited)."""
    study, patient = _study(session, request, requester)
    recordings, chosen = _chosen(session, request, requester, study, patient)
    covered = [
        InstanceRef(
            study_instance_uid=request.study_instance_uid,
            series_instance_uid=recordings[u][1],
            sop_class_uid=recordings[u][0].sop_class_uid,
            sop_instance_uid=u,
        )
        for u in chosen
    ]
    why = _who_may_not_decide(session, request, patient, [recordings[u][0] for u in chosen])
    if why:
        raise InvalidArgument(
            why, refusal=_refusal(requester, request, why, patient_id=patient.patient_id)
        )
    current = current_records(session, chosen)
    predecessors = sorted({r.sop_instance_uid for rs in current.values() for r in rs})
    if request.status is ConsentStatus.WITHDRAWN and not predecessors:
        raise InvalidArgument("there is no current consent to withdraw for these instances")
    reversed_ = sorted(
        r.sop_instance_uid for rs in current.values() for r in rs if r.status in REVERSIBLE_ONLY
    )
    if reversed_ and request.status not in (ConsentStatus.WITHDRAWN, ConsentStatus.REFUSED):
        why = _why_not_reverse(requester, request)
        if why:
            raise NotAuthorised(
                why, refusal=_refusal(requester, request, why, patient_id=patient.patient_id)
            )
    supersedes = _references(session, predecessors)
    return Prepared(
        datasets=_datasets(request, covered, supersedes, study, patient, uid_root=uid_root),
        covered=tuple(chosen),
        superseded=tuple(predecessors),
        reverses=tuple(reversed_),
        patient_id=patient.patient_id,
    )


def _study(session: Session, request: ConsentRequest, requester: Actor) -> tuple[Study, Patient]:
    row = session.execute(
        select(Study, Patient)
        .join(Patient, Study.patient_pk == Patient.pk)
        .where(Study.study_instance_uid == request.study_instance_uid)
    ).first()
    if row is None:
        raise NotFound(
            f"no study {request.study_instance_uid} in the archive",
            refusal=_refusal(requester, request, "no such study"),
        )
    study, patient = row
    return study, patient


def _chosen(
    session: Session, request: ConsentRequest, requester: Actor, study: Study, patient: Patient
) -> tuple[dict[str, tuple[Instance, str]], list[str]]:
    """The study's recordings ``requester`` may decide on (with their series UIDs),
    and the UIDs the decision covers: those the request names, else all of them."""
    candidates = session.execute(
        select(Instance, Series.series_instance_uid, Series.modality, decidable(requester))
        .join(Series, Instance.series_pk == Series.pk)
        .where(Series.study_pk == study.pk, Instance.availability != Availability.ERASED)
        .order_by(Instance.pk)
    ).all()
    recordings = {
        i.sop_instance_uid: (i, series_uid)
        for i, series_uid, modality, may in candidates
        if may and kind_of(i.sop_class_uid, modality) is not Kind.DOCUMENT
    }
    hidden = _refusal(
        requester,
        request,
        "no recording the requester may decide on",
        patient_id=patient.patient_id,
    )
    if request.instances:
        unknown = [u for u in request.instances if u not in recordings]
        if unknown:  # absent, a document, or not the requester's to decide: not told apart
            raise NotFound(
                f"instances: {len(unknown)} of them are not recordings in study "
                f"{request.study_instance_uid} (first: {unknown[0]})",
                refusal=hidden,
            )
        chosen = list(dict.fromkeys(request.instances))
    else:
        chosen = list(recordings)
    if not chosen:
        raise NotFound(
            f"no recordings to cover in study {request.study_instance_uid}", refusal=hidden
        )
    return recordings, chosen


def _datasets(
    request: ConsentRequest,
    covered: list[InstanceRef],
    supersedes: list[InstanceRef],
    study: Study,
    patient: Patient,
    *,
    uid_root: str | None,
) -> list[Dataset]:
    """The signed form's Encapsulated PDF (if any), then the consent SR."""
    sr_patient = SRPatient(
        patient_id=patient.patient_id,
        name=patient.patient_name,
        birth_date=_date(patient.patient_birth_date),
        sex=PatientSex(patient.patient_sex) if patient.patient_sex in ("M", "F", "O") else None,
    )
    sr_study = SRStudy(
        study_instance_uid=study.study_instance_uid,
        accession_number=study.accession_number or None,
        study_id=study.study_id or None,
        study_date=_date(study.study_date),
    )
    datasets: list[Dataset] = []
    signed_form = None
    try:
        if request.form_pdf is not None:
            pdf = build_consent_form_pdf(
                request.form_pdf, patient=sr_patient, study=sr_study, uid_root=uid_root
            )
            datasets.append(pdf)
            signed_form = InstanceRef.from_dataset(pdf)
        consent = Consent(
            status=request.status,
            decided_at=request.decided_at or datetime.now(UTC),
            recorded_by=request.recorded_by,
            covered=covered,
            level=request.level,
            purpose=request.purpose,
            also_teaching=request.also_teaching,
            consenter=request.consenter,
            consenter_name=request.consenter_name,
            form=request.form,
            basis=request.basis,
            authorised_by=request.authorised_by,
            circumstances=request.circumstances,
            intimate_justification=request.intimate_justification,
            signed_form=signed_form,
            supersedes=supersedes,
            comment=request.comment,
        )
        datasets.append(
            build_consent_sr(consent, patient=sr_patient, study=sr_study, uid_root=uid_root)
        )
    except ConsentValidationError as exc:
        raise InvalidArgument(str(exc)) from exc
    return datasets


def _who_may_not_decide(
    session: Session, request: ConsentRequest, patient: Patient, chosen: Sequence[Instance]
) -> str:
    """Why the consenter of ``request`` may not decide about these recordings (R4),
    or "": a parent or guardian decides only for a child, and not against a
    competent child's standing refusal or withdrawal."""
    try:
        consenter = Consenter(request.consenter) if request.consenter else None
    except ValueError:
        return ""  # the consent model refuses it, with its own reason
    for instance in chosen:
        why = capacity_problem(
            consenter, age_on(patient.patient_birth_date, instance.acquisition_date)
        )
        if why:
            return why
    if request.status is not ConsentStatus.GIVEN or consenter not in PARENTAL:
        return ""
    chains = chain_records(session, [i.sop_instance_uid for i in chosen])
    for records in chains.values():
        veto = False
        for r in records:
            if r.consenter == str(Consenter.FRASER_COMPETENT_CHILD) and r.status in REVERSIBLE_ONLY:
                veto = True
            elif r.status == str(ConsentStatus.GIVEN) and r.consenter in {
                str(c) for c in LIFTS_CHILD_VETO
            }:
                veto = False
        if veto:
            return (
                "a competent child's refusal or withdrawal outweighs a parent's or guardian's "
                "consent (R4): only the child's own consent returns the recordings to use"
            )
    return ""


def _references(session: Session, uids: Sequence[str]) -> list[InstanceRef]:
    if not uids:
        return []
    rows = session.execute(
        instance_join(
            select(
                Instance.sop_class_uid,
                Instance.sop_instance_uid,
                Series.series_instance_uid,
                Study.study_instance_uid,
            ),
            patient=False,
        ).where(Instance.sop_instance_uid.in_(list(uids)))
    ).all()
    return [
        InstanceRef(
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            sop_class_uid=sop_class,
            sop_instance_uid=sop_uid,
        )
        for sop_class, sop_uid, series_uid, study_uid in rows
    ]


@dataclass
class InstanceState:
    sop_instance_uid: str
    study_instance_uid: str
    availability: str
    reason: str
    uses: list[str]
    governing_consent: str


@dataclass
class Overview:
    """A patient's consent history and what each recording may be used for."""

    patient_id: str
    history: list[dict[str, str]] = field(default_factory=list)
    instances: list[InstanceState] = field(default_factory=list)


def overview(session: Session, patient_id: str) -> Overview:
    patient = session.scalar(select(Patient).where(Patient.patient_id == patient_id))
    if patient is None:
        raise NotFound(f"no patient {patient_id} in the archive")
    result = Overview(patient_id=patient_id)
    for record in session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.patient_id == patient_id)
        .order_by(ConsentRecord.decided_at, ConsentRecord.pk)
    ):
        result.history.append(
            {
                "document": record.sop_instance_uid,
                "study": record.study_instance_uid,
                "decided_at": record.decided_at.isoformat(),
                "status": record.status,
                "level": record.level,
                "purpose": record.purpose,
                "also_teaching": "yes" if record.also_teaching else "",
                "consenter": record.consenter,
                "form": record.form,
                "basis": record.basis,
                "recorded_by": record.recorded_by,
                "signed_form": record.signed_form_uid,
            }
        )
    rows = session.execute(
        instance_join(select(Instance, Study.study_instance_uid, Series.modality), patient=False)
        .where(Study.patient_pk == patient.pk)
        .order_by(Instance.pk)
    ).all()
    for instance, study_uid, modality in rows:
        if kind_of(instance.sop_class_uid, modality) is Kind.DOCUMENT:
            continue
        uses = permitted_uses(instance)
        result.instances.append(
            InstanceState(
                sop_instance_uid=instance.sop_instance_uid,
                study_instance_uid=study_uid,
                availability=str(instance.availability),
                reason=instance.availability_reason,
                uses=uses if instance.availability is Availability.ACTIVE else [],
                governing_consent=instance.governing_consent_uid,
            )
        )
    return result
