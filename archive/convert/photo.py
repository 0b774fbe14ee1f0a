"""Camera JPEG -> VL Photographic Image, bitstream kept (PS3.3 A.33.4, PS3.5 8.2.1).

The camera's entropy-coded data goes into the object unchanged. Metadata
segments are dropped (see :func:`.jpeg.strip_metadata`), useful EXIF becomes
DICOM attributes, and a rotated photo is turned upright in the DCT domain.

Orientation policy: ``jpegtran -perfect`` first. When the picture is not a whole
number of MCUs along the edge that moves, the default is ``-trim``: the partial
MCU row/column (fewer than 16 pixels, at the image edge) is dropped, the image
is marked DERIVED and Derivation Description states exactly how many pixels
went. A hospital keeps an upright, unre-encoded photo that way; a sideways
photo risks a wrong reading and re-encoding would lose the camera original.
``allow_trim=False`` makes that case an error instead.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, JPEGExtended12Bit, VLPhotographicImageStorage

from . import jpeg
from .common import Acquisition, CaptureContext, Demographics, base_dataset, file_meta
from .errors import ConversionError, ImageTooLarge, UnsupportedInput
from .exif import read_exif

__all__ = ["DEFAULT_MAX_PIXELS", "check_pixels", "convert_jpeg", "photometric_for"]

DEFAULT_MAX_PIXELS = 1 << 27  # 134 megapixels: above any phone's normal photo


def check_pixels(columns: int, rows: int, max_pixels: int) -> None:
    """Refuse declared dimensions above the limit before anything is decoded."""
    if columns * rows > max_pixels:
        raise ImageTooLarge(
            f"declared image size {columns}x{rows} ({columns * rows} pixels) exceeds the "
            f"limit of {max_pixels} pixels (possible decompression bomb)"
        )


def photometric_for(stream: jpeg.JpegStream) -> str:
    """Photometric Interpretation implied by the JPEG headers (PS3.5 8.2.1, PS3.3 C.7.6.3.1.2)."""
    frame = stream.frame
    if len(frame.components) == 1:
        return "MONOCHROME2"
    if len(frame.components) != 3:
        raise UnsupportedInput(
            f"JPEG has {len(frame.components)} colour components (CMYK?); "
            "DICOM VL Photographic holds greyscale or 3-component colour only"
        )
    transform = stream.adobe_transform
    ids = bytes(c[0] for c in frame.components)
    is_rgb = transform == 0 or (transform is None and not stream.has_jfif and ids == b"RGB")
    if is_rgb:
        return "RGB"
    return "YBR_FULL_422" if frame.subsampled else "YBR_FULL"


def _verify_decode(data: bytes, frame: jpeg.Frame) -> None:
    """Decode once to prove the stream is complete; the result is thrown away."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
                im.load()
                size = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ConversionError(f"JPEG does not decode: {exc}") from exc
    if size != (frame.columns, frame.rows):
        raise ConversionError("JPEG decodes to a size other than its frame header says")


@dataclass(frozen=True)
class _Prepared:
    stream: jpeg.JpegStream
    notes: tuple[str, ...]
    derivation: str | None


def _prepare(original: jpeg.JpegStream, orientation: int, *, allow_trim: bool) -> _Prepared:
    frame = original.frame
    data = jpeg.strip_metadata(original)
    notes: list[str] = []
    if frame.progressive or frame.arithmetic:
        kind = "progressive" if frame.progressive else "arithmetic-coded"
        data = jpeg.to_sequential(data)
        notes.append(
            f"{kind} JPEG re-coded losslessly as sequential Huffman JPEG "
            "(DCT coefficients unchanged)"
        )
    derivation = None
    if orientation != 1:
        before = jpeg.parse(data).frame
        data, trimmed = jpeg.transform(data, orientation, allow_trim=allow_trim)
        after = jpeg.parse(data).frame
        _, what = jpeg.ORIENTATION_TRANSFORMS[orientation]
        turned = f"{what} losslessly in the DCT domain (EXIF Orientation {orientation})"
        swap = orientation >= 5
        want_cols, want_rows = (
            (before.rows, before.columns) if swap else (before.columns, before.rows)
        )
        if trimmed and (after.columns, after.rows) != (want_cols, want_rows):
            derivation = (
                f"{turned[0].upper()}{turned[1:]}; trimmed {want_cols - after.columns} "
                f"column(s) and {want_rows - after.rows} row(s) of partial JPEG blocks at "
                f"the image edge ({want_cols}x{want_rows} -> {after.columns}x{after.rows}); "
                "no re-encoding"
            )
        else:
            notes.append(f"Displayed upright: {turned}; no re-encoding")
    final = jpeg.parse(jpeg.strip_metadata(jpeg.parse(data)))
    return _Prepared(final, tuple(notes), derivation)


def convert_jpeg(
    data: bytes,
    *,
    demographics: Demographics,
    context: CaptureContext,
    allow_trim: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Dataset:
    """A JPEG photo as a VL Photographic Image (PS3.3 A.33.4) in JPEG Baseline
    (PS3.5 8.2.1; JPEG Extended for 8-bit extended-sequential streams)."""
    original = jpeg.parse(data)
    frame = original.frame
    if frame.hierarchical:
        raise UnsupportedInput("hierarchical JPEG is not supported by DICOM VL objects")
    if frame.lossless:
        raise UnsupportedInput("lossless JPEG (process 14) photos are not supported")
    if frame.precision != 8:
        raise UnsupportedInput(
            f"{frame.precision}-bit JPEG: VL Photographic Image holds 8 bits per sample "
            "(PS3.3 C.8.12.1.1.2) and the bitstream cannot be kept unchanged"
        )
    check_pixels(frame.columns, frame.rows, max_pixels)
    photometric = photometric_for(original)
    facts = read_exif(original.exif)
    icc = original.icc_profile
    prepared = _prepare(original, facts.orientation, allow_trim=allow_trim)
    final = prepared.stream
    out_frame = final.frame
    _verify_decode(final.data, out_frame)
    if out_frame.subsampled and photometric == "YBR_FULL":
        photometric = "YBR_FULL_422"

    acquisition = Acquisition(
        when=facts.when, manufacturer=facts.make, model=facts.model, notes=prepared.notes
    )
    derived = prepared.derivation is not None
    ds = base_dataset(
        VLPhotographicImageStorage,
        demographics=demographics,
        context=context,
        acquisition=acquisition,
        image_type=["DERIVED" if derived else "ORIGINAL", "PRIMARY"],
    )
    if prepared.derivation:
        ds.DerivationDescription = prepared.derivation
    samples = len(out_frame.components)
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.Rows = out_frame.rows
    ds.Columns = out_frame.columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ratio = out_frame.rows * out_frame.columns * samples / len(final.data)
    ds.LossyImageCompressionRatio = f"{ratio:.3f}"[:16]
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    if icc:
        ds.ICCProfile = icc
    ds.PixelData = encapsulate([final.data])
    ds["PixelData"].VR = "OB"
    syntax = JPEGBaseline8Bit if out_frame.sof == 0xC0 else JPEGExtended12Bit
    file_meta(ds, syntax)
    return ds
