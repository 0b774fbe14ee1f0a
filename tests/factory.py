"""Synthetic DICOM objects for tests and benchmarks (no patient data)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def make_dataset(
    *,
    patient_id: str = "P001",
    patient_name: str = "Test^Patient",
    birth_date: str = "19700101",
    sex: str = "F",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    sop_class: str = VL_ENDOSCOPIC,
    modality: str = "ES",
    study_date: str = "20260101",
    study_time: str = "120000",
    accession: str = "ACC1",
    study_id: str = "S1",
    study_description: str = "Wound photography",
    referring: str = "Ref^Doctor",
    series_number: int = 1,
    series_description: str = "Session 1",
    body_part: str = "ARM",
    instance_number: int = 1,
    content_date: str = "20260101",
    content_time: str = "120000",
    charset: str | Sequence[str] | None = "ISO_IR 192",
    pixel_bytes: int = 64,
) -> Dataset:
    """An uncompressed 8-bit greyscale image object with the given identity.

    By default a VL Endoscopic image: implicit consent (R8) makes it visible for
    care on arrival, so tests about matching need no consent. Pass
    ``sop_class=VL_PHOTO, modality="XC"`` for a photo that needs consent.
    """
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.ContentDate = content_date
    ds.ContentTime = content_time
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.ReferringPhysicianName = referring
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.BodyPartExamined = body_part
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    side = 8
    rows = max(1, pixel_bytes // side)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = side
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(i % 256 for i in range(rows * side))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def make_instance(**kwargs: object) -> bytes:
    return encode(make_dataset(**kwargs))  # type: ignore[arg-type]
