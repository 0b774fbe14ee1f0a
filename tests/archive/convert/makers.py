"""Builders for test inputs the corpus lacks: EXIF with GPS, rotated photos,
thumbnails, PNG/TIFF/HEIC, small videos in several codecs, broken files."""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

RGB = npt.NDArray[np.uint8]

# Values that must never reach a DICOM object.
GPS_LATITUDE = ((51, 1), (30, 1), (123457, 10000))
GPS_LONGITUDE = ((0, 1), (7, 1), (398765, 10000))
SERIAL = b"SERIAL-7Q4Z-SECRET"
OWNER = b"Owner Dr Hidden Name"
MAKERNOTE = b"MAKERNOTE-PRIVATE-BLOB-0123456789"
XMP_SECRET = b"XMP-GPS-51.5034N"
COMMENT = b"COMMENT-PATIENT-SECRET"


def rationals(values: tuple[tuple[int, int], ...]) -> bytes:
    return b"".join(struct.pack("<II", n, d) for n, d in values)


def _ifd(entries: list[tuple[int, int, int, bytes]], base: int, next_ifd: int) -> bytes:
    """One little-endian TIFF IFD at offset ``base`` with its out-of-line values after it."""
    entries = sorted(entries)
    head = struct.pack("<H", len(entries))
    data_at = base + 2 + 12 * len(entries) + 4
    body, extra = b"", b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            body += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\x00")
        else:
            body += struct.pack("<HHII", tag, typ, count, data_at + len(extra))
            extra += value + (b"\x00" if len(value) % 2 else b"")
    return head + body + struct.pack("<I", next_ifd) + extra


def _ascii(tag: int, text: bytes) -> tuple[int, int, int, bytes]:
    return (tag, 2, len(text) + 1, text + b"\x00")


def _long(tag: int, value: int) -> tuple[int, int, int, bytes]:
    return (tag, 4, 1, struct.pack("<I", value))


def exif_block(
    *,
    orientation: int = 1,
    thumbnail: bytes | None = None,
    when: bytes = b"2024:03:05 14:15:16",
    offset: bytes | None = b"+01:00",
) -> bytes:
    """``Exif\\0\\0`` + TIFF: make, model, orientation, capture time, GPS, serial,
    owner, maker note and (optionally) an IFD1 JPEG thumbnail."""
    ifd0_fixed = [
        _ascii(0x010F, b"Acme"),
        _ascii(0x0110, b"ClinicCam 3"),
        (0x0112, 3, 1, struct.pack("<H", orientation)),
    ]
    exif_entries = [
        _ascii(0x9003, when),
        _ascii(0x9291, b"25"),
        (0x927C, 7, len(MAKERNOTE), MAKERNOTE),
        _ascii(0xA430, OWNER),
        _ascii(0xA431, SERIAL),
    ]
    if offset:
        exif_entries.append(_ascii(0x9011, offset))
    gps_entries = [
        (0x0000, 1, 4, b"\x02\x03\x00\x00"),
        _ascii(0x0001, b"N"),
        (0x0002, 5, 3, rationals(GPS_LATITUDE)),
        _ascii(0x0003, b"W"),
        (0x0004, 5, 3, rationals(GPS_LONGITUDE)),
    ]
    # Lay out: IFD0 | Exif IFD | GPS IFD | IFD1 | thumbnail, sizes first.
    ifd0_len = len(_ifd([*ifd0_fixed, _long(0x8769, 0), _long(0x8825, 0)], 8, 0))
    exif_at = 8 + ifd0_len
    exif_len = len(_ifd(exif_entries, exif_at, 0))
    gps_at = exif_at + exif_len
    gps_len = len(_ifd(gps_entries, gps_at, 0))
    ifd1_at = gps_at + gps_len
    ifd1 = b""
    if thumbnail is not None:
        ifd1_probe = [_long(0x0201, 0), _long(0x0202, len(thumbnail))]
        thumb_at = ifd1_at + len(_ifd(ifd1_probe, ifd1_at, 0))
        ifd1 = _ifd([_long(0x0201, thumb_at), _long(0x0202, len(thumbnail))], ifd1_at, 0)
        ifd1 += thumbnail
    ifd0 = _ifd(
        [*ifd0_fixed, _long(0x8769, exif_at), _long(0x8825, gps_at)],
        8,
        ifd1_at if thumbnail is not None else 0,
    )
    tiff = (
        b"II*\x00"
        + struct.pack("<I", 8)
        + ifd0
        + _ifd(exif_entries, exif_at, 0)
        + _ifd(gps_entries, gps_at, 0)
        + ifd1
    )
    return b"Exif\x00\x00" + tiff


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def scene(width: int, height: int, seed: int = 1) -> RGB:
    """An upright test picture: smooth gradient, noise, and a red block top-left."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), (x + y) % 256], axis=2
    ).astype(np.int16)
    img += rng.integers(-20, 20, img.shape, dtype=np.int16)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img[: height // 4, : width // 4] = (255, 0, 0)
    return img


def jpeg_bytes(rgb: RGB, *, quality: int = 90, subsampling: int = 2, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=subsampling, **kwargs)
    return buf.getvalue()


def thumbnail_jpeg() -> bytes:
    rng = np.random.default_rng(99)
    return jpeg_bytes(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), quality=95)


def private_photo(*, upright: RGB, orientation: int = 6, thumbnail: bytes | None = None) -> bytes:
    """A camera-like JPEG: stored sideways (for Orientation 6), EXIF with GPS,
    serial and maker note, an XMP packet, a comment, and MPF data after EOI."""
    stored = {1: upright, 6: np.rot90(upright, k=1), 8: np.rot90(upright, k=-1),
              3: np.rot90(upright, k=2)}[orientation]  # fmt: skip
    plain = jpeg_bytes(np.ascontiguousarray(stored))
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + XMP_SECRET + b"</x:xmpmeta>"
    photo = insert_after_soi(
        plain,
        segment(0xE1, exif_block(orientation=orientation, thumbnail=thumbnail)),
        segment(0xE1, xmp),
        segment(0xE2, b"MPF\x00" + b"II*\x00\x08\x00\x00\x00" + b"\x00" * 6),
        segment(0xED, b"Photoshop 3.0\x00" + b"8BIM" + COMMENT),
        segment(0xFE, COMMENT),
    )
    return photo + b"\xff\xd8TRAILING-SECOND-IMAGE" + COMMENT + b"\xff\xd9"


def video_bytes(
    codec: str = "libx264",
    *,
    width: int = 160,
    height: int = 120,
    frames: int = 12,
    rate: int = 25,
    fmt: str = "mp4",
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """A short synthetic video; frame i is a flat grey of level 20*i with a white
    block at the top-left, so frames and orientation can be recognised."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.codec_context.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            img = np.full((height, width, 3), 20 * i % 256, np.uint8)
            img[: height // 4, : width // 4] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
