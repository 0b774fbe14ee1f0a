"""Decoding a stored object for a receiver that cannot take its transfer syntax.

Transcoding is the fallback, never the default: the archive sends what it
holds byte for byte whenever the receiver accepts the stored syntax. When it
does not, an object in a decodable syntax (JPEG, JPEG-LS, JPEG 2000, RLE) is
decoded to Explicit VR Little Endian: the same SOP Instance UID, the pixels
exactly as a decoder of the stored object sees them, Lossy Image Compression
kept as the stored object says. The stored file is never touched. Video
cannot be turned into frames for such a receiver, and says so.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from archive.errors import ArchiveError
from archive.uids import DECODABLE, DEFLATED, EXPLICIT_LE, NATIVE, VIDEO_SYNTAXES, name


class CannotTranscode(ArchiveError):
    """The stored object cannot be decoded to a native transfer syntax."""


def can_decode(transfer_syntax_uid: str) -> bool:
    """Whether an object in this syntax can be sent in a native one."""
    return transfer_syntax_uid in DECODABLE or transfer_syntax_uid in (*NATIVE, DEFLATED)


def why_not(transfer_syntax_uid: str) -> str:
    """Why an object in this syntax cannot be decoded (empty when it can)."""
    if can_decode(transfer_syntax_uid):
        return ""
    if transfer_syntax_uid in VIDEO_SYNTAXES:
        return (
            f"stored as video ({name(transfer_syntax_uid)}), which cannot be decoded to "
            "frames in an uncompressed transfer syntax"
        )
    return f"stored in {name(transfer_syntax_uid)}, which photopacs cannot decode"


def decoded(path: Path) -> Dataset:
    """The object stored at ``path`` in Explicit VR Little Endian, pixel data decoded."""
    try:
        ds = pydicom.dcmread(path)
        syntax = str(ds.file_meta.TransferSyntaxUID)
    except Exception as exc:
        raise CannotTranscode(f"stored object unreadable: {exc}") from exc
    reason = why_not(syntax)
    if reason:
        raise CannotTranscode(reason)
    try:
        if syntax in DECODABLE:
            # Colour JPEG is decoded to RGB, the photometric interpretation a
            # native VL image must have (PS3.3 C.8.12.1.1.1).
            ds.decompress(generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = EXPLICIT_LE  # native or inflated already
    except Exception as exc:
        raise CannotTranscode(f"decoding {name(syntax)} failed: {exc}") from exc
    return ds
