"""Build a consent SR: a Comprehensive SR (PS3.3 A.35.3) following template CONSENT1.

Strict on write: every rule of TEMPLATE.md is checked before anything is built,
and a failure names the offending argument (``ConsentValidationError``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import ComprehensiveSRStorage

from consent_sr import codes
from consent_sr._header import base_dataset, check_identity, check_uid_root, uid_or_new
from consent_sr._values import format_datetime
from consent_sr.enum import ConsentStatus
from consent_sr.errors import ConsentValidationError
from consent_sr.model import Consent, InstanceRef, Patient, Study
from consent_sr.validate import check_long_string, check_person_name, validate_consent

__all__ = ["build_consent_sr"]

_REL = hd.sr.RelationshipTypeValues


def build_consent_sr(
    consent: Consent,
    *,
    patient: Patient,
    study: Study,
    series_instance_uid: str | None = None,
    series_number: int = 1,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    manufacturer: str = "photopacs",
    institution_name: str | None = None,
    uid_root: str | None = None,
    content_datetime: datetime.datetime | None = None,
    verifying_observer: str | None = None,
    verifying_organization: str | None = None,
) -> Dataset:
    """Build the Comprehensive SR dataset (with file meta) recording ``consent``.

    The document goes in ``study`` (the study of the recordings it covers).
    Missing UIDs are made under ``uid_root``, else as 2.25 UUID-derived UIDs.
    With ``verifying_observer`` (PN form) the document is VERIFIED (PS3.3
    C.17.2.2); its organisation defaults to ``institution_name``.
    Write it with ``ds.save_as(path, enforce_file_format=True)``.
    """
    if not isinstance(consent, Consent):
        raise ConsentValidationError("consent", "must be a consent_sr.Consent")
    check_identity(patient, study)
    validate_consent(consent, patient=patient, study=study)
    prefix = check_uid_root(uid_root)
    series_uid = uid_or_new(series_instance_uid, "series_instance_uid", prefix)
    sop_uid = uid_or_new(sop_instance_uid, "sop_instance_uid", prefix)
    if sop_uid in {ref.sop_instance_uid for ref in (*consent.covered, *consent.supersedes)}:
        raise ConsentValidationError("sop_instance_uid", "is already used by a referenced instance")
    if consent.signed_form is not None and sop_uid == consent.signed_form.sop_instance_uid:
        raise ConsentValidationError("sop_instance_uid", "is the signed form's UID")
    if content_datetime is not None:
        created = content_datetime
    elif consent.decided_at.tzinfo is not None:
        created = datetime.datetime.now().astimezone()
    else:
        created = datetime.datetime.now()
    if not isinstance(created, datetime.datetime):
        raise ConsentValidationError("content_datetime", "must be a datetime.datetime")
    if _later(consent.decided_at, created):
        if content_datetime is None:
            raise ConsentValidationError("decided_at", "is in the future")
        raise ConsentValidationError(
            "content_datetime", "is before the decision it records (decided_at)"
        )
    if verifying_observer is not None:
        check_person_name(verifying_observer, "verifying_observer")
        organization = verifying_organization or institution_name
        if organization is None:
            raise ConsentValidationError(
                "verifying_organization", "required for a verified document"
            )
        check_long_string(organization, "verifying_organization")
    elif verifying_organization is not None:
        raise ConsentValidationError("verifying_organization", "given without a verifying_observer")

    ds = base_dataset(
        sop_class_uid=ComprehensiveSRStorage,
        sop_instance_uid=sop_uid,
        patient=patient,
        study=study,
        modality="SR",
        series_instance_uid=series_uid,
        series_number=series_number,
        instance_number=instance_number,
        manufacturer=manufacturer,
        institution_name=institution_name,
        created=created,
    )
    ds.CodingSchemeIdentificationSequence = [_private_scheme_item()]
    # SR Document Series, PS3.3 C.17.1: Type 2, empty
    ds.ReferencedPerformedProcedureStepSequence = []
    # SR Document General, PS3.3 C.17.2
    pending = consent.status is ConsentStatus.PENDING_RETROSPECTIVE
    ds.CompletionFlag = "PARTIAL" if pending else "COMPLETE"
    if verifying_observer is not None:
        ds.VerificationFlag = "VERIFIED"
        observer = Dataset()
        observer.VerifyingObserverName = verifying_observer
        observer.VerifyingObserverIdentificationCodeSequence = []
        observer.VerifyingOrganization = verifying_organization or institution_name
        observer.VerificationDateTime = format_datetime(created)
        ds.VerifyingObserverSequence = [observer]
    else:
        ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = [_coded(codes.PROCEDURE_PHOTOGRAPHY)]
    evidence = [*consent.covered]
    if consent.signed_form is not None:
        evidence.append(consent.signed_form)
    ds.CurrentRequestedProcedureEvidenceSequence = _hierarchical(evidence)
    if consent.supersedes:
        ds.PredecessorDocumentsSequence = _hierarchical(consent.supersedes)
    # SR Document Content, PS3.3 C.17.3
    root = _content_tree(consent)
    ds.ValueType = root.ValueType
    ds.ConceptNameCodeSequence = root.ConceptNameCodeSequence
    ds.ContinuityOfContent = root.ContinuityOfContent
    ds.ContentTemplateSequence = [_template_item()]
    ds.ContentSequence = root.ContentSequence
    return ds


def _later(a: datetime.datetime, b: datetime.datetime) -> bool:
    """Whether ``a`` is after ``b``; a naive value is local time."""
    return a.astimezone() > b.astimezone()


def _coded(code: Code) -> Dataset:
    return hd.sr.CodedConcept.from_code(code)


def _private_scheme_item() -> Dataset:
    """Coding Scheme Identification Sequence item, PS3.3 C.12.1.1.4."""
    item = Dataset()
    item.CodingSchemeDesignator = codes.PRIVATE_SCHEME
    item.CodingSchemeUID = codes.PRIVATE_SCHEME_UID
    item.CodingSchemeName = codes.PRIVATE_SCHEME_NAME
    item.CodingSchemeVersion = codes.PRIVATE_SCHEME_VERSION
    item.CodingSchemeResponsibleOrganization = codes.PRIVATE_SCHEME_ORGANIZATION
    return item


def _template_item() -> Dataset:
    """Content Template Sequence item naming the private template, PS3.3 C.18.8."""
    item = Dataset()
    item.MappingResource = codes.TEMPLATE_MAPPING_RESOURCE
    item.MappingResourceUID = codes.TEMPLATE_MAPPING_RESOURCE_UID
    item.TemplateIdentifier = codes.TEMPLATE_ID
    return item


def _hierarchical(refs: Iterable[InstanceRef]) -> list[Dataset]:
    """Hierarchical SOP Instance Reference Macro items, PS3.3 Table C.17-3."""
    grouped: dict[str, dict[str, list[InstanceRef]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        grouped[ref.study_instance_uid][ref.series_instance_uid].append(ref)
    studies = []
    for study_uid, series in grouped.items():
        study_item = Dataset()
        study_item.StudyInstanceUID = study_uid
        series_items = []
        for series_uid, instances in series.items():
            series_item = Dataset()
            series_item.SeriesInstanceUID = series_uid
            sop_items = []
            for ref in instances:
                sop_item = Dataset()
                sop_item.ReferencedSOPClassUID = ref.sop_class_uid
                sop_item.ReferencedSOPInstanceUID = ref.sop_instance_uid
                sop_items.append(sop_item)
            series_item.ReferencedSOPSequence = sop_items
            series_items.append(series_item)
        study_item.ReferencedSeriesSequence = series_items
        studies.append(study_item)
    return studies


def _content_tree(consent: Consent) -> hd.sr.ContainerContentItem:
    """The root CONTAINER and its children, in template order (TEMPLATE.md)."""
    sr = hd.sr
    contains = _REL.CONTAINS
    items: list[hd.sr.ContentItem] = []
    # PS3.16 TID 1002 Observer Context (+ TID 1003): the person who recorded the consent
    context = _REL.HAS_OBS_CONTEXT
    items.append(
        sr.CodeContentItem(codes.OBSERVER_TYPE, codes.OBSERVER_PERSON, relationship_type=context)
    )
    items.append(
        sr.PnameContentItem(
            codes.PERSON_OBSERVER_NAME, consent.recorded_by, relationship_type=context
        )
    )
    items.append(
        sr.CodeContentItem(
            codes.CONSENT_STATUS, codes.STATUS_CODES[consent.status], relationship_type=contains
        )
    )
    items.append(
        sr.DateTimeContentItem(
            codes.DECISION_DATETIME,
            format_datetime(consent.decided_at),
            relationship_type=contains,
        )
    )
    if consent.level is not None:
        items.append(
            sr.CodeContentItem(
                codes.CONSENT_LEVEL, codes.LEVEL_CODES[consent.level], relationship_type=contains
            )
        )
    if consent.purpose is not None:
        items.append(_text(codes.SPECIFIED_PURPOSE, consent.purpose))
    if consent.also_teaching:
        items.append(
            sr.CodeContentItem(codes.ALSO_PERMITTED, codes.FOR_TEACHING, relationship_type=contains)
        )
    if consent.consenter is not None:
        consenter = sr.CodeContentItem(
            codes.CONSENTER, codes.CONSENTER_CODES[consent.consenter], relationship_type=contains
        )
        if consent.consenter_name is not None:
            consenter.ContentSequence = sr.ContentSequence(
                [
                    sr.PnameContentItem(
                        codes.PERSON_NAME,
                        consent.consenter_name,
                        relationship_type=_REL.HAS_PROPERTIES,
                    )
                ]
            )
        items.append(consenter)
    if consent.form is not None:
        items.append(
            sr.CodeContentItem(
                codes.CONSENT_FORM, codes.FORM_CODES[consent.form], relationship_type=contains
            )
        )
    if consent.basis is not None:
        items.append(
            sr.CodeContentItem(
                codes.BASIS, codes.BASIS_CODES[consent.basis], relationship_type=contains
            )
        )
    if consent.authorised_by is not None:
        items.append(
            sr.PnameContentItem(
                codes.AUTHORISED_BY, consent.authorised_by, relationship_type=contains
            )
        )
    if consent.circumstances is not None:
        items.append(_text(codes.CIRCUMSTANCES, consent.circumstances))
    if consent.intimate_justification is not None:
        items.append(_text(codes.INTIMATE_JUSTIFICATION, consent.intimate_justification))
    if consent.signed_form is not None:
        items.append(
            sr.CompositeContentItem(
                codes.SIGNED_FORM,
                consent.signed_form.sop_class_uid,
                consent.signed_form.sop_instance_uid,
                relationship_type=contains,
            )
        )
    for ref in consent.covered:
        items.append(
            sr.ImageContentItem(
                codes.COVERED,
                ref.sop_class_uid,
                ref.sop_instance_uid,
                relationship_type=contains,
            )
        )
    if consent.comment is not None:
        items.append(_text(codes.COMMENT, consent.comment))
    root = sr.ContainerContentItem(codes.DOCUMENT_TITLE, is_content_continuous=False)
    root.ContentSequence = sr.ContentSequence(items)
    return root


def _text(name: Code, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name, value, relationship_type=_REL.CONTAINS)
