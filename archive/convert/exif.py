"""The few EXIF facts worth keeping (EXIF 2.32 / CIPA DC-008), read with Pillow.

Only capture time (with its UTC offset), make, model and orientation are read;
nothing else from EXIF is ever copied into a DICOM object.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from struct import error as struct_error
from typing import Final

from PIL import Image

__all__ = ["ExifFacts", "read_exif"]

_EXIF_IFD: Final = 0x8769
_MAKE: Final = 0x010F
_MODEL: Final = 0x0110
_ORIENTATION: Final = 0x0112
_DATETIME: Final = 0x0132
_DATETIME_ORIGINAL: Final = 0x9003
_OFFSET_TIME_ORIGINAL: Final = 0x9011
_SUBSEC_TIME_ORIGINAL: Final = 0x9291

_OFFSET_RE: Final = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True)
class ExifFacts:
    """Facts from EXIF; all optional, orientation 1 (upright) when absent."""

    when: dt.datetime | None = None
    make: str | None = None
    model: str | None = None
    orientation: int = 1


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _when(exif: Image.Exif) -> dt.datetime | None:
    sub = exif.get_ifd(_EXIF_IFD)
    stamp = _text(sub.get(_DATETIME_ORIGINAL)) or _text(exif.get(_DATETIME))
    if stamp is None:
        return None
    try:
        when = dt.datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    subsec = _text(sub.get(_SUBSEC_TIME_ORIGINAL))
    if subsec and subsec.isdigit():
        when = when.replace(microsecond=int(subsec[:6].ljust(6, "0")))
    offset = _text(sub.get(_OFFSET_TIME_ORIGINAL))
    match = _OFFSET_RE.match(offset or "")
    if match:
        sign = -1 if match[1] == "-" else 1
        delta = dt.timedelta(hours=int(match[2]), minutes=int(match[3]))
        if delta < dt.timedelta(hours=15):
            when = when.replace(tzinfo=dt.timezone(sign * delta))
    return when


def read_exif(payload: bytes | Image.Exif | None) -> ExifFacts:
    """Read capture facts from an EXIF block (``Exif\\0\\0`` + TIFF) or a Pillow Exif.

    Malformed EXIF is tolerated: whatever cannot be read is left out.
    """
    if payload is None:
        return ExifFacts()
    if isinstance(payload, Image.Exif):
        exif = payload
    else:
        exif = Image.Exif()
        try:
            exif.load(payload)
        except (ValueError, OSError, SyntaxError, KeyError, TypeError, struct_error):
            return ExifFacts()
    try:
        orientation = int(exif.get(_ORIENTATION, 1))
    except (TypeError, ValueError):
        orientation = 1
    if orientation not in range(1, 9):
        orientation = 1
    try:
        when = _when(exif)
    except (ValueError, OSError, SyntaxError, KeyError, TypeError, struct_error):
        when = None
    return ExifFacts(
        when=when,
        make=_text(exif.get(_MAKE)),
        model=_text(exif.get(_MODEL)),
        orientation=orientation,
    )
