"""PNG, TIFF and HEIC -> VL Photographic Image stored losslessly as 8-bit RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian

from archive.convert import CaptureContext, Demographics, UnsupportedInput
from archive.convert.api import convert_bytes
from tests.archive.convert import makers
from tests.archive.convert.conftest import Validate


def _save(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _convert(
    data: bytes, demographics: Demographics, context: CaptureContext, validate: Validate
) -> pydicom.Dataset:
    [ds] = convert_bytes(data, name="picture", demographics=demographics, context=context)
    back = pydicom.dcmread(validate(ds))
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (back.SamplesPerPixel, back.PhotometricInterpretation) == (3, "RGB")
    assert (back.BitsAllocated, back.BitsStored, back.PlanarConfiguration) == (8, 8, 0)
    return back


def test_png_round_trips_pixel_for_pixel(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    rgb = makers.scene(77, 51)
    back = _convert(_save(Image.fromarray(rgb), "PNG"), demographics, context, validate)
    assert np.array_equal(back.pixel_array, rgb)
    assert back.LossyImageCompression == "00"
    assert back.ImageType == ["ORIGINAL", "PRIMARY"]


def test_png_alpha_is_dropped_with_a_note(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    rgb = makers.scene(40, 30)
    alpha = np.full((30, 40, 1), 128, np.uint8)
    data = _save(Image.fromarray(np.concatenate([rgb, alpha], axis=2)), "PNG")
    back = _convert(data, demographics, context, validate)
    assert np.array_equal(back.pixel_array, rgb)
    assert "alpha (transparency) channel of the source discarded" in back.ImageComments
    assert back.LossyImageCompression == "00"


def test_palette_and_grey_png_become_rgb_losslessly(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    grey = makers.scene(40, 30)[:, :, 0]
    back = _convert(_save(Image.fromarray(grey), "PNG"), demographics, context, validate)
    assert np.array_equal(back.pixel_array, np.repeat(grey[:, :, None], 3, axis=2))
    pal = Image.fromarray(makers.scene(40, 30)).quantize(16)
    back = _convert(_save(pal, "PNG"), demographics, context, validate)
    assert np.array_equal(back.pixel_array, np.asarray(pal.convert("RGB")))


def _png16_rgb(rgb16: np.ndarray) -> bytes:
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["grey", "rgb"])
def test_sixteen_bit_png_is_reduced_with_the_lossy_flag_set(
    kind: str, demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    rng = np.random.default_rng(5)
    if kind == "grey":
        wide = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
        data = _save(Image.fromarray(wide), "PNG")
        expected = np.repeat((wide >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    else:
        wide = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
        data = _png16_rgb(wide)
        expected = (wide >> 8).astype(np.uint8)
    back = _convert(data, demographics, context, validate)
    assert np.array_equal(back.pixel_array, expected)
    assert back.LossyImageCompression == "01"
    assert back.ImageType == ["DERIVED", "PRIMARY"]
    assert "Reduced from 16 to 8 bits per sample" in back.DerivationDescription


def test_tiff_round_trips_and_is_turned_upright(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    upright = makers.scene(48, 32)
    back = _convert(
        _save(Image.fromarray(upright), "TIFF", compression="tiff_lzw"),
        demographics,
        context,
        validate,
    )
    assert np.array_equal(back.pixel_array, upright)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    back = _convert(_save(sideways, "TIFF", exif=exif), demographics, context, validate)
    assert np.array_equal(back.pixel_array, upright)
    assert "EXIF Orientation 6" in back.ImageComments


def test_png_with_exif_orientation_is_turned_upright(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    upright = makers.scene(48, 32)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated: turn 90° counter-clockwise to view
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(upright, -1)))
    back = _convert(_save(sideways, "PNG", exif=exif), demographics, context, validate)
    assert np.array_equal(back.pixel_array, upright)
    assert "EXIF Orientation 8" in back.ImageComments


def test_multipage_tiff_is_refused(demographics: Demographics, context: CaptureContext) -> None:
    pages = [Image.fromarray(makers.scene(16, 16, seed=i)) for i in range(2)]
    data = _save(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(UnsupportedInput, match=r"scan\.tif: multi-page TIFF"):
        convert_bytes(data, name="scan.tif", demographics=demographics, context=context)


def test_iphone_style_heic_is_upright_lossless_and_honest_about_hevc(
    demographics: Demographics, context: CaptureContext, validate: Validate
) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    upright = makers.scene(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    buf = io.BytesIO()
    # pillow-heif writes EXIF Orientation as an HEIF irot transform, like an iPhone.
    pillow_heif.from_pillow(sideways).save(buf, quality=-1, exif=exif.tobytes())
    heic = buf.getvalue()
    decoded = np.asarray(pillow_heif.open_heif(io.BytesIO(heic)).to_pillow().convert("RGB"))

    back = _convert(heic, demographics, context, validate)
    assert (back.Rows, back.Columns) == (48, 64)
    assert np.array_equal(back.pixel_array, decoded)  # exactly what the HEIC decodes to
    assert np.abs(back.pixel_array.astype(int) - upright).mean() < 8  # and upright
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == "ISO_23008_2"
    assert (back.Manufacturer, back.ManufacturerModelName) == ("Apple", "iPhone 15")
