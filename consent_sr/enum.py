"""Coded values of the consent model (photopacs template CONSENT1, see TEMPLATE.md).

Each enum member's value is a stable lower-case token, handy for storage in the
archive index; the DICOM codes that represent each member live in ``codes.py``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConsentBasis",
    "ConsentForm",
    "ConsentLevel",
    "ConsentStatus",
    "Consenter",
    "PatientSex",
]


class ConsentStatus(StrEnum):
    """What the document records about consent (rules R2, R5, R6, R8, R9)."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    PENDING_RETROSPECTIVE = "pending-retrospective"
    """Recorded without consent (e.g. unconscious patient); consent to be sought."""
    IMPLICIT = "implicit"
    """No consent sought: an implicit-consent procedure or vital interests."""


class ConsentLevel(StrEnum):
    """Scope of a given consent (rule R3)."""

    RECORD = "record"
    """Level 1: medical record only."""
    TEACHING = "teaching"
    """Level 2: medical record and teaching."""
    SPECIFIED = "specified"
    """Level 3: a specified additional purpose, named in ``Consent.purpose``."""

    @property
    def number(self) -> int:
        """The level's number (1, 2 or 3) as printed on consent forms."""
        return {"record": 1, "teaching": 2, "specified": 3}[self.value]


class Consenter(StrEnum):
    """Who made the consent decision (rule R4)."""

    PATIENT = "patient"
    PARENT = "parent"
    LEGAL_GUARDIAN = "legal-guardian"
    FRASER_COMPETENT_CHILD = "fraser-competent-child"
    """The patient, a child judged competent to decide for themself."""
    PERSONAL_REPRESENTATIVE = "personal-representative"
    """Personal representative of a deceased patient."""
    REPRESENTATIVE = "representative"
    """Someone with lawful authority to decide for an adult who lacks capacity
    (a health and welfare attorney, a court-appointed deputy)."""

    @property
    def is_patient(self) -> bool:
        """Whether the consenter is the patient (so no separate name is recorded)."""
        return self in (Consenter.PATIENT, Consenter.FRASER_COMPETENT_CHILD)


class ConsentForm(StrEnum):
    """How the decision was expressed (rule R2)."""

    WRITTEN = "written"
    VERBAL_RECORDED = "verbal-recorded"


class ConsentBasis(StrEnum):
    """Why recording went ahead without consent (status IMPLICIT; rules R8, R9)."""

    IMPLICIT_PROCEDURE = "implicit-procedure"
    """Endoscopy, ultrasound, X-ray, pathology slides, internal organs (R8)."""
    VITAL_INTERESTS = "vital-interests"
    """Consultant-authorised, e.g. non-accidental injury; care use only (R9)."""


class PatientSex(StrEnum):
    """Patient's Sex (0010,0040), PS3.3 C.7.1.1."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
