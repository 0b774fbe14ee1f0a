"""PNG, TIFF and HEIC -> VL Photographic Image, pixels stored losslessly.

The decoded picture is stored uncompressed as 8-bit interleaved RGB in
Explicit VR Little Endian (PS3.5 A.2), so what the source decodes to is
exactly what the DICOM object holds. Alpha is dropped (with a note in Image
Comments). Samples deeper than 8 bits are reduced to their most significant 8
bits; that loses information, so the object then says Lossy Image Compression
"01" (with no Lossy Image Compression Method, as no defined term describes a
depth reduction) and is DERIVED with a Derivation Description. HEIC (HEVC-coded) and
JPEG-compressed TIFF were lossy before they arrived and say so too
(PS3.3 C.7.6.1.1.5). Only pixels, the ICC profile and a few EXIF facts are
read; nothing else from the source file reaches the object.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, VLPhotographicImageStorage

from .common import (
    Acquisition,
    CaptureContext,
    Demographics,
    base_dataset,
    file_meta,
    set_rgb_pixels,
)
from .errors import ConversionError, ImageTooLarge, UnsupportedInput
from .exif import read_exif
from .jpeg import ORIENTATION_TRANSFORMS
from .photo import DEFAULT_MAX_PIXELS, check_pixels

__all__ = ["RasterImage", "convert_raster", "decode_raster"]

_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class RasterImage:
    """A decoded picture ready to store: 8-bit RGB plus what happened to it."""

    rgb: npt.NDArray[np.uint8]
    icc_profile: bytes | None
    acquisition: Acquisition
    lossy_methods: tuple[str, ...]  # PS3.3 C.7.6.1.1.5.1 defined terms
    lossy: bool  # any information lost before or during conversion
    derivation: str | None  # set when the stored samples differ from the source's


def _to_rgb(im: Image.Image, depth: int, notes: list[str]) -> tuple[npt.NDArray[np.uint8], bool]:
    """8-bit RGB samples of ``im``; reports whether depth had to be reduced."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        notes.append("alpha (transparency) channel of the source discarded")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(im, dtype=np.uint32)
        if mode == "I" and depth <= 8:
            grey = wide.astype(np.uint8)
        else:
            grey = (wide >> 8).astype(np.uint8)
            depth = max(depth, 16)
        return np.repeat(grey[:, :, None], 3, axis=2), depth > 8
    if mode in ("F", "CMYK", "LAB", "HSV") or mode.startswith("I;"):
        raise UnsupportedInput(f"pixel format {mode} is not supported (8-bit RGB or grey only)")
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return rgb, depth > 8


def _png_depth(data: bytes) -> int:
    return data[24] if len(data) > 24 else 8


def _tiff_depth(im: Image.Image) -> int:
    tags = getattr(im, "tag_v2", {})
    bits = tags.get(258, (8,))
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _decode_pillow(
    data: bytes, kind: str, max_pixels: int
) -> tuple[Image.Image, int, tuple[str, ...], int]:
    fmt = "PNG" if kind == "png" else "TIFF"
    if fmt == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        check_pixels(width, height, max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(
                f"declared image size exceeds the limit of Pillow's decoder ({exc}); "
                "possible decompression bomb"
            ) from exc
        check_pixels(*im.size, max_pixels)
        pages = int(getattr(im, "n_frames", 1))
        if pages > 1:
            raise UnsupportedInput(f"multi-page {fmt} ({pages} pages): convert one page per file")
        depth = _png_depth(data) if fmt == "PNG" else _tiff_depth(im)
        compression = str(im.info.get("compression", ""))
        # Pillow applies a TIFF's orientation itself on load; remember it for the note.
        orientation = read_exif(im.getexif()).orientation
        im.load()
    methods = ("ISO_10918_1",) if compression in ("jpeg", "tiff_jpeg") else ()
    if compression in ("webp", "jpeg2000"):
        raise UnsupportedInput(f"TIFF with {compression} compression is not supported")
    return im, depth, methods, orientation


def _decode_heic(data: bytes, max_pixels: int) -> tuple[Image.Image, int]:
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    width, height = heif.size
    check_pixels(width, height, max_pixels)
    depth = int(heif.info.get("bit_depth", 8))
    # to_pillow() applies the HEIF irot/imir transforms (which are normative)
    # and resets EXIF Orientation to 1, so the picture is already upright.
    im = heif.to_pillow()
    im.load()
    return im, depth


def decode_raster(data: bytes, kind: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> RasterImage:
    """Decode a PNG, TIFF or HEIC (``kind`` = png / tiff / heic) for storage."""
    try:
        if kind == "heic":
            im, depth = _decode_heic(data, max_pixels)
            methods: tuple[str, ...] = ("ISO_23008_2",)
            orientation = 1  # applied by libheif from the normative irot/imir boxes
        else:
            im, depth, methods, orientation = _decode_pillow(data, kind, max_pixels)
        facts = read_exif(im.getexif())
        if facts.orientation != 1 and kind != "heic":
            im = ImageOps.exif_transpose(im)
        notes: list[str] = []
        if orientation != 1:
            _, what = ORIENTATION_TRANSFORMS[orientation]
            notes.append(f"Displayed upright: {what} (EXIF Orientation {orientation})")
        icc = im.info.get("icc_profile") or None
        rgb, reduced = _to_rgb(im, depth, notes)
    except (ConversionError, MemoryError):
        raise
    except ImportError as exc:
        raise ConversionError(f"HEIC support (pillow-heif) is not available: {exc}") from exc
    except _DECODE_ERRORS as exc:
        detail = "" if "cannot identify image file" in str(exc) else f": {exc}"
        reason = f"{kind.upper()} does not decode (corrupt or truncated){detail}"
        raise ConversionError(reason) from exc
    derivation = None
    if reduced:
        how = (
            "by libheif's HDR-to-8-bit conversion"
            if kind == "heic"
            else "by keeping the most significant 8 bits of each sample"
        )
        derivation = (
            f"Reduced from {depth} to 8 bits per sample {how} "
            "(VL Photographic Image holds 8-bit samples)"
        )
    acquisition = Acquisition(
        when=facts.when, manufacturer=facts.make, model=facts.model, notes=tuple(notes)
    )
    return RasterImage(
        rgb=np.ascontiguousarray(rgb),
        icc_profile=icc if isinstance(icc, bytes) else None,
        acquisition=acquisition,
        lossy_methods=methods,
        lossy=bool(methods) or reduced,
        derivation=derivation,
    )


def store_rgb(
    image: RasterImage,
    *,
    demographics: Demographics,
    context: CaptureContext,
    image_type: list[str] | None = None,
) -> Dataset:
    """A VL Photographic Image (PS3.3 A.33.4) holding ``image`` uncompressed."""
    derived = image.derivation is not None
    ds = base_dataset(
        VLPhotographicImageStorage,
        demographics=demographics,
        context=context,
        acquisition=image.acquisition,
        image_type=image_type or ["DERIVED" if derived else "ORIGINAL", "PRIMARY"],
    )
    if image.derivation:
        ds.DerivationDescription = image.derivation
    rows, columns = image.rgb.shape[:2]
    set_rgb_pixels(ds, rows, columns, image.rgb.tobytes())
    if image.lossy:
        # A depth reduction has no defined term; Derivation Description says it.
        ds.LossyImageCompression = "01"
        if image.lossy_methods:
            ds.LossyImageCompressionMethod = list(image.lossy_methods)
    else:
        ds.LossyImageCompression = "00"
    if image.icc_profile:
        ds.ICCProfile = image.icc_profile
    file_meta(ds, ExplicitVRLittleEndian)
    return ds


def convert_raster(
    data: bytes,
    kind: str,
    *,
    demographics: Demographics,
    context: CaptureContext,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Dataset:
    """A PNG, TIFF or HEIC picture as a losslessly stored VL Photographic Image."""
    image = decode_raster(data, kind, max_pixels=max_pixels)
    return store_rgb(image, demographics=demographics, context=context)
