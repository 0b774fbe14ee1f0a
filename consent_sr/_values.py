"""DICOM date and time values (PS3.5 6.2 DA, TM, DT) to and from Python, tolerantly."""

from __future__ import annotations

import datetime

from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM


def read_date(ds: Dataset, keyword: str, problems: list[str]) -> datetime.date | None:
    """A DA attribute as a date; None (and a problem noted) when malformed."""
    raw = str(ds.get(keyword, "") or "").strip()
    if not raw:
        return None
    try:
        value = DA(raw)
    except ValueError:
        problems.append(f"{keyword} {raw!r} is not a valid date")
        return None
    return datetime.date(value.year, value.month, value.day)


def read_time(ds: Dataset, keyword: str, problems: list[str]) -> datetime.time | None:
    """A TM attribute as a time; None (and a problem noted) when malformed."""
    raw = str(ds.get(keyword, "") or "").strip()
    if not raw:
        return None
    try:
        value = TM(raw)
    except ValueError:
        problems.append(f"{keyword} {raw!r} is not a valid time")
        return None
    return datetime.time(value.hour, value.minute, value.second, value.microsecond)


def read_datetime(raw: object) -> datetime.datetime | None:
    """A DT value as a datetime (aware when the value carries an offset), else None."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        value = DT(text)
    except ValueError:
        return None
    return datetime.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
    )


def format_datetime(value: datetime.datetime) -> str:
    """A DT value (PS3.5 6.2) keeping microseconds and, when aware, the UTC offset."""
    return str(DT(value))
