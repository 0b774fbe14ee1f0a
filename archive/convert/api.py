"""One entry point for every caller: sniff a file, convert it, get datasets back.

Nothing is written here; the caller stores the datasets (``ds.save_as(path,
enforce_file_format=True)``) or hands them to the archive's ingest. Any
failure is a :class:`ConversionError` naming the input and the reason, and then
no dataset is returned at all.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pydicom.dataset import Dataset

from .common import CaptureContext, Demographics
from .derive import extract_frames
from .errors import ConversionError
from .photo import DEFAULT_MAX_PIXELS, convert_jpeg
from .raster import convert_raster
from .video import convert_video

__all__ = ["DEFAULT_MAX_BYTES", "MediaKind", "convert_bytes", "convert_file", "sniff"]

DEFAULT_MAX_BYTES: Final = 4 << 30  # 4 GiB: the most one DICOM fragment can hold


class MediaKind(enum.Enum):
    """What a file holds, judged by its content (magic numbers), never its name."""

    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"
    HEIC = "heic"
    VIDEO = "video"  # ISO base media (MP4) or QuickTime (MOV)


_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})
_VIDEO_BRANDS: Final = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42",
        b"avc1", b"qt  ", b"M4V ", b"M4VP", b"3gp4", b"3gp5", b"3gp6", b"3g2a",
        b"MSNV", b"XAVC", b"hvc1", b"dby1", b"mmp4", b"f4v ",
    }
)  # fmt: skip
_QT_ATOMS: Final = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def sniff(head: bytes | Path | str) -> MediaKind | None:
    """The kind of photo or video in ``head`` (the file's first bytes, or a path),
    or None when the converter does not handle it. Judged by content only."""
    if isinstance(head, (str, Path)):
        with open(head, "rb") as fh:
            head = fh.read(64)
    if head.startswith(b"\xff\xd8\xff"):
        return MediaKind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaKind.PNG
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaKind.TIFF
    if len(head) >= 12 and head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
        if head[8:12] in _HEIF_BRANDS or (
            head[8:12] not in _VIDEO_BRANDS and brands & _HEIF_BRANDS
        ):
            return MediaKind.HEIC
        if brands & _VIDEO_BRANDS:
            return MediaKind.VIDEO
        return None
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return MediaKind.VIDEO
    return None


def convert_bytes(
    data: bytes,
    *,
    name: str,
    demographics: Demographics,
    context: CaptureContext,
    frame_numbers: Sequence[int] = (),
    frame_times: Sequence[float] = (),
    allow_trim: bool = True,
    allow_transcode: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Dataset]:
    """Convert one photo or video held in memory; ``name`` is used in errors only.

    A photo yields one VL Photographic Image. A video yields the Video
    Photographic Image, then one VL Photographic Image per chosen frame
    (``frame_numbers`` from 1, ``frame_times`` in seconds), all in one series.
    """
    try:
        if not data:
            raise ConversionError("the file is empty")
        kind = sniff(data[:64])
        if kind is None:
            raise ConversionError(
                "not a photo or video the converter handles (JPEG, PNG, TIFF, HEIC, MP4/MOV)"
            )
        if (frame_numbers or frame_times) and kind is not MediaKind.VIDEO:
            raise ConversionError("frames can only be chosen from a video")
        context = context.with_uids()
        if kind is MediaKind.JPEG:
            return [
                convert_jpeg(
                    data,
                    demographics=demographics,
                    context=context,
                    allow_trim=allow_trim,
                    max_pixels=max_pixels,
                )
            ]
        if kind is MediaKind.VIDEO:
            video = convert_video(
                data,
                demographics=demographics,
                context=context,
                allow_transcode=allow_transcode,
            )
            frames = extract_frames(
                video,
                frame_numbers=frame_numbers,
                times=frame_times,
                uid_root=context.uid_root,
            )
            return [video, *frames]
        return [
            convert_raster(
                data,
                kind.value,
                demographics=demographics,
                context=context,
                max_pixels=max_pixels,
            )
        ]
    except ConversionError as exc:
        raise exc.for_source(name) from exc.__cause__
    except MemoryError as exc:
        raise ConversionError("not enough memory to convert", source=name) from exc


def convert_file(
    path: str | Path,
    *,
    demographics: Demographics,
    context: CaptureContext,
    frame_numbers: Sequence[int] = (),
    frame_times: Sequence[float] = (),
    allow_trim: bool = True,
    allow_transcode: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Dataset]:
    """Convert the photo or video at ``path`` (see :func:`convert_bytes`)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConversionError(f"the file is larger than the {max_bytes}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise ConversionError(
            f"cannot read the file: {exc.strerror or exc}", source=str(path)
        ) from exc
    except ConversionError as exc:
        raise exc.for_source(str(path)) from None
    return convert_bytes(
        data,
        name=str(path),
        demographics=demographics,
        context=context,
        frame_numbers=frame_numbers,
        frame_times=frame_times,
        allow_trim=allow_trim,
        allow_transcode=allow_transcode,
        max_pixels=max_pixels,
    )
