"""Shared inputs for the consent_sr tests: patients, a study, recordings, a PDF,
every valid combination of the consent model, and the dciodvfy allow-list."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from consent_sr import (
    Consent,
    ConsentBasis,
    Consenter,
    ConsentForm,
    ConsentLevel,
    ConsentStatus,
    InstanceRef,
    Patient,
    PatientSex,
    Study,
)
from tests.support import dciodvfy

VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"
VIDEO_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"

STUDY_UID = "2.25.300000000000000000000000000000000001"
PHOTO_SERIES = "2.25.300000000000000000000000000000000002"
VIDEO_SERIES = "2.25.300000000000000000000000000000000003"
OTHER_STUDY = "2.25.300000000000000000000000000000000099"

DECIDED = datetime.datetime(2025, 3, 4, 9, 30, 15, tzinfo=datetime.UTC)
CREATED = datetime.datetime(2025, 3, 4, 11, 0, 0)

ADULT = Patient(
    patient_id="RX1234567",
    name="Ó Briain^Siobhán",
    birth_date=datetime.date(1971, 6, 2),
    sex=PatientSex.FEMALE,
)
CHILD = Patient(
    patient_id="RX7654321",
    name="Nguyễn^Minh",
    birth_date=datetime.date(2014, 9, 30),
    sex=PatientSex.MALE,
)
STUDY = Study(
    study_instance_uid=STUDY_UID,
    accession_number="ACC-0042",
    study_id="MI42",
    study_date=datetime.date(2025, 3, 4),
    study_time=datetime.time(9, 15, 0),
)

PHOTOS = (
    InstanceRef(STUDY_UID, PHOTO_SERIES, VL_PHOTO, "2.25.300000000000000000000000000000000011"),
    InstanceRef(STUDY_UID, PHOTO_SERIES, VL_PHOTO, "2.25.300000000000000000000000000000000012"),
)
VIDEO = InstanceRef(
    STUDY_UID, VIDEO_SERIES, VIDEO_PHOTO, "2.25.300000000000000000000000000000000021"
)
COVERED = (*PHOTOS, VIDEO)
PRIOR_SR = InstanceRef(
    STUDY_UID,
    "2.25.300000000000000000000000000000000031",
    COMPREHENSIVE_SR,
    "2.25.300000000000000000000000000000000032",
)

PURPOSE = "Case report in Clinical and Experimental Dermatology, 2026 (Smith et al.)"


def minimal_pdf(text: str = "Consent form") -> bytes:
    """A small, well-formed one-page PDF with a correct cross-reference table."""
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def image_dataset(ref: InstanceRef) -> Dataset:
    """A stand-in for a stored photo: just the identifying attributes."""
    ds = Dataset()
    ds.StudyInstanceUID = ref.study_instance_uid
    ds.SeriesInstanceUID = ref.series_instance_uid
    ds.SOPClassUID = ref.sop_class_uid
    ds.SOPInstanceUID = ref.sop_instance_uid
    return ds


@dataclass(frozen=True)
class Case:
    """One valid consent, the patient it is about, and a readable id."""

    id: str
    consent: Consent
    patient: Patient


def consent(**overrides: Any) -> Consent:
    """A valid level-2 written consent by an adult patient, with overrides."""
    values: dict[str, Any] = {
        "status": ConsentStatus.GIVEN,
        "decided_at": DECIDED,
        "recorded_by": "Photographer^Pat",
        "covered": COVERED,
        "level": ConsentLevel.TEACHING,
        "consenter": Consenter.PATIENT,
        "form": ConsentForm.WRITTEN,
    }
    values.update(overrides)
    return Consent(**values)


def _consenter_fields(consenter: Consenter) -> tuple[dict[str, Any], Patient]:
    fields: dict[str, Any] = {"consenter": consenter}
    if not consenter.is_patient:
        fields["consenter_name"] = "Ó Briain^Ciarán"
    child = consenter in (
        Consenter.PARENT,
        Consenter.LEGAL_GUARDIAN,
        Consenter.FRASER_COMPETENT_CHILD,
    )
    return fields, CHILD if child else ADULT


def valid_cases() -> list[Case]:
    """Every valid status/level/consenter/form/basis combination (level 3 with and
    without also_teaching)."""
    cases: list[Case] = []
    for consenter in Consenter:
        fields, patient = _consenter_fields(consenter)
        if patient is CHILD:
            fields["circumstances"] = "Seen with mother in clinic; child agreed to photographs."
        for level in ConsentLevel:
            for form in ConsentForm:
                extra = {"purpose": PURPOSE} if level is ConsentLevel.SPECIFIED else {}
                cases.append(
                    Case(
                        f"given-{level.value}-{consenter.value}-{form.value}",
                        consent(level=level, form=form, **fields, **extra),
                        patient,
                    )
                )
                if level is ConsentLevel.SPECIFIED:  # level 3 + teaching
                    cases.append(
                        Case(
                            f"given-{level.value}+teaching-{consenter.value}-{form.value}",
                            consent(level=level, form=form, also_teaching=True, **fields, **extra),
                            patient,
                        )
                    )
        for status in (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN):
            for form in (None, *ConsentForm):
                supersedes = (PRIOR_SR,) if status is ConsentStatus.WITHDRAWN else ()
                cases.append(
                    Case(
                        f"{status.value}-{consenter.value}-{form or 'no-form'}",
                        consent(
                            status=status,
                            level=None,
                            form=form,
                            supersedes=supersedes,
                            **fields,
                        ),
                        patient,
                    )
                )
    cases.append(
        Case(
            "pending-retrospective",
            consent(
                status=ConsentStatus.PENDING_RETROSPECTIVE,
                level=None,
                consenter=None,
                form=None,
                comment="Unconscious on admission; consent to be sought on recovery.",
            ),
            ADULT,
        )
    )
    cases.append(
        Case(
            "implicit-procedure",
            consent(
                status=ConsentStatus.IMPLICIT,
                level=None,
                consenter=None,
                form=None,
                basis=ConsentBasis.IMPLICIT_PROCEDURE,
            ),
            ADULT,
        )
    )
    cases.append(
        Case(
            "implicit-vital-interests",
            consent(
                status=ConsentStatus.IMPLICIT,
                level=None,
                consenter=None,
                form=None,
                basis=ConsentBasis.VITAL_INTERESTS,
                authorised_by="Okafor^Adaeze^^Dr",
                circumstances="Injuries suggestive of non-accidental injury.",
            ),
            CHILD,
        )
    )
    cases.append(
        Case(
            "given-intimate-with-justification",
            consent(
                intimate_justification="Monitoring of perianal Crohn's disease; no alternative.",
                comment="Chaperone present: Nurse^Jo.",
            ),
            ADULT,
        )
    )
    return cases


def write_and_read(ds: Dataset, path: Path) -> Dataset:
    """Write as a DICOM Part 10 file, then read it back as another system would."""
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


# dciodvfy warnings accepted on our documents, each with its reason. Anything
# else it says fails the test. The private coding scheme and template mapping
# resource are private by design (TEMPLATE.md section 7) and declared in the
# document; dciodvfy only knows the standard defined terms.
PRIVATE_SCHEME_UID = "2.25.205396652338487377826127245960514262760"
TEMPLATE_RESOURCE_UID = "2.25.143789775240414515577591748947393532525"


def _unrecognised(attribute: str, value: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"{attribute}[1]> - Unrecognized defined term = <{value}>") + "$")


DCIODVFY_ALLOWED = (
    (
        _unrecognised("CodingSchemeDesignator(0008,0102)", "99PHOTOPACS"),
        "private coding scheme designator, declared in (0008,0110)",
    ),
    (
        _unrecognised("CodingSchemeUID(0008,010c)", PRIVATE_SCHEME_UID),
        "UID of the private coding scheme",
    ),
    (
        _unrecognised("MappingResource(0008,0105)", "99PHOTOPACS"),
        "private template mapping resource",
    ),
    (
        _unrecognised("MappingResourceUID(0008,0118)", TEMPLATE_RESOURCE_UID),
        "UID of the private mapping resource",
    ),
)


def unexpected_dciodvfy_findings(path: Path) -> list[str]:
    """dciodvfy errors, plus warnings not on the allow-list."""
    result = dciodvfy(path)
    unexpected = list(result.errors)
    for warning in result.warnings:
        if not any(pattern.search(warning) for pattern, _ in DCIODVFY_ALLOWED):
            unexpected.append(warning)
    return unexpected
