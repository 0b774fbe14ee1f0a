"""Sites, UIDs, demographics and content sniffing."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pydicom
import pytest
from PIL import Image
from pydicom.sr.codedict import codes

from archive.convert import (
    KNOWN_SITES,
    CaptureContext,
    ConversionError,
    Demographics,
    MediaKind,
    convert_bytes,
    make_uid,
    resolve_body_site,
    sniff,
)
from archive.convert.sites import _TABLE
from tests.archive.convert import makers
from tests.archive.convert.conftest import Validate
from tests.support import corpus


def test_every_site_code_is_the_snomed_concept_pydicom_knows() -> None:
    for name, site in _TABLE.items():
        concept = codes.SCT.dir()
        matches = [k for k in concept if getattr(codes.SCT, k).value == site.code]
        assert matches, f"{name}: SCT {site.code} is not a known SNOMED CT concept"


@pytest.mark.parametrize(
    ("text", "code", "laterality"),
    [
        ("left forearm", "14975008", "L"),
        ("Right  Ear", "117590005", "R"),
        ("both knees", "72696002", "B"),
        ("forearm, left", "14975008", "L"),
        ("abdomen", "818981001", "U"),
        ("face", "89545001", "U"),
        ("left SCT:85562004", "85562004", "L"),
        ("right wrist joint", "74670003", "R"),
    ],
)
def test_body_sites_by_name(text: str, code: str, laterality: str) -> None:
    site = resolve_body_site(text)
    assert (site.code, site.laterality, site.scheme) == (code, laterality, "SCT")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("forearm", "paired structure: say left, right or both"),
        ("left abdomen", "not a paired structure"),
        ("left elbw", "unknown body site"),
        ("", "unknown body site"),
    ],
)
def test_body_site_mistakes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        resolve_body_site(text)
    with pytest.raises(ConversionError, match=message):
        CaptureContext(body_site=text)


def test_known_sites_cover_common_clinical_photography_sites() -> None:
    for name in ("hand", "foot", "face", "back", "scalp", "breast", "lower leg", "knee"):
        assert name in KNOWN_SITES


def test_uids_default_to_2_25_and_can_use_an_org_root(
    demographics: Demographics, validate: Validate
) -> None:
    default = make_uid()
    assert default.startswith("2.25.") and default.is_valid
    rooted = make_uid("1.2.826.0.1.3680043.10.999")
    assert rooted.startswith("1.2.826.0.1.3680043.10.999.") and rooted.is_valid
    assert len({make_uid() for _ in range(200)}) == 200
    context = CaptureContext(uid_root="1.2.826.0.1.3680043.10.999", study_id="S")
    [ds] = convert_bytes(
        makers.jpeg_bytes(makers.scene(16, 16)),
        name="a.jpg",
        demographics=demographics,
        context=context,
    )
    validate(ds)
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
        assert uid.startswith("1.2.826.0.1.3680043.10.999.")
    with pytest.raises(ConversionError, match="not a valid DICOM UID"):
        make_uid("1.2.03")


@pytest.mark.parametrize(
    "name", ["山田^太郎", "Иванов^Иван", "Ó Súilleabháin^Siobhán", "Κώστας^Νίκος"]
)
def test_non_ascii_names_round_trip_as_utf8(
    name: str, validate: Validate, context: CaptureContext
) -> None:
    people = Demographics(patient_id="X1", name=name, birth_date=dt.date(2001, 1, 1), sex="M")
    [ds] = convert_bytes(
        makers.jpeg_bytes(makers.scene(16, 16)), name="a.jpg", demographics=people, context=context
    )
    back = pydicom.dcmread(validate(ds))
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert str(back.PatientName) == name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patient_id": ""}, "patient_id must not be empty"),
        ({"patient_id": "A\\B"}, "control character or backslash"),
        ({"patient_id": "P", "sex": "X"}, "sex must be M, F, O or None"),
        ({"patient_id": "P", "name": "A^B^C^D^E^F"}, "more than five"),
    ],
)
def test_bad_demographics_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        Demographics(**kwargs)  # type: ignore[arg-type]


def test_new_study_and_series_are_shared_across_one_session(
    demographics: Demographics,
) -> None:
    session = CaptureContext(body_site="nose").with_uids()
    photo = makers.jpeg_bytes(makers.scene(16, 16))
    [a] = convert_bytes(photo, name="a.jpg", demographics=demographics, context=session)
    [b] = convert_bytes(
        photo, name="b.jpg", demographics=demographics, context=session.next_instance()
    )
    assert (a.StudyInstanceUID, a.SeriesInstanceUID) == (b.StudyInstanceUID, b.SeriesInstanceUID)
    assert (a.InstanceNumber, b.InstanceNumber) == (1, 2)
    assert a.SOPInstanceUID != b.SOPInstanceUID


def test_sniff_goes_by_content_not_name(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    cases = {
        "photo.png": (makers.jpeg_bytes(makers.scene(8, 8)), MediaKind.JPEG),
        "photo.jpg": (buf.getvalue(), MediaKind.PNG),
        "clip.dat": (corpus("video", "testsrc_640x480_2s.mp4").read_bytes(), MediaKind.VIDEO),
        "x.heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", MediaKind.HEIC),
        "y.tif": (b"II*\x00\x08\x00\x00\x00", MediaKind.TIFF),
        "z.mov": (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", MediaKind.VIDEO),
        "report.pdf": (b"%PDF-1.7\n", None),
        "image.dcm": (bytes(128) + b"DICM", None),
    }
    for name, (data, kind) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert sniff(path) is kind, name
        assert sniff(data[:64]) is kind, name
