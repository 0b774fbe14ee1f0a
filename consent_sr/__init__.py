"""Consent to clinical photography as DICOM structured reports.

A consent document is a Comprehensive SR (PS3.3 A.35.3) following the private
template CONSENT1 described in ``consent_sr/TEMPLATE.md``; a scanned signed form
is an Encapsulated PDF (PS3.3 A.45.1) in the same study. This package is pure
(pydicom and highdicom only): it builds and parses documents, nothing more.

    ds = build_consent_sr(consent, patient=patient, study=study)
    doc = parse_consent_sr(ds)          # doc.consent == consent
"""

from consent_sr.build import build_consent_sr
from consent_sr.enum import (
    ConsentBasis,
    Consenter,
    ConsentForm,
    ConsentLevel,
    ConsentStatus,
    PatientSex,
)
from consent_sr.errors import (
    ConsentParseError,
    ConsentSRError,
    ConsentValidationError,
    NotAConsentSR,
)
from consent_sr.model import Consent, ConsentDocument, InstanceRef, Patient, Study
from consent_sr.parse import is_consent_sr, parse_consent_sr
from consent_sr.pdf import build_consent_form_pdf, check_pdf, read_consent_form_pdf
from consent_sr.purpose import is_specific_purpose, purpose_problem
from consent_sr.validate import validate_consent

__all__ = [
    "Consent",
    "ConsentBasis",
    "ConsentDocument",
    "ConsentForm",
    "ConsentLevel",
    "ConsentParseError",
    "ConsentSRError",
    "ConsentStatus",
    "ConsentValidationError",
    "Consenter",
    "InstanceRef",
    "NotAConsentSR",
    "Patient",
    "PatientSex",
    "Study",
    "build_consent_form_pdf",
    "build_consent_sr",
    "check_pdf",
    "is_consent_sr",
    "is_specific_purpose",
    "parse_consent_sr",
    "purpose_problem",
    "read_consent_form_pdf",
    "validate_consent",
]
