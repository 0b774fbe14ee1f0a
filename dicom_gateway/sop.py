"""The SOP classes and transfer syntaxes the gateway negotiates (PS3.4 B.5,
C.3, J.3; PS3.5 A/10), named by pydicom and pynetdicom.

The storage classes and the order in which the archive prefers transfer
syntaxes come from the archive (:mod:`archive.uids`): for objects with pixel data the
encapsulated syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, MPEG-2/4, HEVC) come
before the native ones, so that when a camera offers its JPEG or H.264
bitstream alongside an uncompressed fallback, the archive keeps the
bitstream. pynetdicom, as acceptor, takes the first syntax of *our* list
that the caller offered.
"""

from __future__ import annotations

import enum

from pydicom.uid import UID

from archive import NATIVE, PIXEL_SYNTAXES, STORAGE_CLASSES, syntaxes_for


class Service(enum.StrEnum):
    """The DIMSE services a node's role may be allowed."""

    ECHO = "echo"
    STORE = "store"
    FIND = "find"
    MOVE = "move"
    GET = "get"
    COMMIT = "commit"  # ask us to commit (N-ACTION); we report
    COMMIT_REPORT = "commit-report"  # report on a commitment we asked for (N-EVENT-REPORT)


# Service classes (pynetdicom.sop_class makes these names at run time, which
# mypy cannot see, so they are written out here, once).
VERIFICATION = UID("1.2.840.10008.1.1")  # Verification SOP Class
COMMITMENT = UID("1.2.840.10008.1.20.1")  # Storage Commitment Push Model SOP Class
COMMITMENT_INSTANCE = UID("1.2.840.10008.1.20.1.1")  # its well-known SOP Instance (PS3.4 J.3.5)

# Every storage SOP class the archive accepts, in a stable order.
STORAGE: tuple[UID, ...] = tuple(sorted(STORAGE_CLASSES))
UNCOMPRESSED: list[UID] = list(NATIVE)
# Every transfer syntax the archive accepts for some storage class.
TRANSFER_SYNTAXES: list[UID] = list(PIXEL_SYNTAXES)

PATIENT_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.1.1")
PATIENT_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.1.2")
PATIENT_ROOT_GET = UID("1.2.840.10008.5.1.4.1.2.1.3")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")
STUDY_ROOT_GET = UID("1.2.840.10008.5.1.4.1.2.2.3")

MOVE_MODELS = frozenset({PATIENT_ROOT_MOVE, STUDY_ROOT_MOVE})
STUDY_ROOT = frozenset({STUDY_ROOT_FIND, STUDY_ROOT_MOVE, STUDY_ROOT_GET})


QR_MODELS: dict[str, Service] = {
    PATIENT_ROOT_FIND: Service.FIND,
    STUDY_ROOT_FIND: Service.FIND,
    PATIENT_ROOT_MOVE: Service.MOVE,
    STUDY_ROOT_MOVE: Service.MOVE,
    PATIENT_ROOT_GET: Service.GET,
    STUDY_ROOT_GET: Service.GET,
}

__all__ = [
    "COMMITMENT",
    "COMMITMENT_INSTANCE",
    "MOVE_MODELS",
    "QR_MODELS",
    "STORAGE",
    "STUDY_ROOT",
    "TRANSFER_SYNTAXES",
    "UNCOMPRESSED",
    "VERIFICATION",
    "Service",
    "syntaxes_for",
]
