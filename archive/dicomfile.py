"""Reading what the archive needs from a stored DICOM Part 10 file.

Strict about structure (a truncated file or an element running past the end
of the file is refused), tolerant about content (a malformed IS value is
indexed as empty; an undeclared non-ASCII text value is kept and flagged).
Pixel data is never loaded: its extent is checked by walking the
encapsulated items, so a 2 GB video costs no memory.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    RE_VALID_UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import PersonName

from archive.errors import InvalidObject, MismatchedObject, MissingAttribute

PIXEL_DATA = 0x7FE00010
ITEM, SEQ_DELIM = 0xFFFEE000, 0xFFFEE0DD


@dataclass(frozen=True)
class ObjectAttributes:
    """The index's view of one object (values decoded to Python text)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    study_instance_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    instance_number: int | None
    content_date: str
    content_time: str
    number_of_frames: int | None
    specific_character_set: str
    charset_undeclared: bool
    acquisition_date: str = ""
    anatomic_region_codes: tuple[str, ...] = ()
    # A derived object's source: the first Source Image Sequence reference (R12).
    source_uid: str = ""


def valid_uid(value: str) -> bool:
    """PS3.5 9.1, with pydicom's pattern; not ``UID(value).is_valid``, which warns
    and logs for every invalid value (hostile input would flood the log)."""
    return len(value) <= 64 and bool(RE_VALID_UID.match(value))


def normalise_time(value: str) -> str:
    """DICOM TM to ``HHMMSS[.ffffff]`` so that text order is time order."""
    value = value.strip().replace(":", "")
    if not value:
        return ""
    main, _, frac = value.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return value
    main = main.ljust(6, "0")
    return f"{main}.{frac}" if frac else main


def _text(ds: Dataset, keyword: str) -> str:
    if keyword not in ds:
        return ""
    value: Any = ds[keyword].value
    if value is None:
        return ""
    if isinstance(value, PersonName):
        return str(value).strip()
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds[keyword].value if keyword in ds else None
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _has_non_ascii(ds: Dataset) -> bool:
    for tag in list(ds.keys()):
        elem = ds.get_item(tag)
        if (
            isinstance(elem, RawDataElement)
            and elem.VR
            in (
                "SH",
                "LO",
                "ST",
                "LT",
                "UT",
                "PN",
                "UC",
            )
            and isinstance(elem.value, bytes)
            and any(b > 0x7F for b in elem.value)
        ):
            return True
    return False


def _decode_undeclared(ds: Dataset) -> None:
    """No Specific Character Set but 8-bit text: keep the bytes, decode them
    as UTF-8 when they are valid UTF-8, else as Latin-1 (never a crash)."""
    for tag in list(ds.keys()):
        elem = ds.get_item(tag)
        if not (isinstance(elem, RawDataElement) and isinstance(elem.value, bytes)):
            continue
        if elem.VR not in ("SH", "LO", "ST", "LT", "UT", "PN", "UC"):
            continue
        try:
            text = elem.value.decode("utf-8")
        except UnicodeDecodeError:
            text = elem.value.decode("latin-1")
        text = text.rstrip(" \x00")
        if elem.VR == "PN":
            ds[tag] = pydicom.DataElement(tag, "PN", PersonName(text))
        elif elem.VR in ("SH", "LO", "UC") and "\\" in text:
            ds[tag] = pydicom.DataElement(tag, elem.VR, text.split("\\"))
        else:
            ds[tag] = pydicom.DataElement(tag, elem.VR, text)


LONG_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
ITEM_DELIM = 0xFFFEE00D


def _walk(fh: BinaryIO, size: int, order: str, *, implicit: bool, nested: bool = False) -> None:
    """Walk element headers, seeking over values, and refuse anything that runs
    past the end of the file (PS3.5 7.1, 7.5). Values are never read."""
    while nested or fh.tell() < size:
        start = fh.tell()
        head = fh.read(8)
        if len(head) < 8:
            raise InvalidObject("truncated: an element header is cut short at the end")
        group, elem = struct.unpack(order + "HH", head[:4])
        tag = (group << 16) | elem
        if group == 0xFFFE:
            if tag in (ITEM_DELIM, SEQ_DELIM) and nested:
                return
            raise InvalidObject(f"malformed: unexpected delimiter at offset {start}")
        vr = b""
        if implicit:
            (length,) = struct.unpack(order + "L", head[4:8])
        else:
            vr = head[4:6]
            if vr in LONG_VRS:
                extra = fh.read(4)
                if len(extra) < 4:
                    raise InvalidObject("truncated: an element header is cut short at the end")
                (length,) = struct.unpack(order + "L", extra)
            else:
                (length,) = struct.unpack(order + "H", head[6:8])
        if length == 0xFFFFFFFF:
            _walk_items(fh, size, order, implicit=implicit or vr == b"UN")
            continue
        if fh.tell() + length > size:
            what = "Pixel Data" if tag == PIXEL_DATA else f"element ({group:04X},{elem:04X})"
            raise InvalidObject(
                f"truncated: {what} at offset {start} needs {length} bytes, "
                f"{size - fh.tell()} remain"
            )
        fh.seek(length, 1)


def _walk_items(fh: BinaryIO, size: int, order: str, *, implicit: bool) -> None:
    """The items of an undefined-length sequence or encapsulated Pixel Data."""
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise InvalidObject("truncated: a sequence or Pixel Data ends before its delimiter")
        group, elem, length = struct.unpack(order + "HHL", head)
        tag = (group << 16) | elem
        if tag == SEQ_DELIM:
            return
        if tag != ITEM:
            raise InvalidObject("malformed: expected an item in a sequence or Pixel Data")
        if length == 0xFFFFFFFF:
            _walk(fh, size, order, implicit=implicit, nested=True)
        elif fh.tell() + length > size:
            raise InvalidObject(
                f"truncated: an item needs {length} bytes, {size - fh.tell()} remain"
            )
        else:
            fh.seek(length, 1)


def _dataset_offset(ds: Dataset, size: int) -> int:
    """Where the data set starts: after the preamble and the File Meta group."""
    group_length = ds.file_meta.get("FileMetaInformationGroupLength")
    if group_length is None:
        raise MissingAttribute("FileMetaInformationGroupLength")
    offset = 128 + 4 + 12 + int(group_length)
    if offset > size:
        raise InvalidObject("truncated: the file ends inside its File Meta Information")
    return offset


def _read_header(fh: BinaryIO) -> Dataset:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=4096)
        except InvalidDicomError as exc:
            raise InvalidObject("not a DICOM Part 10 file (no DICM prefix / file meta)") from exc
        except Exception as exc:  # pydicom raises many kinds on garbage
            raise InvalidObject(f"malformed DICOM: {type(exc).__name__}: {exc}") from exc
    for warning in caught:
        message = str(warning.message)
        if "End of file" in message or "truncated" in message.lower():
            raise InvalidObject(f"truncated DICOM: {message}")
    return ds


@dataclass(frozen=True)
class Expected:
    """The identity a sender announced for the object it sends (a C-STORE's
    Affected SOP Class and Instance UIDs); an object that is something else is
    refused with :class:`MismatchedObject`."""

    sop_class_uid: str
    sop_instance_uid: str

    def check(self, uids: dict[str, str]) -> None:
        sop_class, sop_instance = self.sop_class_uid.strip(), self.sop_instance_uid.strip()
        if sop_class and uids["SOPClassUID"] != sop_class:
            raise MismatchedObject("data set does not match SOP class: SOP Class UID differs")
        if sop_instance and uids["SOPInstanceUID"] != sop_instance:
            raise MismatchedObject("data set does not match SOP class: SOP Instance UID differs")


def read_attributes(path: Path, *, expect: Expected | None = None) -> ObjectAttributes:
    """Parse and validate a Part 10 file without loading its pixel data.

    Raises :class:`InvalidObject` (or :class:`MissingAttribute`) when the
    file is not DICOM, is truncated, or lacks an identifier the archive needs.
    """
    size = path.stat().st_size
    if size == 0:
        raise InvalidObject("empty file")
    with open(path, "rb") as fh:
        ds = _read_header(fh)
        meta = ds.file_meta
        ts = str(meta.get("TransferSyntaxUID", "")).strip()
        if not ts:
            raise MissingAttribute("TransferSyntaxUID")
        if not valid_uid(ts):
            raise InvalidObject(f"transfer syntax UID {ts[:70]!r} is not a valid UID")
        if ts != DeflatedExplicitVRLittleEndian:
            fh.seek(_dataset_offset(ds, size))
            _walk(
                fh,
                size,
                ">" if ts == ExplicitVRBigEndian else "<",
                implicit=ts == ImplicitVRLittleEndian,
            )
    charset_undeclared = False
    if "SpecificCharacterSet" not in ds and _has_non_ascii(ds):
        charset_undeclared = True
        _decode_undeclared(ds)
    try:
        return _extract(ds, ts, charset_undeclared, expect)
    except InvalidObject:
        raise
    except Exception as exc:
        raise InvalidObject(f"malformed DICOM attribute: {type(exc).__name__}: {exc}") from exc


def _extract(
    ds: Dataset, ts: str, charset_undeclared: bool, expect: Expected | None
) -> ObjectAttributes:
    uids = {}
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = _text(ds, keyword)
        if not value:
            raise MissingAttribute(keyword)
        if not valid_uid(value):
            raise InvalidObject(f"{keyword} {value[:70]!r} is not a valid UID")
        uids[keyword] = value
    if expect is not None:
        expect.check(uids)
    meta_sop = str(ds.file_meta.get("MediaStorageSOPInstanceUID", "")).strip()
    if meta_sop and meta_sop != uids["SOPInstanceUID"]:
        raise InvalidObject("MediaStorageSOPInstanceUID does not match SOPInstanceUID")
    patient_id = _text(ds, "PatientID")
    if not patient_id:
        raise MissingAttribute("PatientID")
    _check_lengths(ds)
    charset = ds.get("SpecificCharacterSet", "")
    if not isinstance(charset, str):
        charset = "\\".join(charset)
    return ObjectAttributes(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        transfer_syntax_uid=ts,
        patient_id=patient_id,
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID")[:64],
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_text(ds, "PatientBirthDate")[:8],
        patient_sex=_text(ds, "PatientSex")[:16],
        study_instance_uid=uids["StudyInstanceUID"],
        study_date=_text(ds, "StudyDate")[:8],
        study_time=normalise_time(_text(ds, "StudyTime"))[:16],
        accession_number=_text(ds, "AccessionNumber")[:64],
        study_id=_text(ds, "StudyID")[:64],
        study_description=_text(ds, "StudyDescription"),
        referring_physician_name=_text(ds, "ReferringPhysicianName"),
        series_instance_uid=uids["SeriesInstanceUID"],
        modality=_text(ds, "Modality")[:16],
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part_examined=_text(ds, "BodyPartExamined")[:64],
        instance_number=_int(ds, "InstanceNumber"),
        content_date=_text(ds, "ContentDate")[:8],
        content_time=normalise_time(_text(ds, "ContentTime"))[:16],
        number_of_frames=_int(ds, "NumberOfFrames"),
        specific_character_set=str(charset)[:128],
        charset_undeclared=charset_undeclared,
        acquisition_date=(
            _text(ds, "AcquisitionDateTime")[:8]
            or _text(ds, "AcquisitionDate")[:8]
            or _text(ds, "ContentDate")[:8]
            or _text(ds, "StudyDate")[:8]
        ),
        anatomic_region_codes=_region_codes(ds),
        source_uid=_source_uid(ds, uids["SOPInstanceUID"]),
    )


def _source_uid(ds: Dataset, own: str) -> str:
    """The recording a derived object was made from (``archive.convert.derive``
    writes a Source Image Sequence), or ""."""
    for item in ds.get("SourceImageSequence", []) or []:
        value = str(item.get("ReferencedSOPInstanceUID", "")).strip()
        if value and value != own and valid_uid(value):
            return value
    return ""


# Identifying values the archive copies into the consent documents it makes: one
# longer than its VR allows (PS3.5 6.2) would make an object that can never be
# consented, so it is refused at the door instead.
GOVERNED_LENGTHS = {"PatientID": ("LO", 64), "AccessionNumber": ("SH", 16), "StudyID": ("SH", 16)}


def _check_lengths(ds: Dataset) -> None:
    for keyword, (vr, limit) in GOVERNED_LENGTHS.items():
        length = len(_text(ds, keyword))
        if length > limit:
            raise InvalidObject(f"{keyword} is {length} characters; {vr} allows {limit}")
    for group in _text(ds, "PatientName").split("="):
        if len(group) > 64:
            raise InvalidObject(
                f"PatientName has a component group of {len(group)} characters; PN allows 64"
            )


def _region_codes(ds: Dataset) -> tuple[str, ...]:
    """Code values of Anatomic Region Sequence items and their modifiers."""
    codes: list[str] = []
    for item in ds.get("AnatomicRegionSequence", []) or []:
        codes.append(str(item.get("CodeValue", "")))
        for modifier in item.get("AnatomicRegionModifierSequence", []) or []:
            codes.append(str(modifier.get("CodeValue", "")))
    return tuple(c for c in codes if c)


def person_name_groups(name: str) -> tuple[str, str, str]:
    """Case-folded (alphabetic, ideographic, phonetic) groups of a PN value."""
    groups = ([*name.split("="), "", ""])[:3]
    return (groups[0].casefold()[:200], groups[1].casefold()[:200], groups[2].casefold()[:200])


def iter_uids(value: str) -> Iterator[str]:
    for part in value.split("\\"):
        part = part.strip()
        if part:
            yield part
