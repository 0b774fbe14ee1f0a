"""The scanned signed consent form as an Encapsulated PDF (PS3.3 A.45.1).

The form goes in the same study as the consent SR that references it (item
SIGNED-FORM of template CONSENT1). Only real PDF bytes are accepted.
"""

from __future__ import annotations

import datetime
import re

from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage

from consent_sr import codes
from consent_sr._header import base_dataset, check_identity, check_uid_root, uid_or_new
from consent_sr.errors import ConsentValidationError
from consent_sr.model import Patient, Study
from consent_sr.validate import check_long_string

__all__ = ["build_consent_form_pdf", "check_pdf", "read_consent_form_pdf"]

DEFAULT_TITLE = "Signed consent to clinical photography"
_HEADER = re.compile(rb"%PDF-[12]\.\d")
_MAX_LENGTH = 0xFFFFFFFE  # largest even OB value length


def check_pdf(pdf_bytes: object, argument: str = "pdf_bytes") -> bytes:
    """Return the bytes if they are a complete PDF file (ISO 32000-2 7.5.2, 7.5.5):
    a ``%PDF-1.x``/``%PDF-2.x`` header at the start and ``%%EOF`` at the end."""
    if not isinstance(pdf_bytes, (bytes, bytearray, memoryview)):
        raise ConsentValidationError(argument, f"expected bytes, got {type(pdf_bytes).__name__}")
    data = bytes(pdf_bytes)
    if not data:
        raise ConsentValidationError(argument, "is empty")
    if not _HEADER.match(data):
        raise ConsentValidationError(argument, "is not a PDF (no %PDF-1.x or %PDF-2.x header)")
    if b"%%EOF" not in data[-1024:]:
        raise ConsentValidationError(argument, "is not a complete PDF (no %%EOF marker at the end)")
    if len(data) > _MAX_LENGTH:
        raise ConsentValidationError(argument, "is too large to encapsulate")
    return data


def build_consent_form_pdf(
    pdf_bytes: bytes,
    *,
    patient: Patient,
    study: Study,
    series_instance_uid: str | None = None,
    series_number: int = 1,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    document_title: str = DEFAULT_TITLE,
    manufacturer: str = "photopacs",
    institution_name: str | None = None,
    uid_root: str | None = None,
    content_datetime: datetime.datetime | None = None,
) -> Dataset:
    """Build an Encapsulated PDF dataset (with file meta) holding the scanned form.

    Its document title concept is (59284-0, LN, "Patient Consent"); the SC
    Equipment Conversion Type is SD (scanned document), PS3.3 C.8.6.1.
    Reference it from the consent with ``InstanceRef.from_dataset(ds)``.
    """
    data = check_pdf(pdf_bytes)
    check_identity(patient, study)
    prefix = check_uid_root(uid_root)
    series_uid = uid_or_new(series_instance_uid, "series_instance_uid", prefix)
    sop_uid = uid_or_new(sop_instance_uid, "sop_instance_uid", prefix)
    check_long_string(document_title, "document_title", max_length=1024)
    created = content_datetime if content_datetime is not None else datetime.datetime.now()
    if not isinstance(created, datetime.datetime):
        raise ConsentValidationError("content_datetime", "must be a datetime.datetime")

    ds = base_dataset(
        sop_class_uid=EncapsulatedPDFStorage,
        sop_instance_uid=sop_uid,
        patient=patient,
        study=study,
        modality="DOC",
        series_instance_uid=series_uid,
        series_number=series_number,
        instance_number=instance_number,
        manufacturer=manufacturer,
        institution_name=institution_name,
        created=created,
    )
    # SC Equipment, PS3.3 C.8.6.1
    ds.ConversionType = "SD"
    # Encapsulated Document, PS3.3 C.24.2
    ds.AcquisitionDateTime = created.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the form names the patient
    ds.DocumentTitle = document_title
    concept = Dataset()
    concept.CodeValue = codes.DOCUMENT_TITLE.value
    concept.CodingSchemeDesignator = codes.DOCUMENT_TITLE.scheme_designator
    concept.CodeMeaning = codes.DOCUMENT_TITLE.meaning
    ds.ConceptNameCodeSequence = [concept]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = data + b"\x00" if len(data) % 2 else data
    ds.EncapsulatedDocumentLength = len(data)
    return ds


def read_consent_form_pdf(ds: Dataset) -> bytes:
    """The PDF bytes of an Encapsulated PDF dataset, without the padding byte."""
    if str(ds.get("SOPClassUID", "")) != EncapsulatedPDFStorage:
        raise ConsentValidationError("ds", "is not an Encapsulated PDF")
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length is not None and 0 < int(length) <= len(data):
        return data[: int(length)]
    return data[:-1] if data.endswith(b"\x00") and len(data) % 2 == 0 else data
