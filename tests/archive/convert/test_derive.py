"""Derived images: whole-image operations on a new DERIVED instance; the source untouched."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest

from archive.convert import (
    CaptureContext,
    ColourBalance,
    Contrast,
    ConversionError,
    Crop,
    Demographics,
    Rotate,
    convert_file,
    derive_image,
)
from tests.archive.convert.conftest import Validate
from tests.support import corpus


@pytest.fixture
def source(demographics: Demographics, context: CaptureContext) -> pydicom.Dataset:
    [ds] = convert_file(corpus("jpeg", "rose.jpg"), demographics=demographics, context=context)
    return ds


def test_each_operation_is_applied_described_and_referenced(
    source: pydicom.Dataset, validate: Validate
) -> None:
    before = copy.deepcopy(source)
    original = source.pixel_array.astype(np.float64)
    ops = [Crop(10, 20, 300, 200), Rotate(90), Contrast(1.5), ColourBalance(1.1, 1.0, 0.8)]
    ds = derive_image(source, ops)
    back = pydicom.dcmread(validate(ds))

    # Expected pixels, computed independently here.
    px = original[20:220, 10:310]
    px = np.rot90(px, k=-1)
    mean = float((px.reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])).mean())
    px = np.clip(np.rint(mean + (px - mean) * 1.5), 0, 255)
    px = np.clip(np.rint(px * np.array([1.1, 1.0, 0.8])), 0, 255)
    assert np.array_equal(back.pixel_array, px.astype(np.uint8))

    assert back.ImageType == ["DERIVED", "SECONDARY"]
    assert (back.Rows, back.Columns) == (300, 200)
    text = back.DerivationDescription
    assert "Cropped to 300x200 pixels from (10,20) of 1024x673" in text
    assert "rotated 90° clockwise" in text
    assert "contrast x1.5 about the mean luma" in text
    assert "colour balance gains red x1.1, green x1, blue x0.8" in text
    [ref] = back.SourceImageSequence
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == source.SOPClassUID
    # Same patient and study, its own series, new instance, lossy history kept.
    assert back.PatientID == source.PatientID
    assert back.StudyInstanceUID == source.StudyInstanceUID
    assert back.SeriesInstanceUID != source.SeriesInstanceUID
    assert back.SOPInstanceUID != source.SOPInstanceUID
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == "ISO_10918_1"
    assert back.ImageLaterality == "L"
    # The original is never changed.
    assert source == before
    assert source.PixelData == before.PixelData


def test_derived_from_a_derived_image_chains_references(
    source: pydicom.Dataset, validate: Validate
) -> None:
    first = derive_image(source, [Crop(0, 0, 100, 100)])
    second = derive_image(first, [Rotate(180)], series_instance_uid=first.SeriesInstanceUID)
    validate(second)
    assert second.SourceImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert second.SeriesInstanceUID == first.SeriesInstanceUID
    assert np.array_equal(second.pixel_array, np.rot90(first.pixel_array, 2))


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (Crop(1000, 0, 100, 10), "goes outside the 1024x673 image"),
        (Crop(0, 0, 0, 10), "sizes >= 1"),
        (Rotate(45), "degrees must be 90, 180 or 270"),
        (Contrast(0), "factor must be in"),
        (ColourBalance(red=-1), "gains must be in"),
    ],
)
def test_bad_operations_are_refused(source: pydicom.Dataset, op: object, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        derive_image(source, [op])  # type: ignore[list-item]


def test_no_operation_is_refused(source: pydicom.Dataset) -> None:
    with pytest.raises(ConversionError, match="no operation given"):
        derive_image(source, [])
