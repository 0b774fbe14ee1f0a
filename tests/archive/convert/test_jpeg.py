"""Camera JPEG -> VL Photographic Image: bitstream kept, headers honoured."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit, VLPhotographicImageStorage

from archive.convert import CaptureContext, Demographics, UnsupportedInput, convert_file
from archive.convert import jpeg as jp
from archive.convert.api import convert_bytes
from tests.archive.convert import makers
from tests.archive.convert.conftest import Validate
from tests.support import corpus

CORPUS_JPEGS = ["rose.jpg", "wizard.jpg", "logo.jpg", "plasma.jpg", "tiny.jpg"]


def _bitstream(ds: pydicom.Dataset) -> bytes:
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _pillow(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("name", CORPUS_JPEGS)
def test_corpus_jpeg_keeps_entropy_coded_data_byte_identical(
    name: str, demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    source = corpus("jpeg", name)
    original = source.read_bytes()
    [ds] = convert_file(source, demographics=demographics, context=context)
    path = validate(ds)

    back = pydicom.dcmread(path)
    assert back.SOPClassUID == VLPhotographicImageStorage
    assert back.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    stored = jp.parse(_bitstream(back))
    assert jp.entropy_coded_data(stored) == jp.entropy_coded_data(jp.parse(original))
    # Geometry and colour model come from the JPEG's own headers.
    frame = jp.parse(original).frame
    assert (back.Rows, back.Columns) == (frame.rows, frame.columns)
    assert back.SamplesPerPixel == 3
    assert back.PhotometricInterpretation == "YBR_FULL_422"  # corpus files are 4:2:2
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == "ISO_10918_1"
    assert back.ImageType == ["ORIGINAL", "PRIMARY"]
    assert back.Modality == "XC"


def test_round_trip_pixels_equal_the_source_decode(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    original = corpus("jpeg", "rose.jpg").read_bytes()
    [ds] = convert_bytes(original, name="rose.jpg", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    # Pillow on the stored bitstream == Pillow on the camera file.
    assert np.array_equal(_pillow(_bitstream(back)), _pillow(original))
    # pydicom (pylibjpeg) on the object == pydicom on the untouched camera file.
    reference = pydicom.dcmread(validate(ds))
    reference.PixelData = encapsulate([original])
    assert np.array_equal(back.pixel_array, reference.pixel_array)


def test_patient_study_series_and_site_attributes(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    [ds] = convert_file(corpus("jpeg", "tiny.jpg"), demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert str(back.PatientName) == "Müller^Zoë"
    assert back.PatientID == "PP-0001"
    assert back.PatientBirthDate == "19840229"
    assert back.PatientSex == "F"
    assert back.StudyInstanceUID == context.study_instance_uid
    assert back.SeriesInstanceUID == context.series_instance_uid
    assert back.AccessionNumber == "ACC123"
    assert str(back.OperatorsName) == "Photographer^Pat"
    region = back.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodingSchemeDesignator) == ("14975008", "SCT")
    assert region.AnatomicRegionModifierSequence[0].CodeValue == "7771000"
    assert back.ImageLaterality == "L"
    assert back.AcquisitionContextSequence == []


def test_exif_facts_become_dicom_attributes(
    demographics: Demographics, context: CaptureContext
) -> None:
    photo = makers.private_photo(upright=makers.scene(64, 48), orientation=1)
    [ds] = convert_bytes(photo, name="cam.jpg", demographics=demographics, context=context)
    assert ds.AcquisitionDateTime == "20240305141516.250000+0100"
    assert ds.ContentDate == "20240305"
    assert ds.ContentTime == "141516.250000"
    assert ds.Manufacturer == "Acme"
    assert ds.ManufacturerModelName == "ClinicCam 3"
    assert "DeviceSerialNumber" not in ds


def test_progressive_jpeg_is_resequenced_without_changing_pixels(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    rgb = makers.scene(96, 64)
    progressive = makers.jpeg_bytes(rgb, progressive=True)
    assert jp.parse(progressive).frame.progressive
    [ds] = convert_bytes(progressive, name="p.jpg", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert jp.parse(_bitstream(back)).frame.sof == 0xC0
    assert np.array_equal(_pillow(_bitstream(back)), _pillow(progressive))
    assert "re-coded losslessly" in back.ImageComments


def test_greyscale_jpeg_is_monochrome2(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    buf = io.BytesIO()
    Image.fromarray(makers.scene(64, 48)[:, :, 1]).save(buf, "JPEG")
    [ds] = convert_bytes(buf.getvalue(), name="g.jpg", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert (back.SamplesPerPixel, back.PhotometricInterpretation) == (1, "MONOCHROME2")
    source = np.asarray(Image.open(buf))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(_bitstream(back)))), source)
    # pydicom's decoder (libjpeg) may round the IDCT differently from Pillow's.
    assert np.abs(back.pixel_array.astype(int) - source).max() <= 2


def test_twelve_bit_and_cmyk_jpegs_are_refused_clearly(
    demographics: Demographics, context: CaptureContext
) -> None:
    plain = makers.jpeg_bytes(makers.scene(32, 32))
    sof = plain.index(b"\xff\xc0")
    twelve = plain[: sof + 4] + b"\x0c" + plain[sof + 5 :]
    with pytest.raises(UnsupportedInput, match=r"twelve\.jpg: 12-bit JPEG"):
        convert_bytes(twelve, name="twelve.jpg", demographics=demographics, context=context)
    buf = io.BytesIO()
    Image.fromarray(makers.scene(32, 32)).convert("CMYK").save(buf, "JPEG")
    with pytest.raises(UnsupportedInput, match=r"cmyk\.jpg: JPEG has 4 colour components"):
        convert_bytes(buf.getvalue(), name="cmyk.jpg", demographics=demographics, context=context)


def test_icc_profile_is_kept_for_colour_fidelity(
    demographics: Demographics, context: CaptureContext
) -> None:
    profile = b"\x00\x00\x01\x00fake-icc-profile-bytes" * 8
    photo = makers.jpeg_bytes(makers.scene(32, 32), icc_profile=profile)
    [ds] = convert_bytes(photo, name="icc.jpg", demographics=demographics, context=context)
    assert ds.ICCProfile == profile
    assert jp.parse(_bitstream(ds)).icc_profile == profile
