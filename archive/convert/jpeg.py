"""JPEG bitstreams: marker parsing, privacy stripping, lossless transforms.

Parses the marker segments of ITU-T T.81 (ISO/IEC 10918-1) Annex B without
decoding the image, rebuilds the stream from an allow-list of segments (so
EXIF with GPS, maker notes and serial numbers, XMP, IPTC, comments,
thumbnails and appended multi-picture data never reach the DICOM object), and
rotates losslessly in the DCT domain with ``jpegtran`` (libjpeg-turbo).
The entropy-coded segments are copied byte for byte.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from typing import Final

from .errors import ConversionError, UnsupportedInput

__all__ = [
    "Frame",
    "JpegStream",
    "entropy_coded_data",
    "parse",
    "strip_metadata",
    "transform",
]

SOI: Final = 0xD8
EOI: Final = 0xD9
SOS: Final = 0xDA
DQT: Final = 0xDB
DNL: Final = 0xDC
DRI: Final = 0xDD
DHT: Final = 0xC4
DAC: Final = 0xCC
APP0: Final = 0xE0
APP2: Final = 0xE2
APP14: Final = 0xEE
COM: Final = 0xFE
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn
# SOFn: start of frame markers other than DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS: Final = frozenset(set(range(0xC0, 0xD0)) - {DHT, 0xC8, DAC})


@dataclass(frozen=True)
class Segment:
    """One marker segment; for SOS, ``end`` includes the entropy-coded data."""

    marker: int
    start: int
    end: int
    header_end: int  # end of the marker segment proper (== end except for SOS)


@dataclass(frozen=True)
class Frame:
    """The frame header (T.81 B.2.2) and what it implies for DICOM."""

    sof: int
    precision: int
    rows: int
    columns: int
    components: tuple[tuple[int, int, int], ...]  # (id, horizontal, vertical sampling)

    @property
    def progressive(self) -> bool:
        return self.sof in (0xC2, 0xC6, 0xCA, 0xCE)

    @property
    def arithmetic(self) -> bool:
        return self.sof >= 0xC9

    @property
    def lossless(self) -> bool:
        return self.sof in (0xC3, 0xC7, 0xCB, 0xCF)

    @property
    def hierarchical(self) -> bool:
        return self.sof in (0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF)

    @property
    def subsampled(self) -> bool:
        return len({(h, v) for _, h, v in self.components}) > 1

    @property
    def mcu_size(self) -> tuple[int, int]:
        """MCU width and height in pixels (T.81 A.2)."""
        hmax = max(h for _, h, _ in self.components)
        vmax = max(v for _, _, v in self.components)
        return 8 * hmax, 8 * vmax


@dataclass(frozen=True)
class JpegStream:
    """A parsed JPEG: its bytes up to EOI, the segments and the frame header."""

    data: bytes
    segments: tuple[Segment, ...]
    frame: Frame
    trailing: int  # bytes after EOI (e.g. MPF secondary images), dropped on strip

    def app_payloads(self, marker: int, prefix: bytes) -> list[bytes]:
        """Payloads of APPn segments whose payload starts with ``prefix``."""
        found = []
        for seg in self.segments:
            payload = self.data[seg.start + 4 : seg.end]
            if seg.marker == marker and payload.startswith(prefix):
                found.append(payload)
        return found

    @property
    def exif(self) -> bytes | None:
        """The EXIF payload of APP1, ``Exif\\0\\0`` + TIFF structure, if any."""
        found = self.app_payloads(0xE1, b"Exif\x00")
        return found[0] if found else None

    @property
    def icc_profile(self) -> bytes | None:
        """The ICC profile reassembled from its APP2 chunks (ICC.1 B.4)."""
        chunks = []
        for payload in self.app_payloads(APP2, b"ICC_PROFILE\x00"):
            if len(payload) >= 14:
                chunks.append((payload[12], payload[14:]))
        if not chunks:
            return None
        return b"".join(chunk for _, chunk in sorted(chunks, key=lambda c: c[0]))

    @property
    def adobe_transform(self) -> int | None:
        found = self.app_payloads(APP14, b"Adobe")
        return found[0][11] if found and len(found[0]) >= 12 else None

    @property
    def has_jfif(self) -> bool:
        return bool(self.app_payloads(APP0, b"JFIF\x00"))


def _scan_entropy(data: bytes, pos: int) -> int:
    """Return the offset of the first marker after entropy-coded data at ``pos``."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise ConversionError("JPEG is truncated: entropy-coded data has no end marker")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


def parse(data: bytes) -> JpegStream:
    """Parse the marker structure of a JPEG interchange-format stream (T.81 B.2)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != SOI:
        raise ConversionError("not a JPEG stream (no SOI marker)")
    segments: list[Segment] = []
    frame: Frame | None = None
    pos = 2
    n = len(data)
    while True:
        if pos >= n:
            raise ConversionError("JPEG is truncated: no EOI marker")
        if data[pos] != 0xFF:
            raise ConversionError(f"JPEG is corrupt: expected a marker at byte {pos}")
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes (B.1.1.2)
            pos += 1
        if pos + 1 >= n:
            raise ConversionError("JPEG is truncated: no EOI marker")
        marker = data[pos + 1]
        if marker == EOI:
            segments.append(Segment(EOI, pos, pos + 2, pos + 2))
            end = pos + 2
            break
        if marker in _STANDALONE:
            segments.append(Segment(marker, pos, pos + 2, pos + 2))
            pos += 2
            continue
        if marker == SOI or pos + 4 > n:
            raise ConversionError(f"JPEG is corrupt: unexpected marker FF{marker:02X} at {pos}")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        header_end = pos + 2 + length
        if length < 2 or header_end > n:
            raise ConversionError("JPEG is truncated inside a marker segment")
        if marker in SOF_MARKERS:
            if frame is not None:
                raise UnsupportedInput("JPEG has more than one frame header")
            frame = _parse_sof(marker, data[pos + 4 : header_end])
        if marker == SOS:
            if frame is None:
                raise ConversionError("JPEG is corrupt: scan before frame header")
            seg_end = _scan_entropy(data, header_end)
        else:
            seg_end = header_end
        segments.append(Segment(marker, pos, seg_end, header_end))
        pos = seg_end
    if frame is None or not any(s.marker == SOS for s in segments):
        raise ConversionError("JPEG is corrupt: no frame header or no scan")
    return JpegStream(data=data[:end], segments=tuple(segments), frame=frame, trailing=n - end)


def _parse_sof(marker: int, body: bytes) -> Frame:
    if len(body) < 6:
        raise ConversionError("JPEG frame header is truncated")
    precision, rows, columns, count = struct.unpack(">BHHB", body[:6])
    if len(body) < 6 + 3 * count or count == 0:
        raise ConversionError("JPEG frame header is truncated")
    comps = []
    for i in range(count):
        cid, hv = body[6 + 3 * i], body[7 + 3 * i]
        h, v = hv >> 4, hv & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise ConversionError("JPEG frame header has invalid sampling factors")
        comps.append((cid, h, v))
    if rows == 0:
        raise UnsupportedInput("JPEG declares its height later (DNL marker); not supported")
    if columns == 0:
        raise ConversionError("JPEG frame header declares zero width")
    return Frame(marker, precision, rows, columns, tuple(comps))


def _clean_jfif(payload: bytes) -> bytes | None:
    """The JFIF APP0 payload without its thumbnail (JFIF 1.02), or None to drop it."""
    if not payload.startswith(b"JFIF\x00") or len(payload) < 14:
        return None  # JFXX extension segments only carry thumbnails
    return payload[:12] + b"\x00\x00"


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


_KEEP_TABLES: Final = frozenset({DQT, DHT, DAC, DRI, DNL, *SOF_MARKERS, *_STANDALONE})


def strip_metadata(stream: JpegStream) -> bytes:
    """Rebuild the stream from an allow-list of segments.

    Kept: frame and scan headers with their entropy-coded data (byte for byte),
    tables, restart intervals, JFIF APP0 (thumbnail removed), ICC profile APP2
    and Adobe APP14 (both needed to show colours right). Everything else goes:
    APP1 (EXIF, XMP), other APPn (maker data, MPF, IPTC), COM, and any bytes
    after EOI.
    """
    out = bytearray(b"\xff\xd8")
    data = stream.data
    for seg in stream.segments:
        payload = data[seg.start + 4 : seg.header_end]
        if seg.marker in _KEEP_TABLES or seg.marker in (SOS, EOI):
            out += data[seg.start : seg.end]
        elif seg.marker == APP0:
            jfif = _clean_jfif(payload)
            if jfif is not None:
                out += _segment(APP0, jfif)
        elif (seg.marker == APP2 and payload.startswith(b"ICC_PROFILE\x00")) or (
            seg.marker == APP14 and payload.startswith(b"Adobe")
        ):
            out += data[seg.start : seg.end]
    return bytes(out)


def entropy_coded_data(stream: JpegStream) -> list[bytes]:
    """The entropy-coded data of each scan (after the SOS header)."""
    return [stream.data[s.header_end : s.end] for s in stream.segments if s.marker == SOS]


# EXIF Orientation (TIFF 6.0 tag 274) -> jpegtran arguments and a description.
ORIENTATION_TRANSFORMS: Final[dict[int, tuple[list[str], str]]] = {
    2: (["-flip", "horizontal"], "mirrored left-right"),
    3: (["-rotate", "180"], "rotated 180°"),
    4: (["-flip", "vertical"], "mirrored top-bottom"),
    5: (["-transpose"], "transposed (mirrored about the top-left diagonal)"),
    6: (["-rotate", "90"], "rotated 90° clockwise"),
    7: (["-transverse"], "transversed (mirrored about the top-right diagonal)"),
    8: (["-rotate", "270"], "rotated 90° counter-clockwise"),
}


def jpegtran(args: list[str], data: bytes) -> bytes:
    """Run libjpeg-turbo's ``jpegtran`` (a lossless DCT-domain transcoder) on ``data``."""
    exe = shutil.which("jpegtran")
    if exe is None:
        raise ConversionError(
            "jpegtran (Debian package libjpeg-turbo-progs) is needed for a lossless "
            "JPEG transform but is not installed"
        )
    proc = subprocess.run(
        [exe, "-copy", "icc", *args], input=data, capture_output=True, timeout=120, check=False
    )
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip() or "no output"
        raise ConversionError(f"jpegtran failed: {message}")
    return proc.stdout


def transform(data: bytes, orientation: int, *, allow_trim: bool) -> tuple[bytes, bool]:
    """Losslessly re-orient a JPEG so it displays upright (EXIF Orientation 2-8).

    Tries ``jpegtran -perfect``; when the image is not a whole number of MCUs in
    the direction that moves, and ``allow_trim`` is set, retries with ``-trim``,
    which drops the partial MCU row/column at that edge (fewer than 16 pixels).
    Returns the new stream and whether it was trimmed.
    """
    args, _ = ORIENTATION_TRANSFORMS[orientation]
    try:
        return jpegtran(["-perfect", *args], data), False
    except ConversionError as exc:
        if "jpegtran (Debian" in exc.reason:
            raise
        if not allow_trim:
            raise UnsupportedInput(
                "the photo is rotated (EXIF Orientation "
                f"{orientation}) and its size is not a whole number of JPEG blocks, so "
                "it cannot be turned upright without re-encoding or trimming; "
                "allow trimming (at most one block row/column) to store it"
            ) from exc
    return jpegtran(["-trim", *args], data), True


def to_sequential(data: bytes) -> bytes:
    """Re-code a progressive or arithmetic-coded JPEG as sequential Huffman
    (baseline when 8-bit) without touching its DCT coefficients (``jpegtran -optimize``)."""
    return jpegtran(["-optimize"], data)
