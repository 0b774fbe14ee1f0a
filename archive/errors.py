"""The archive's error hierarchy.

Every error the archive's public API raises is an :class:`ArchiveError`; the
edges map them to their own vocabulary (DIMSE statuses, HTTP codes, CLI exit
codes). Messages never carry patient names.
"""

from __future__ import annotations

from typing import Any


class ArchiveError(Exception):
    """Base of every error the archive raises on purpose.

    ``refusal``: an audit entry (:class:`archive.audit.AuditEntry`) for a refused
    request. :meth:`archive.Archive.transaction` writes it in a transaction of
    its own once the failed one has rolled back, so a refusal can never roll
    back its own record (R14).
    """

    def __init__(self, *args: object, refusal: Any = None) -> None:
        super().__init__(*args)
        self.refusal = refusal
        self.audited = False  # its refusal is in the audit trail already


class ConfigurationError(ArchiveError):
    """The settings cannot work (bad URL, unwritable data folder, ...)."""


class SchemaOutOfDate(ArchiveError):
    """The database has not been migrated to the version this code needs."""


class InvalidObject(ArchiveError):
    """The object is not DICOM, is truncated or malformed, or lacks identifiers."""


class MissingAttribute(InvalidObject):
    """A attribute the archive needs (a UID, PatientID) is absent or empty."""

    def __init__(self, keyword: str) -> None:
        super().__init__(f"required attribute {keyword} is missing or empty")
        self.keyword = keyword


class InconsistentObject(InvalidObject):
    """The object contradicts what the archive already holds (e.g. a study
    that already belongs to another patient)."""


class DuplicateInstance(ArchiveError):
    """A SOP Instance UID already stored with different content."""

    def __init__(self, sop_instance_uid: str) -> None:
        super().__init__(
            f"SOP Instance UID {sop_instance_uid} is already stored with different content"
        )
        self.sop_instance_uid = sop_instance_uid


class MismatchedObject(InvalidObject):
    """The data set is not the one announced (its SOP Class or Instance UID differs
    from what the sender said it was sending; PS3.4 B.2.3 0xA900)."""


class ObjectTooLarge(InvalidObject):
    """The object exceeds the configured maximum size."""


class StorageFull(ArchiveError):
    """The data folder has too little free space to accept the object."""


class StorageError(ArchiveError):
    """Writing to or reading from the blob store failed."""


class NotFound(ArchiveError):
    """No such object, or the caller may not see it (the two are not told apart)."""


class InvalidTransition(ArchiveError):
    """An availability change that is not allowed (e.g. releasing an erased instance)."""


class InvalidQuery(ArchiveError):
    """A query the archive cannot answer (unknown level or key, malformed range)."""


class InvalidArgument(ArchiveError):
    """A value given to the archive is not acceptable (names the argument)."""


class AlreadyExists(ArchiveError):
    """Something with that identity is already registered."""


class NotAuthorised(ArchiveError):
    """The sender or user may not do this (e.g. send IOCM rejection notes)."""
