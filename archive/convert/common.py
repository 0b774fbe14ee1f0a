"""What every object the converter makes carries, whatever its pixels.

Patient (PS3.3 C.7.1.1), General Study (C.7.2.1), General Series (C.7.3.1),
General Equipment (C.7.5.1), General Image (C.7.6.1), Acquisition Context
(C.7.6.14), SOP Common (C.12.1) and the anatomic region (C.8.12.1), plus UID
generation (PS3.5 9 and B.2: an organisation root, or 2.25 from a UUID).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from .errors import ConversionError
from .sites import LATERALITY_MODIFIERS, resolve_body_site

__all__ = [
    "Acquisition",
    "CaptureContext",
    "Demographics",
    "base_dataset",
    "file_meta",
    "make_uid",
    "validate_uid_root",
]

CHARACTER_SET: Final = "ISO_IR 192"  # UTF-8, PS3.3 C.12.1.1.2
SOFTWARE: Final = "photopacs archive.convert 0.1"
IMPLEMENTATION_VERSION: Final = "PHOTOPACS_01"

_UID_RE: Final = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f\\]")


def _check_uid(value: str, name: str) -> str:
    if len(value) > 64 or not _UID_RE.match(value):
        raise ConversionError(f"{name} {value!r} is not a valid DICOM UID (PS3.5 9.1)")
    return value


def validate_uid_root(root: str) -> str:
    """Check an organisation UID root leaves room for a unique suffix (PS3.5 9.1)."""
    _check_uid(root, "uid_root")
    if len(root) > 40:
        raise ConversionError(f"uid_root {root!r} is longer than 40 characters")
    return root


def make_uid(root: str | None = None) -> UID:
    """A new UID: ``<root>.<random decimal>`` or, without a root, 2.25 + UUID4 (PS3.5 B.2)."""
    if root is None:
        return UID(f"2.25.{uuid.uuid4().int}")
    validate_uid_root(root)
    suffix = str(uuid.uuid4().int)[: 63 - len(root)].lstrip("0") or "1"
    return UID(f"{root}.{suffix}")


def _check_text(value: str, name: str, limit: int) -> str:
    if _CONTROL_RE.search(value):
        raise ConversionError(f"{name} contains a control character or backslash")
    if len(value) > limit:
        raise ConversionError(f"{name} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class Demographics:
    """Who the pictures are of (PS3.3 C.7.1.1 Patient Module).

    ``name`` is a DICOM person name, ``Family^Given^Middle^Prefix^Suffix``; any
    Unicode is kept (written as UTF-8, ISO_IR 192). ``sex`` is M, F, O or None.
    """

    patient_id: str
    name: str = ""
    birth_date: dt.date | None = None
    sex: str | None = None
    issuer_of_patient_id: str | None = None

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise ConversionError("patient_id must not be empty")
        _check_text(self.patient_id, "patient_id", 64)
        for part in self.name.split("="):
            for component in part.split("^"):
                _check_text(component, "patient name component", 64)
        if self.name.count("^") > 4:
            raise ConversionError("patient name has more than five ^-separated components")
        if self.sex not in (None, "M", "F", "O"):
            raise ConversionError(f"sex must be M, F, O or None, not {self.sex!r}")
        if self.issuer_of_patient_id is not None:
            _check_text(self.issuer_of_patient_id, "issuer_of_patient_id", 64)


@dataclass(frozen=True)
class CaptureContext:
    """Where a picture belongs: encounter (study), capture session (series), site.

    Leave ``study_instance_uid`` / ``series_instance_uid`` empty for a new study
    / series; call :meth:`with_uids` once per encounter and reuse the result so
    every file of one capture session lands in the same series.
    ``body_site`` is a name such as ``"left forearm"`` (see :mod:`.sites`).
    """

    study_instance_uid: str | None = None
    accession_number: str | None = None
    study_id: str | None = None
    study_description: str | None = None
    study_datetime: dt.datetime | None = None
    referring_physician: str | None = None
    series_instance_uid: str | None = None
    series_number: int | None = 1
    series_description: str | None = None
    body_site: str | None = None
    operators: tuple[str, ...] = ()
    institution_name: str | None = None
    station_name: str | None = None
    instance_number: int = 1
    uid_root: str | None = None

    def __post_init__(self) -> None:
        for name in ("study_instance_uid", "series_instance_uid"):
            value = getattr(self, name)
            if value is not None:
                _check_uid(value, name)
        if self.uid_root is not None:
            validate_uid_root(self.uid_root)
        if self.accession_number is not None:
            _check_text(self.accession_number, "accession_number", 16)
        if self.study_id is not None:
            _check_text(self.study_id, "study_id", 16)
        for op in self.operators:
            _check_text(op, "operator name", 64 * 5)
        if self.instance_number < 1:
            raise ConversionError("instance_number must be 1 or more")
        if self.body_site is not None:
            resolve_body_site(self.body_site)

    def with_uids(self) -> CaptureContext:
        """A copy with a new study and/or series UID wherever none was given."""
        return replace(
            self,
            study_instance_uid=self.study_instance_uid or make_uid(self.uid_root),
            series_instance_uid=self.series_instance_uid or make_uid(self.uid_root),
        )

    def next_instance(self, count: int = 1) -> CaptureContext:
        """A copy whose instance numbering continues after ``count`` more objects."""
        return replace(self, instance_number=self.instance_number + count)


@dataclass(frozen=True)
class Acquisition:
    """Facts about the capture read from the file itself (EXIF, container tags)."""

    when: dt.datetime | None = None  # aware when the file gave a UTC offset
    manufacturer: str | None = None
    model: str | None = None
    notes: tuple[str, ...] = field(default=())


def _da(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def _tm(value: dt.datetime | dt.time) -> str:
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def _dt(value: dt.datetime) -> str:
    text = _da(value) + _tm(value)
    offset = value.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return text


def _lo(value: str | None, limit: int = 64) -> str:
    if not value:
        return ""
    return _CONTROL_RE.sub(" ", value).strip()[:limit]


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (PS3.3 8.8 Basic Code Sequence Macro)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def base_dataset(
    sop_class_uid: str,
    *,
    demographics: Demographics,
    context: CaptureContext,
    acquisition: Acquisition,
    image_type: Sequence[str],
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Patient, Study, Series, Equipment, General Image, Acquisition Context and
    SOP Common modules filled from the arguments (PS3.3 A.32.4 / A.32.7)."""
    if context.study_instance_uid is None or context.series_instance_uid is None:
        context = context.with_uids()
    now = dt.datetime.now().astimezone()
    when = acquisition.when
    ds = Dataset()
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.ImageType = list(image_type)
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid or make_uid(context.uid_root))
    ds.InstanceCreationDate = _da(now)
    ds.InstanceCreationTime = _tm(now)
    # A study without a known date is the encounter happening now (a new study).
    study_when = context.study_datetime or when or now
    ds.StudyDate = _da(study_when)
    ds.StudyTime = _tm(study_when)
    if when is not None:
        ds.SeriesDate = _da(when)
        ds.SeriesTime = _tm(when)
        ds.ContentDate = _da(when)
        ds.ContentTime = _tm(when)
        ds.AcquisitionDateTime = _dt(when)
    ds.AccessionNumber = context.accession_number or ""
    ds.Modality = "XC"
    ds.Manufacturer = _lo(acquisition.manufacturer)
    if context.institution_name:
        ds.InstitutionName = _lo(context.institution_name)
    ds.ReferringPhysicianName = context.referring_physician or ""
    if context.station_name:
        ds.StationName = _lo(context.station_name, 16)
    if context.study_description:
        ds.StudyDescription = _lo(context.study_description)
    if context.series_description:
        ds.SeriesDescription = _lo(context.series_description)
    if context.operators:
        ds.OperatorsName = list(context.operators)
    if acquisition.model:
        ds.ManufacturerModelName = _lo(acquisition.model)
    ds.PatientName = demographics.name
    ds.PatientID = demographics.patient_id
    if demographics.issuer_of_patient_id:
        ds.IssuerOfPatientID = demographics.issuer_of_patient_id
    ds.PatientBirthDate = _da(demographics.birth_date) if demographics.birth_date else ""
    ds.PatientSex = demographics.sex or ""
    ds.SoftwareVersions = SOFTWARE
    ds.StudyInstanceUID = context.study_instance_uid
    ds.SeriesInstanceUID = context.series_instance_uid
    ds.StudyID = context.study_id or ""
    ds.SeriesNumber = context.series_number
    ds.InstanceNumber = context.instance_number
    ds.PatientOrientation = ""
    _add_body_site(ds, context.body_site)
    if acquisition.notes:
        ds.ImageComments = "; ".join(acquisition.notes)[:10240]
    ds.AcquisitionContextSequence = []
    return ds


def _add_body_site(ds: Dataset, body_site: str | None) -> None:
    """Anatomic Region Sequence and Image Laterality (PS3.3 C.8.12.1, C.7.6.2)."""
    if body_site is None:
        ds.ImageLaterality = "U"
        return
    site = resolve_body_site(body_site)
    item = code_item(site.code, site.scheme, site.meaning)
    if site.laterality in LATERALITY_MODIFIERS:
        code, meaning = LATERALITY_MODIFIERS[site.laterality]
        item.AnatomicRegionModifierSequence = [code_item(code, "SCT", meaning)]
    ds.AnatomicRegionSequence = [item]
    ds.ImageLaterality = site.laterality


def file_meta(ds: Dataset, transfer_syntax: str) -> None:
    """Attach a File Meta Information group (PS3.10 7.1)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta


def set_rgb_pixels(ds: Dataset, rows: int, columns: int, data: bytes) -> None:
    """Image Pixel module for 8-bit interleaved RGB, uncompressed (PS3.3 C.7.6.3)."""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB"
