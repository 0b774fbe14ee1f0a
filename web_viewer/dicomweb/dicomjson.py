"""The DICOM JSON Model (PS3.18 Annex F): query matches and instance metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset

from archive import Match

NUMBER_VRS = {"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"}
PIXEL_DATA = "7FE00010"
AVAILABLE_TRANSFER_SYNTAX = "00083002"
RETRIEVE_URL = "00081190"

Json = dict[str, Any]


def tag_of(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


def keyword_of(attribute: str) -> str | None:
    """A query key as a keyword: ``PatientID`` or its tag ``00100020``; None if neither."""
    if len(attribute) == 8 and all(c in "0123456789abcdefABCDEF" for c in attribute):
        return keyword_for_tag(int(attribute, 16)) or None
    return attribute if tag_for_keyword(attribute) is not None else None


def _person(value: str) -> Json:
    groups = dict(zip(("Alphabetic", "Ideographic", "Phonetic"), value.split("="), strict=False))
    return {k: v for k, v in groups.items() if v}


def element(keyword: str, value: Any) -> Json:
    """One attribute as DICOM JSON: ``{"vr": ..., "Value": [...]}`` (no Value when empty)."""
    vr = dictionary_VR(keyword)
    if value is None or value == "" or value == []:
        return {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        return {"vr": vr, "Value": [_person(str(v)) for v in values]}
    if vr in NUMBER_VRS:
        return {"vr": vr, "Value": [int(v) if vr != "DS" else float(v) for v in values]}
    out: list[str] = []
    for v in values:
        out += str(v).split("\\")
    return {"vr": vr, "Value": out}


def match_json(match: Match, keywords: list[str], retrieve_url: str) -> Json:
    """A query match with the requested attributes and its RetrieveURL, sorted by tag."""
    out = {tag_of(k): element(k, match.get(k)) for k in {*match, *keywords}}
    if retrieve_url:
        out[RETRIEVE_URL] = {"vr": "UR", "Value": [retrieve_url]}
    return dict(sorted(out.items()))


def instance_metadata(
    path: Path, stored_syntax: str, *, native: bool, pixel_uri: Callable[[Dataset], str]
) -> Json:
    """The stored object's attributes without its pixel data, whose place is taken by
    a BulkDataURI (``pixel_uri``: the frames resource, or "" for none), and the
    transfer syntax it is available in."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    out: Json = ds.to_json_dict(bulk_data_threshold=1 << 30, suppress_invalid_tags=True)
    out[AVAILABLE_TRANSFER_SYNTAX] = {"vr": "UI", "Value": [stored_syntax]}
    if "Rows" in ds and "Columns" in ds:
        vr = "OW" if native and int(ds.get("BitsAllocated", 8)) > 8 else "OB"
        uri = pixel_uri(ds)
        out[PIXEL_DATA] = {"vr": vr, **({"BulkDataURI": uri} if uri else {})}
    return dict(sorted(out.items()))
