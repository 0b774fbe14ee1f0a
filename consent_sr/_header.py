"""Modules shared by the consent SR and the Encapsulated PDF (PS3.3 A.35.3, A.45.1):
Patient, General Study, series, General Equipment and SOP Common; UIDs; dates."""

from __future__ import annotations

import datetime
import re

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DA, TM

from consent_sr.enum import PatientSex
from consent_sr.errors import ConsentValidationError
from consent_sr.model import Patient, Study
from consent_sr.validate import check_long_string, check_person_name, check_uid

CHARACTER_SET = "ISO_IR 192"
"""Specific Character Set (0008,0005) of everything built here: UTF-8 (PS3.3 C.12.1.1.2)."""

_UID_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def check_uid_root(uid_root: str | None) -> str | None:
    """An organisation UID root to prefix new UIDs with; None means 2.25 UUID UIDs."""
    if uid_root is None:
        return None
    root = uid_root.rstrip(".") if isinstance(uid_root, str) else uid_root
    if not isinstance(root, str) or not _UID_ROOT.match(root) or len(root) > 48:
        raise ConsentValidationError(
            "uid_root", f"{uid_root!r} is not a UID root of at most 48 characters"
        )
    return root + "."


def new_uid(uid_root: str | None) -> str:
    """A new UID under ``uid_root`` (already checked), else a 2.25 UUID-derived UID."""
    return str(generate_uid(prefix=uid_root))


def uid_or_new(value: str | None, argument: str, uid_root: str | None) -> str:
    """The caller's UID checked (as ``argument``), or a new one under ``uid_root``."""
    return new_uid(uid_root) if value is None else check_uid(value, argument)


def check_identity(patient: Patient, study: Study) -> None:
    """Validate the patient and study arguments of a builder."""
    if not isinstance(patient, Patient):
        raise ConsentValidationError("patient", "must be a consent_sr.Patient")
    if not isinstance(study, Study):
        raise ConsentValidationError("study", "must be a consent_sr.Study")
    check_long_string(patient.patient_id, "patient.patient_id")
    if not patient.patient_id.strip():
        raise ConsentValidationError("patient.patient_id", "must not be empty")
    check_person_name(patient.name, "patient.name", allow_empty=True, require_caret=False)
    if patient.birth_date is not None and not isinstance(patient.birth_date, datetime.date):
        raise ConsentValidationError("patient.birth_date", "must be a datetime.date")
    if patient.sex is not None and not isinstance(patient.sex, PatientSex):
        raise ConsentValidationError("patient.sex", "must be a PatientSex")
    check_uid(study.study_instance_uid, "study.study_instance_uid")
    if study.accession_number is not None:
        check_long_string(study.accession_number, "study.accession_number", max_length=16)
    if study.study_id is not None:
        check_long_string(study.study_id, "study.study_id", max_length=16)


def base_dataset(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    patient: Patient,
    study: Study,
    modality: str,
    series_instance_uid: str,
    series_number: int,
    instance_number: int,
    manufacturer: str,
    institution_name: str | None,
    created: datetime.datetime,
) -> Dataset:
    """Dataset with file meta, SOP Common, Patient, General Study, series and equipment."""
    for argument, number in (
        ("series_number", series_number),
        ("instance_number", instance_number),
    ):
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number < 2**31:
            raise ConsentValidationError(argument, f"must be a positive integer, got {number!r}")
    check_long_string(manufacturer, "manufacturer")
    if institution_name is not None:
        check_long_string(institution_name, "institution_name")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = CHARACTER_SET
    # SOP Common, PS3.3 C.12.1
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = DA(created.date())
    ds.InstanceCreationTime = TM(created.time().replace(tzinfo=None))
    # Patient, PS3.3 C.7.1.1
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = "" if patient.birth_date is None else DA(patient.birth_date)
    ds.PatientSex = "" if patient.sex is None else patient.sex.value
    # General Study, PS3.3 C.7.2.1
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = "" if study.study_date is None else DA(study.study_date)
    ds.StudyTime = "" if study.study_time is None else TM(study.study_time)
    ds.ReferringPhysicianName = ""
    ds.StudyID = study.study_id or ""
    ds.AccessionNumber = study.accession_number or ""
    # SR Document Series (C.17.1) / Encapsulated Document Series (C.24.1)
    ds.Modality = modality
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = series_number
    # General Equipment, PS3.3 C.7.5.1
    ds.Manufacturer = manufacturer
    if institution_name is not None:
        ds.InstitutionName = institution_name
    ds.InstanceNumber = instance_number
    ds.ContentDate = DA(created.date())
    ds.ContentTime = TM(created.time().replace(tzinfo=None))
    return ds
