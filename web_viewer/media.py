"""Turning stored objects into what a browser shows, cached under the data
folder and named by content hash only (never by patient data, R13).

* A JPEG Baseline photo is served as its own JPEG bitstream, not decoded,
  with metadata segments (APP1 EXIF/XMP, APP13 IPTC, COM, ...) stripped by
  the archive's JPEG segment filter: objects from other sources may carry them.
* Any other image is decoded once (pydicom) and cached as a lossless PNG.
* Thumbnails are made once and cached as small JPEGs without metadata.
* Nothing is decoded whose header declares more than ``max_pixels`` pixels a
  frame (``PHOTOPACS_MAX_IMAGE_PIXELS``): such an object has no rendered
  picture or thumbnail (:class:`NotRenderable`). Decoding is blocking work:
  callers run it in a worker thread (the image routes are plain ``def``
  routes, which FastAPI runs in its thread pool), never on the event loop.
* A video object's H.264/HEVC Annex-B stream is remuxed (not re-encoded)
  into a fast-start MP4 with PyAV, once, and served with range requests.

Pixels are served as stored: the DICOM pixel matrix is upright by definition,
and without EXIF a browser cannot rotate it.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments, generate_frames
from pydicom.pixels.utils import pixel_array

from archive import DOCUMENT_CLASSES, VIDEO_CLASSES, ImageItem
from archive.convert import jpeg

log = logging.getLogger(__name__)

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
H264_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.106",
    }
)
HEVC_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"})
MP4_TIME_BASE = Fraction(1, 90000)


class NotRenderable(Exception):
    """The object has no picture the viewer can show (a document, a broken file)."""


@dataclass(frozen=True)
class Picture:
    data: bytes | None
    path: Path | None
    media_type: str


def is_video(item: ImageItem) -> bool:
    """Shown as a video (a player, a play mark on its thumbnail)."""
    return item.sop_class_uid in VIDEO_CLASSES


def is_document(item: ImageItem) -> bool:
    """A document (consent SR, signed form, letter): listed apart, no picture."""
    return item.sop_class_uid in DOCUMENT_CLASSES


def etag(item: ImageItem, kind: str) -> str:
    return f'"{item.sha256[:32]}-{kind}"'


def _atomic_write(target: Path, write: Callable[[Path], None]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@functools.lru_cache(maxsize=4096)
def header(path: Path) -> Dataset:
    """The stored object's attributes without pixel data (files never change:
    they are named by their content hash)."""
    return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def body_site(path: Path, fallback: str) -> str:
    try:
        ds = header(path)
    except (OSError, pydicom.errors.InvalidDicomError):
        return fallback or "Unspecified site"
    region = ds.get("AnatomicRegionSequence")
    if region:
        item = region[0]
        text = str(item.get("CodeMeaning", ""))
        modifiers = item.get("AnatomicRegionModifierSequence") or []
        lateral = [str(m.get("CodeMeaning", "")) for m in modifiers]
        if text:
            return " ".join([*lateral, text]).strip().capitalize()
    return (fallback or str(ds.get("BodyPartExamined", "")) or "Unspecified site").capitalize()


def describe(path: Path) -> dict[str, str]:
    """Acquisition details and derived-image labels for the image page."""
    ds = header(path)
    out: dict[str, str] = {}

    def put(label: str, value: Any) -> None:
        text = str(value).strip() if value is not None else ""
        if text:
            out[label] = text

    image_type = list(ds.get("ImageType") or [])
    put("Image type", "\\".join(str(v) for v in image_type))
    if image_type and str(image_type[0]).upper() == "DERIVED":
        put("Derived", ds.get("DerivationDescription") or "derived image")
        sources = ds.get("SourceImageSequence") or []
        put("Derived from", ", ".join(str(s.get("ReferencedSOPInstanceUID", "")) for s in sources))
    put("Acquired", ds.get("AcquisitionDateTime") or ds.get("ContentDate"))
    put("Size", f"{ds.get('Columns', '?')} × {ds.get('Rows', '?')} pixels")
    frames = ds.get("NumberOfFrames")
    if frames and int(frames) > 1:
        put("Frames", f"{frames} at {ds.get('CineRate', '?')} frames/s")
    put("Laterality", ds.get("ImageLaterality"))
    put("Camera", " ".join(str(ds.get(k, "")) for k in ("Manufacturer", "ManufacturerModelName")))
    put("Lossy compression", "yes" if ds.get("LossyImageCompression") == "01" else "")
    put("Comments", ds.get("ImageComments"))
    return out


class MediaCache:
    """Renders and caches pictures, thumbnails and video for stored objects."""

    def __init__(self, root: Path, *, thumbnail_pixels: int, max_pixels: int) -> None:
        self.root = root
        self.thumbnail_pixels = thumbnail_pixels
        self.max_pixels = max_pixels

    def _check_size(self, columns: int, rows: int) -> None:
        """Refuse to decode a picture above the pixel limit (its header says so)."""
        if columns * rows > self.max_pixels:
            raise NotRenderable(
                f"{columns}x{rows} pixels is more than the {self.max_pixels}-pixel limit"
            )

    def _check_header(self, path: Path) -> None:
        try:
            ds = header(path)
            self._check_size(int(ds.get("Columns", 0) or 0), int(ds.get("Rows", 0) or 0))
        except (OSError, ValueError, TypeError, pydicom.errors.InvalidDicomError) as exc:
            raise NotRenderable("the object's header could not be read") from exc

    def _cached(self, folder: str, item: ImageItem, suffix: str) -> Path:
        return self.root / folder / item.sha256[:2] / f"{item.sha256}{suffix}"

    # --- full pictures -----------------------------------------------------------
    def picture(self, item: ImageItem, path: Path) -> Picture:
        if is_document(item):
            raise NotRenderable("a document has no picture")
        if is_video(item):
            return Picture(None, self.thumbnail(item, path), "image/jpeg")
        if item.transfer_syntax_uid == JPEG_BASELINE and (item.number_of_frames or 1) == 1:
            return Picture(self.clean_jpeg(path), None, "image/jpeg")
        target = self._cached("render", item, ".png")
        if not target.exists():
            self._check_header(path)
            image = self._decode(path)
            _atomic_write(target, lambda tmp: image.save(tmp, format="PNG"))
        return Picture(None, target, "image/png")

    @staticmethod
    def clean_jpeg(path: Path) -> bytes:
        """The first frame's JPEG bitstream, metadata segments removed (no decode)."""
        ds = pydicom.dcmread(path, force=True)
        frames = generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1)))
        data = next(frames)
        end = data.rfind(b"\xff\xd9")
        if end >= 0:
            data = data[: end + 2]  # fragments are padded to even length
        try:
            return jpeg.strip_metadata(jpeg.parse(data))
        except ValueError as exc:
            raise NotRenderable("the JPEG bitstream could not be read") from exc

    @staticmethod
    def _decode(path: Path) -> Image.Image:
        ds = pydicom.dcmread(path, force=True)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        try:  # only the first frame is decoded
            pixels = pixel_array(ds, index=0) if frames > 1 else ds.pixel_array
        except Exception as exc:
            raise NotRenderable("the pixel data could not be decoded") from exc
        samples = int(ds.get("SamplesPerPixel", 1))
        if samples == 1:
            arr = pixels.astype(np.float64)
            low, high = float(arr.min()), float(arr.max())
            scaled = (arr - low) * (255.0 / (high - low)) if high > low else arr * 0
            if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
                scaled = 255 - scaled
            return Image.fromarray(scaled.astype(np.uint8), mode="L")
        if pixels.dtype != np.uint8:
            pixels = (pixels >> max(0, int(ds.get("BitsStored", 8)) - 8)).astype(np.uint8)
        return Image.fromarray(pixels, mode="RGB")

    # --- thumbnails ----------------------------------------------------------------
    def thumbnail(self, item: ImageItem, path: Path) -> Path:
        if is_document(item):
            raise NotRenderable("a document has no picture")
        px = self.thumbnail_pixels
        target = self._cached("thumbs", item, f"-{px}.jpg")
        if target.exists():
            return target
        if is_video(item):
            self._check_header(path)
            image = self._video_frame(item, path)
        elif item.transfer_syntax_uid == JPEG_BASELINE and (item.number_of_frames or 1) == 1:
            image = Image.open(io.BytesIO(self.clean_jpeg(path)))
            image.draft("RGB", (px * 2, px * 2))  # decoded at 1/2..1/8 scale
            self._check_size(*image.size)
        else:
            self._check_header(path)
            image = self._decode(path)
        image = image.convert("RGB")
        image.thumbnail((px, px))
        return _atomic_write(target, lambda tmp: image.save(tmp, format="JPEG", quality=82))

    @staticmethod
    def _stream(path: Path) -> tuple[bytes, Dataset]:
        ds = pydicom.dcmread(path, force=True)
        return b"".join(generate_fragments(ds.PixelData)), ds

    def _video_frame(self, item: ImageItem, path: Path) -> Image.Image:
        stream, _ = self._stream(path)
        try:
            container: Any = av.open(io.BytesIO(stream), format=_codec(item))
            with container:
                for frame in container.decode(video=0):
                    image: Image.Image = frame.to_image()
                    return image
        except av.FFmpegError as exc:
            raise NotRenderable("the video stream could not be decoded") from exc
        raise NotRenderable("the video stream holds no frames")

    # --- video -----------------------------------------------------------------------
    def video(self, item: ImageItem, path: Path) -> Path:
        """The stored stream in a fast-start MP4 (remuxed, never re-encoded), cached."""
        if not is_video(item):
            raise NotRenderable("not a video")
        target = self._cached("video", item, ".mp4")
        if target.exists():
            return target
        stream, ds = self._stream(path)
        rate = _frame_rate(ds)
        try:
            return _atomic_write(target, lambda tmp: remux(stream, _codec(item), rate, tmp))
        except av.FFmpegError as exc:
            raise NotRenderable("the video stream could not be remuxed") from exc


def _codec(item: ImageItem) -> str:
    if item.transfer_syntax_uid in HEVC_SYNTAXES:
        return "hevc"
    if item.transfer_syntax_uid in H264_SYNTAXES:
        return "h264"
    raise NotRenderable("the video is not H.264 or HEVC")


def _frame_rate(ds: Dataset) -> Fraction:
    try:
        if ds.get("FrameTime"):
            rate = Fraction(1000) / Fraction(str(ds.FrameTime))
            if rate > 0:
                return rate.limit_denominator(1001)
        if ds.get("CineRate"):
            return Fraction(int(ds.CineRate))
    except (ValueError, ZeroDivisionError):
        pass
    return Fraction(25)


def remux(stream: bytes, codec: str, rate: Fraction, target: Path) -> None:
    """Annex-B elementary stream -> MP4, packets copied unchanged.

    A raw stream carries no timestamps, and with B-frames display order differs
    from decode order; the decoder is run once (only to learn that order), then
    each packet gets its presentation time and the packets are muxed as they are.
    """
    src: Any = av.open(io.BytesIO(stream), format=codec, options={"framerate": str(rate)})
    with src:
        source = src.streams.video[0]
        packets = [p for p in src.demux(source) if p.size]
        extradata = source.codec_context.extradata
        decoder: Any = av.CodecContext.create(codec, "r")
        if extradata:
            decoder.extradata = extradata
        order: list[int] = []
        for index, packet in enumerate(packets):
            packet.pts = packet.dts = index
            packet.time_base = Fraction(1, 1)
            order += [int(f.pts) for f in decoder.decode(packet) if f.pts is not None]
        order += [int(f.pts) for f in decoder.decode(None) if f.pts is not None]
        position = {index: rank for rank, index in enumerate(order)}
        delay = max([i - position.get(i, i) for i in range(len(packets))], default=0)
        step = round(1 / rate / MP4_TIME_BASE)
        with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            sink = out.add_stream_from_template(source)
            sink.time_base = MP4_TIME_BASE
            for index, packet in enumerate(packets):
                packet.stream = sink
                packet.time_base = MP4_TIME_BASE
                packet.pts = (position.get(index, index) + delay) * step
                packet.dts = index * step
                packet.duration = step
                out.mux(packet)
