"""Checks shared by the resource routers: identifiers from URLs and forms."""

from __future__ import annotations

import re
from datetime import datetime

from archive import NotFound
from web_viewer.errors import BadRequest

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\/]")


def uid_or_404(value: str) -> str:
    """A DICOM UID from a URL; anything else (traversal, injection) is simply not found."""
    if len(value) > 64 or not _UID.match(value):
        raise NotFound("not found")
    return value


def uid_or_400(value: str, what: str) -> str:
    if len(value) > 64 or not _UID.match(value):
        raise BadRequest(f"{what} is not a DICOM UID")
    return value


def patient_id_or_404(value: str) -> str:
    if not value or len(value) > 64 or _ID_FORBIDDEN.search(value) or value in (".", ".."):
        raise NotFound("not found")
    return value


def clean_text(value: str, what: str, *, limit: int = 64, wildcards: bool = False) -> str:
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    if _ID_FORBIDDEN.search(value):
        raise BadRequest(f"{what} contains a character that is not allowed")
    if not wildcards and ("*" in value or "?" in value):
        raise BadRequest(f"{what} may not contain wildcards")
    return value


def dicom_date(value: str, what: str) -> str:
    """A date typed as YYYY-MM-DD (an HTML date field) or YYYYMMDD, as YYYYMMDD."""
    value = value.strip()
    if not value:
        return ""
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise BadRequest(f"{what} is not a date (YYYY-MM-DD)")
