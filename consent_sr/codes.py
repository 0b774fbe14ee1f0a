"""Every code of template CONSENT1 (TEMPLATE.md), and how reading maps codes back.

Standard codes are used where PS3.16, SNOMED CT or LOINC have one; the rest are
in the private coding scheme ``99PHOTOPACS``, declared in each document's Coding
Scheme Identification Sequence (0008,0110) with a fixed UID (PS3.3 C.12.1.1.4,
PS3.16 Section 8 "Coding Schemes").
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

from pydicom.dataset import Dataset
from pydicom.sr._snomed_dict import mapping as snomed_mapping
from pydicom.sr.coding import Code

from consent_sr.enum import ConsentBasis, Consenter, ConsentForm, ConsentLevel, ConsentStatus

__all__ = [
    "DCM",
    "LN",
    "PRIVATE_SCHEME",
    "PRIVATE_SCHEME_NAME",
    "PRIVATE_SCHEME_UID",
    "SCT",
    "TEMPLATE_ID",
    "TEMPLATE_MAPPING_RESOURCE",
    "TEMPLATE_MAPPING_RESOURCE_UID",
    "CodeKey",
    "code_key",
]

DCM = "DCM"
SCT = "SCT"
LN = "LN"

PRIVATE_SCHEME = "99PHOTOPACS"
"""Coding Scheme Designator of the private codes (the ``99`` prefix marks it local)."""
PRIVATE_SCHEME_UID = "2.25.205396652338487377826127245960514262760"
PRIVATE_SCHEME_NAME = "photopacs clinical photography consent codes"
PRIVATE_SCHEME_VERSION = "1"
PRIVATE_SCHEME_ORGANIZATION = "photopacs"

TEMPLATE_MAPPING_RESOURCE = "99PHOTOPACS"
"""Mapping Resource (0008,0105) of the template, in Content Template Sequence (0040,A504)."""
TEMPLATE_MAPPING_RESOURCE_UID = "2.25.143789775240414515577591748947393532525"
TEMPLATE_ID = "CONSENT1"


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# -- document level ---------------------------------------------------------------

DOCUMENT_TITLE = Code("59284-0", LN, "Patient Consent")
"""Root container concept name; also the Encapsulated PDF's document title."""
PROCEDURE_PHOTOGRAPHY = Code("197157006", SCT, "Photography of patient")
"""Performed Procedure Code Sequence (0040,A372) of the SR."""

# -- observer context, PS3.16 TID 1002 / TID 1003 ---------------------------------

OBSERVER_TYPE = Code("121005", DCM, "Observer Type")
OBSERVER_PERSON = Code("121006", DCM, "Person")
PERSON_OBSERVER_NAME = Code("121008", DCM, "Person Observer Name")

# -- concept names of the content items ---------------------------------------------

CONSENT_STATUS = _private("CONSENT-STATUS", "Consent status")
CONSENT_LEVEL = _private("CONSENT-LEVEL", "Consent level")
SPECIFIED_PURPOSE = _private("PURPOSE", "Specified additional purpose")
ALSO_PERMITTED = _private("ALSO-PERMITTED", "Also permitted use")
"""A use a level-3 consent permits besides care and the specified purpose."""
CONSENTER = _private("CONSENTER", "Person making the consent decision")
PERSON_NAME = Code("113870", DCM, "Person Name")
"""Name of a consenter who is not the patient (HAS PROPERTIES of CONSENTER)."""
DECISION_DATETIME = _private("DECISION-DT", "Consent decision date-time")
CONSENT_FORM = _private("CONSENT-FORM", "Form of consent")
BASIS = _private("NO-CONSENT-BASIS", "Basis for recording without consent")
AUTHORISED_BY = _private("AUTHORISED-BY", "Consultant authorising recording")
CIRCUMSTANCES = _private("CIRCUMSTANCES", "Circumstances of consent")
INTIMATE_JUSTIFICATION = _private(
    "INTIMATE-JUSTIF", "Clinical justification for intimate-area recording"
)
SIGNED_FORM = _private("SIGNED-FORM", "Scanned signed consent form")
COVERED = _private("COVERED", "Recording covered by this consent document")
COMMENT = Code("121106", DCM, "Comment")

# -- coded values ------------------------------------------------------------------

FOR_TEACHING = Code("113004", DCM, "For Teaching")
"""Value of ALSO_PERMITTED: teaching (PS3.16 CID 7010, Key Object Selection
Document Title, where it marks objects selected for teaching)."""

STATUS_CODES: Mapping[ConsentStatus, Code] = {
    ConsentStatus.GIVEN: Code("122004", DCM, "Patient informed consent given"),
    ConsentStatus.REFUSED: _private("REFUSED", "Consent refused"),
    ConsentStatus.WITHDRAWN: _private("WITHDRAWN", "Consent withdrawn"),
    ConsentStatus.PENDING_RETROSPECTIVE: _private(
        "PENDING-RETRO", "Consent pending, to be sought retrospectively"
    ),
    ConsentStatus.IMPLICIT: _private("IMPLICIT", "Recorded without explicit consent"),
}
LEVEL_CODES: Mapping[ConsentLevel, Code] = {
    ConsentLevel.RECORD: _private("LEVEL-1", "Medical record only"),
    ConsentLevel.TEACHING: _private("LEVEL-2", "Medical record and teaching"),
    ConsentLevel.SPECIFIED: _private("LEVEL-3", "Specified additional purpose"),
}
CONSENTER_CODES: Mapping[Consenter, Code] = {
    Consenter.PATIENT: Code("121025", DCM, "Patient"),
    Consenter.PARENT: Code("40683002", SCT, "Parent"),
    Consenter.LEGAL_GUARDIAN: Code("58626002", SCT, "Legal guardian"),
    Consenter.FRASER_COMPETENT_CHILD: _private("FRASER-CHILD", "Fraser-competent child"),
    Consenter.PERSONAL_REPRESENTATIVE: _private(
        "PERSONAL-REP", "Personal representative of a deceased patient"
    ),
    Consenter.REPRESENTATIVE: _private(
        "LAWFUL-REP", "Person with lawful authority for an adult lacking capacity"
    ),
}
FORM_CODES: Mapping[ConsentForm, Code] = {
    ConsentForm.WRITTEN: _private("WRITTEN", "Written consent"),
    ConsentForm.VERBAL_RECORDED: _private("VERBAL-RECORDED", "Verbal consent, recorded"),
}
BASIS_CODES: Mapping[ConsentBasis, Code] = {
    ConsentBasis.IMPLICIT_PROCEDURE: _private("IMPLICIT-PROC", "Implicit consent procedure"),
    ConsentBasis.VITAL_INTERESTS: _private(
        "VITAL-INTERESTS", "Consultant-authorised, patient's vital interests"
    ),
}

ALL_PRIVATE_CODES: tuple[Code, ...] = tuple(
    code
    for code in (
        CONSENT_STATUS,
        CONSENT_LEVEL,
        SPECIFIED_PURPOSE,
        ALSO_PERMITTED,
        CONSENTER,
        DECISION_DATETIME,
        CONSENT_FORM,
        BASIS,
        AUTHORISED_BY,
        CIRCUMSTANCES,
        INTIMATE_JUSTIFICATION,
        SIGNED_FORM,
        COVERED,
        *STATUS_CODES.values(),
        *LEVEL_CODES.values(),
        *CONSENTER_CODES.values(),
        *FORM_CODES.values(),
        *BASIS_CODES.values(),
    )
    if code.scheme_designator == PRIVATE_SCHEME
)

# -- reading: equivalent codes and schemes -----------------------------------------

_E = TypeVar("_E", bound=Enum)

CodeKey = tuple[str, str]
"""A code reduced to (canonical scheme designator, code value) for comparison."""

_SCHEME_ALIASES: Mapping[str, str] = {
    "SRT": SCT,  # SNOMED-RT designator, retired by PS3.16 in favour of SCT
    "SNM3": SCT,
    "LNC": LN,  # UMLS / some HL7 v2 feeds spell LOINC "LNC"
    "LOINC": LN,
}

_SYNONYMS: Mapping[CodeKey, CodeKey] = {
    # SNOMED CT "Patient (person)" read as DICOM's (121025, DCM, "Patient")
    ("SCT", "116154003"): ("DCM", "121025"),
}


def private_designators(ds: Dataset) -> frozenset[str]:
    """Designators a document uses for our private scheme.

    ``99PHOTOPACS`` always; also any designator that the document's Coding Scheme
    Identification Sequence binds to ``PRIVATE_SCHEME_UID`` (PS3.3 C.12.1.1.4).
    """
    designators = {PRIVATE_SCHEME}
    for item in ds.get("CodingSchemeIdentificationSequence", None) or []:
        if str(item.get("CodingSchemeUID", "")) == PRIVATE_SCHEME_UID:
            designator = str(item.get("CodingSchemeDesignator", "")).strip()
            if designator:
                designators.add(designator)
    return frozenset(designators)


def code_key(
    scheme: str, value: str, *, private: frozenset[str] = frozenset({PRIVATE_SCHEME})
) -> CodeKey:
    """Reduce a coded concept to a comparable key, mapping equivalent schemes."""
    scheme = scheme.strip()
    value = value.strip()
    if scheme in private:
        return (PRIVATE_SCHEME, value.upper())
    scheme = _SCHEME_ALIASES.get(scheme.upper(), scheme)
    if scheme == SCT:
        value = snomed_mapping["SRT"].get(value, value)
    key = (scheme, value)
    return _SYNONYMS.get(key, key)


def key_of(code: Code) -> CodeKey:
    """The key of one of our own codes."""
    return code_key(code.scheme_designator, code.value)


def reverse(table: Mapping[_E, Code]) -> dict[CodeKey, _E]:
    """Key -> enum member lookup for reading."""
    return {key_of(code): member for member, code in table.items()}
