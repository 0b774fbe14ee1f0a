"""The DIMSE statuses the gateway answers with, and the one map from archive
errors to them (PS3.4 B.2.3 and Annex GG for storage, C.4.1.1.4 / C.4.2.1.5
/ C.4.3.1.4 for query/retrieve, PS3.7 C for the general ones and 10.1.1.1.8
for N-EVENT-REPORT).

Every failure carries an Error Comment (0000,0902): at most 64 characters,
never patient data (archive error messages name UIDs and sizes only).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydicom.dataset import Dataset

from archive import (
    ArchiveError,
    DuplicateInstance,
    InconsistentObject,
    InvalidObject,
    InvalidQuery,
    MismatchedObject,
    MissingAttribute,
    NotAuthorised,
    ObjectTooLarge,
    StorageError,
    StorageFull,
)


class Status(enum.IntEnum):
    SUCCESS = 0x0000
    CANCEL = 0xFE00
    PENDING = 0xFF00
    # PS3.7 C.5: general
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_SOP_INSTANCE = 0x0112
    NO_SUCH_EVENT_TYPE = 0x0113
    INVALID_ARGUMENT_VALUE = 0x0115
    NO_SUCH_SOP_CLASS = 0x0118
    NOT_AUTHORISED = 0x0124
    # PS3.4 GG.4: storage, "Refused: Out of Resources" (A7xx)
    OUT_OF_RESOURCES = 0xA700  # data folder full (below its free-space reserve)
    STORAGE_FAILED = 0xA701  # the blob store or index could not be written
    TOO_LARGE = 0xA702  # bigger than PHOTOPACS_MAX_OBJECT_BYTES
    # PS3.4 GG.4: "Error: Data Set does not match SOP Class" / Q/R "Identifier does not match"
    DOES_NOT_MATCH = 0xA900
    # PS3.4 GG.4: "Error: Cannot understand" (Cxxx); Q/R "Unable to process"
    CANNOT_UNDERSTAND = 0xC000  # not DICOM, truncated, malformed
    MISSING_ATTRIBUTE = 0xC001  # a UID or PatientID is absent or empty
    INCONSISTENT = 0xC002  # contradicts the archive (study of another patient)
    CONFLICTING_DUPLICATE = 0xC003  # SOP Instance UID stored with other content
    UNABLE_TO_PROCESS = 0xC0FF  # unexpected error (logged); Q/R "Unable to process"
    # PS3.4 C.4.2.1.5: C-MOVE destination unknown
    MOVE_DESTINATION_UNKNOWN = 0xA801
    # PS3.4 C.4.2.1.5 / C.4.3.1.4: sub-operations complete, one or more failures
    SUBOPERATIONS_FAILED = 0xB000


@dataclass(frozen=True)
class Answer:
    """A status and its Error Comment."""

    status: Status
    comment: str = ""

    def dataset(self) -> Dataset:
        ds = Dataset()
        ds.Status = int(self.status)
        if self.comment:
            ds.ErrorComment = _comment(self.comment)
        return ds


def _comment(text: str) -> str:
    """An LO value: one line, no backslash, at most 64 characters."""
    clean = " ".join(text.replace("\\", "/").split())
    return clean[:64]


def store_failure(exc: ArchiveError) -> Answer:
    """The C-STORE answer for an archive error (PS3.4 B.2.3, GG.4)."""
    if isinstance(exc, StorageFull):
        return Answer(Status.OUT_OF_RESOURCES, f"out of resources: {exc}")
    if isinstance(exc, ObjectTooLarge):
        return Answer(Status.TOO_LARGE, f"out of resources: {exc}")
    if isinstance(exc, StorageError):
        return Answer(Status.STORAGE_FAILED, "out of resources: storage failed, retry later")
    if isinstance(exc, DuplicateInstance):
        return Answer(Status.CONFLICTING_DUPLICATE, "conflicting duplicate: UID has other content")
    if isinstance(exc, NotAuthorised):
        return Answer(Status.NOT_AUTHORISED, "refused: not authorised to send rejection notes")
    if isinstance(exc, MismatchedObject):
        return Answer(Status.DOES_NOT_MATCH, str(exc))
    if isinstance(exc, MissingAttribute):
        return Answer(Status.MISSING_ATTRIBUTE, f"cannot understand: {exc.keyword} missing")
    if isinstance(exc, InconsistentObject):
        return Answer(Status.INCONSISTENT, f"cannot understand: {exc}")
    if isinstance(exc, InvalidObject):
        return Answer(Status.CANNOT_UNDERSTAND, f"cannot understand: {exc}")
    return Answer(Status.UNABLE_TO_PROCESS, "cannot understand: archive refused the object")


def query_failure(exc: ArchiveError) -> Answer:
    """The C-FIND / C-MOVE / C-GET answer for an archive error (PS3.4 C.4.1.1.4)."""
    if isinstance(exc, InvalidQuery):
        return Answer(Status.DOES_NOT_MATCH, f"identifier: {exc}")
    if isinstance(exc, NotAuthorised):
        return Answer(Status.NOT_AUTHORISED, f"refused: {exc}")
    return Answer(Status.UNABLE_TO_PROCESS, "unable to process")


REFUSED = Answer(Status.NOT_AUTHORISED, "refused: not authorised")
INTERNAL = Answer(Status.UNABLE_TO_PROCESS, "unable to process: internal error")
