"""What a DICOMweb client accepts (PS3.18 8.7) and what photopacs answers with.

``Accept`` values are read with quoted or unquoted parameters, several per header
(comma separated, in ``q`` order), either as ``multipart/related; type=...`` or as
the bare media type. photopacs answers what it stores whenever the client takes
it (ADR 0006): a request without a ``transfer-syntax`` parameter, or with
``transfer-syntax=*``, gets the stored bytes; decoding to Explicit VR Little
Endian is the fallback for a client that accepts only that.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive import DEFLATED, EXPLICIT_LE, NATIVE, can_decode, why_not
from web_viewer.errors import ViewerError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET = "application/octet-stream"
ANY_SYNTAX = "*"

# Stored (encapsulated) transfer syntax -> the media type of one frame's bitstream
# (PS3.18 Table 8.7.3-4). Video has no single frames: not in this table.
BITSTREAM: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


class NotAcceptable(ViewerError):
    """Nothing the client accepts can be made from what is stored."""

    status = 406
    code = "not_acceptable"


@dataclass(frozen=True)
class Wanted:
    """One acceptable media type: the (part) type, its transfer syntax if named."""

    media: str
    syntax: str | None
    quality: float


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def accepted(header: str | None) -> list[Wanted]:
    """The media types of an ``Accept`` header, best first (none: anything)."""
    wanted: list[Wanted] = []
    for item in _split(header or "", ","):
        pieces = [p.strip() for p in _split(item, ";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            params[name.strip().lower()] = value.strip().strip('"').strip()
        media = pieces[0].lower()
        if media == "multipart/related":
            media = params.get("type", "*/*").lower() or "*/*"
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 1.0
        wanted.append(Wanted(media, params.get("transfer-syntax") or None, quality))
    if not wanted:
        return [Wanted("*/*", None, 1.0)]
    return sorted(wanted, key=lambda w: -w.quality)


def matches(pattern: str, media: str) -> bool:
    """Whether an accepted (possibly wildcard) media type covers ``media``."""
    if pattern in ("*/*", "*", media):
        return True
    major, _, minor = pattern.partition("/")
    return minor == "*" and media.startswith(major + "/")


def accepts_json(header: str | None) -> bool:
    """QIDO answers DICOM JSON only (PS3.18 10.6.3.3.1)."""
    return any(
        matches(w.media, DICOM_JSON) or matches(w.media, "application/json")
        for w in accepted(header)
    )


def dicom_syntax(wants: list[Wanted], stored: str) -> str | None:
    """The transfer syntax to send a whole object in: the stored one, or Explicit VR
    Little Endian decoded when only that is accepted and photopacs can decode it."""
    for w in wants:
        if not matches(w.media, DICOM):
            continue
        if w.syntax in (None, ANY_SYNTAX, stored):
            return stored
        if w.syntax == EXPLICIT_LE and can_decode(stored):
            return EXPLICIT_LE
    return None


def native(stored: str) -> bool:
    return stored in NATIVE or stored == DEFLATED


def frame_media(wants: list[Wanted], stored: str) -> tuple[str, str] | None:
    """The (media type, transfer syntax) to send frames in: the stored bitstream
    when accepted, else native (``application/octet-stream``, Explicit VR Little
    Endian), decoded from the bitstream when need be."""
    bitstream = BITSTREAM.get(stored)
    for w in wants:
        if bitstream and matches(w.media, bitstream) and w.syntax in (None, ANY_SYNTAX, stored):
            return bitstream, stored
        decodable = w.media != "*/*" and bool(bitstream) and can_decode(stored)
        if (
            matches(w.media, OCTET)
            and w.syntax in (None, ANY_SYNTAX, EXPLICIT_LE)
            and (native(stored) or decodable)
        ):
            return OCTET, EXPLICIT_LE
    return None


def refuse(stored: str, what: str) -> NotAcceptable:
    """Why nothing acceptable can be made of an object stored in ``stored``."""
    reason = why_not(stored)
    if not reason and stored not in BITSTREAM and not native(stored):
        reason = "it has no single frames"
    return NotAcceptable(
        f"{what}: none of the accepted media types can be made from the stored object"
        + (f" ({reason})" if reason else "")
    )
