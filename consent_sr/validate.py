"""Strict validation of a consent before it is written (the rules of TEMPLATE.md).

Every failure raises ``ConsentValidationError`` naming the offending argument,
e.g. ``level``, ``consenter_name`` or ``covered[1]``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from enum import Enum

from pydicom.uid import UID

from consent_sr.enum import ConsentBasis, Consenter, ConsentForm, ConsentLevel, ConsentStatus
from consent_sr.errors import ConsentValidationError
from consent_sr.model import Consent, InstanceRef, Patient, Study
from consent_sr.purpose import check_specified_purpose

__all__ = [
    "ENCAPSULATED_PDF_STORAGE",
    "SR_STORAGE_CLASSES",
    "check_long_string",
    "check_person_name",
    "check_text",
    "check_uid",
    "validate_consent",
]

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"

SR_STORAGE_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
        "1.2.840.10008.5.1.4.1.1.88.35",  # Extensible SR
    }
)

ADULT_AGE = 18
"""Age at which a patient is an adult in England and Wales (Children Act 1989)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PN_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def check_uid(value: object, argument: str) -> str:
    """A syntactically valid UID, PS3.5 9.1: digits and dots, at most 64 characters."""
    if not isinstance(value, str) or not UID(value).is_valid:
        raise ConsentValidationError(argument, f"{value!r} is not a valid DICOM UID")
    return value


def check_person_name(
    value: object, argument: str, *, allow_empty: bool = False, require_caret: bool = True
) -> str:
    """A PN value (PS3.5 6.2.1): ``Family^Given^Middle^Prefix^Suffix``, at most three
    component groups of 64 characters. Names typed by staff must contain a caret, so
    that a single-component name is unambiguous (write ``Family^``); patient names
    copied from existing objects (``require_caret=False``) need not. Messages never
    repeat the name (it may be logged)."""
    if not isinstance(value, str):
        raise ConsentValidationError(argument, "expected a person name string")
    if value == "" and allow_empty:
        return value
    if not value.strip():
        raise ConsentValidationError(argument, "must not be empty")
    if _PN_FORBIDDEN.search(value):
        raise ConsentValidationError(argument, "contains a backslash or control character")
    groups = value.split("=")
    if len(groups) > 3 or any(len(group) > 64 for group in groups):
        raise ConsentValidationError(argument, "longer than 64 characters per component group")
    if any(len(group.split("^")) > 5 for group in groups):
        raise ConsentValidationError(argument, "has more than five name components")
    if require_caret and "^" not in groups[0]:
        raise ConsentValidationError(
            argument,
            "is not in DICOM PN form 'Family^Given' "
            "(for a single-component name add a trailing caret)",
        )
    return value


def check_text(value: object, argument: str, *, max_length: int = 10240) -> str:
    """A TEXT content item value (UT): non-empty, no control characters but CR/LF/TAB."""
    if not isinstance(value, str):
        raise ConsentValidationError(argument, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise ConsentValidationError(argument, "must not be empty (omit it instead)")
    if _CONTROL.search(value):
        raise ConsentValidationError(argument, "contains a control character")
    if len(value) > max_length:
        raise ConsentValidationError(argument, f"longer than {max_length} characters")
    return value


def check_long_string(value: object, argument: str, *, max_length: int = 64) -> str:
    """A LO (or, with max_length=16, SH) value: no backslash or control characters."""
    if not isinstance(value, str):
        raise ConsentValidationError(argument, f"expected a string, got {type(value).__name__}")
    if "\\" in value or _CONTROL.search(value) or "\n" in value or "\r" in value:
        raise ConsentValidationError(argument, "contains a backslash or control character")
    if len(value) > max_length:
        raise ConsentValidationError(argument, f"longer than {max_length} characters")
    return value


def _check_ref(ref: InstanceRef, argument: str) -> None:
    for name in ("study_instance_uid", "series_instance_uid", "sop_class_uid", "sop_instance_uid"):
        check_uid(getattr(ref, name), f"{argument}.{name}")


def _check_in_study(ref: InstanceRef, argument: str, study_instance_uid: str | None) -> None:
    _check_ref(ref, argument)
    if study_instance_uid is not None and ref.study_instance_uid != study_instance_uid:
        raise ConsentValidationError(
            argument,
            f"{ref.sop_instance_uid} is in study {ref.study_instance_uid}, not in the "
            f"document's study "
            f"{study_instance_uid} (a consent SR lives in the study it covers)",
        )


def _check_refs(
    refs: Iterable[InstanceRef], argument: str, *, study_instance_uid: str | None
) -> None:
    seen: set[str] = set()
    for i, ref in enumerate(refs):
        where = f"{argument}[{i}]"
        _check_in_study(ref, where, study_instance_uid)
        if ref.sop_instance_uid in seen:
            raise ConsentValidationError(where, f"{ref.sop_instance_uid} is listed twice")
        seen.add(ref.sop_instance_uid)


def _require(consent: Consent, name: str, reason: str) -> None:
    if getattr(consent, name) is None:
        raise ConsentValidationError(name, f"required {reason}")


def _forbid(consent: Consent, name: str, reason: str) -> None:
    value = getattr(consent, name)
    if value is not None:
        shown = f" (got {value.value})" if isinstance(value, Enum) else ""  # never echo names
        raise ConsentValidationError(name, f"must be omitted {reason}{shown}")


def _check_also_teaching(consent: Consent) -> None:
    """Teaching on top of a specified purpose is a level-3 option only (R3)."""
    value = consent.also_teaching
    if not isinstance(value, bool):
        raise ConsentValidationError("also_teaching", "must be True or False")
    if not value or consent.level is ConsentLevel.SPECIFIED:
        return
    if consent.level is ConsentLevel.TEACHING:
        why = "level 2 (teaching) already permits teaching"
    elif consent.level is ConsentLevel.RECORD:
        why = "level 1 (record) excludes teaching"
    else:
        why = f"there is no level (status is {consent.status.value})"
    raise ConsentValidationError(
        "also_teaching", f"may be True only when level is 3 (specified): {why}"
    )


def validate_consent(
    consent: Consent, *, patient: Patient | None = None, study: Study | None = None
) -> None:
    """Check ``consent`` against every rule of template CONSENT1 (TEMPLATE.md, "Rules").

    With ``patient`` the child rules are checked; with ``study`` the same-study rules.
    """
    status = consent.status
    if not isinstance(status, ConsentStatus):
        raise ConsentValidationError("status", f"{status!r} is not a ConsentStatus")
    if not isinstance(consent.decided_at, datetime.datetime):
        raise ConsentValidationError("decided_at", "must be a datetime.datetime")
    check_person_name(consent.recorded_by, "recorded_by")

    # level and purpose: only a given consent has a scope (R3)
    if status is ConsentStatus.GIVEN:
        _require(consent, "level", "when status is given")
    else:
        _forbid(consent, "level", f"unless status is given (status is {status.value})")
    if consent.level is not None and consent.level.number == 3:
        check_specified_purpose(consent.purpose, "purpose")
    else:
        _forbid(consent, "purpose", "unless level is 3 (specified)")
    _check_also_teaching(consent)

    # who decided (R4)
    decided_by_someone = status in (
        ConsentStatus.GIVEN,
        ConsentStatus.REFUSED,
        ConsentStatus.WITHDRAWN,
    )
    if decided_by_someone:
        _require(consent, "consenter", f"when status is {status.value}")
    else:
        _forbid(consent, "consenter", f"when status is {status.value} (nobody decided)")
    if consent.consenter is not None and not consent.consenter.is_patient:
        _require(consent, "consenter_name", f"when the consenter is a {consent.consenter.value}")
        check_person_name(consent.consenter_name, "consenter_name")
    else:
        _forbid(
            consent,
            "consenter_name",
            "when the consenter is the patient (the patient's name is in the header)",
        )

    # how (R2) and on what basis without consent (R8, R9)
    if status is ConsentStatus.GIVEN:
        _require(consent, "form", "when status is given (written or verbal-recorded)")
    elif not decided_by_someone:
        _forbid(consent, "form", f"when status is {status.value}")
    if status is ConsentStatus.IMPLICIT:
        _require(consent, "basis", "when status is implicit")
    else:
        _forbid(consent, "basis", f"unless status is implicit (status is {status.value})")
    if consent.basis is ConsentBasis.VITAL_INTERESTS:
        _require(consent, "authorised_by", "when the basis is vital-interests (R9)")
        check_person_name(consent.authorised_by, "authorised_by")
    else:
        _forbid(consent, "authorised_by", "unless the basis is vital-interests")

    for name in ("circumstances", "intimate_justification", "comment"):
        value = getattr(consent, name)
        if value is not None:
            check_text(value, name)

    # references
    study_uid = study.study_instance_uid if study is not None else None
    if not consent.covered:
        raise ConsentValidationError(
            "covered", "must list at least one recording (a consent covers named recordings)"
        )
    _check_refs(consent.covered, "covered", study_instance_uid=study_uid)
    if consent.signed_form is not None:
        if consent.form is not ConsentForm.WRITTEN:
            raise ConsentValidationError(
                "signed_form", "only a written consent has a signed form (form is not written)"
            )
        _check_in_study(consent.signed_form, "signed_form", study_uid)
        if consent.signed_form.sop_class_uid != ENCAPSULATED_PDF_STORAGE:
            raise ConsentValidationError(
                "signed_form", "must reference an Encapsulated PDF (see build_consent_form_pdf)"
            )
        if consent.signed_form.sop_instance_uid in {r.sop_instance_uid for r in consent.covered}:
            raise ConsentValidationError("signed_form", "is also listed in covered")
    _check_refs(consent.supersedes, "supersedes", study_instance_uid=None)
    for i, ref in enumerate(consent.supersedes):
        if ref.sop_class_uid not in SR_STORAGE_CLASSES:
            raise ConsentValidationError(
                f"supersedes[{i}]", f"{ref.sop_class_uid} is not an SR storage SOP class"
            )
    if status is ConsentStatus.WITHDRAWN and not consent.supersedes:
        raise ConsentValidationError(
            "supersedes", "a withdrawal must reference the consent document it withdraws"
        )

    if patient is not None:
        _validate_for_patient(consent, patient)


def _validate_for_patient(consent: Consent, patient: Patient) -> None:
    age = patient.age_on(consent.decided_at.date())
    if age is None:
        return
    if age < 0:
        raise ConsentValidationError("decided_at", "is before the patient's birth date")
    is_child = age < ADULT_AGE
    if consent.consenter is Consenter.FRASER_COMPETENT_CHILD and not is_child:
        raise ConsentValidationError(
            "consenter",
            f"a Fraser-competent child must be under {ADULT_AGE}; the patient was {age}",
        )
    if is_child and consent.status is ConsentStatus.GIVEN and consent.circumstances is None:
        raise ConsentValidationError(
            "circumstances",
            f"required for a child's consent (the patient was {age}; rule R10)",
        )
