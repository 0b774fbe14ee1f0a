"""The photopacs archive core: settings, blob store, index, ingest, query,
availability, access policy and audit trail. No network code."""

from archive.audit import Action, AuditEntry, ChainReport, Outcome
from archive.commitment_requests import CommitmentRequestInfo
from archive.consent_ops import ConsentRequest, Overview, Recorded
from archive.dicomfile import Expected
from archive.errors import (
    AlreadyExists,
    ArchiveError,
    ConfigurationError,
    DuplicateInstance,
    InconsistentObject,
    InvalidArgument,
    InvalidObject,
    InvalidQuery,
    InvalidTransition,
    MismatchedObject,
    MissingAttribute,
    NotAuthorised,
    NotFound,
    ObjectTooLarge,
    SchemaOutOfDate,
    StorageError,
    StorageFull,
)
from archive.fixity import FixityReport
from archive.ingest import IngestResult, Origin
from archive.keys import Level
from archive.models import Availability, NodeRole, ReasonCode
from archive.nodes import NodeInfo
from archive.policy import Purpose, Requester, Role
from archive.query import Match
from archive.records import (
    AccessEvent,
    ConsentBadge,
    ImageItem,
    ImageRecord,
    PatientInfo,
    ReviewItem,
    StudyEntry,
    Timeline,
)
from archive.retrieve import Located
from archive.reviews import ReviewInfo, node_subject, session_subject
from archive.service import Archive, Health
from archive.settings import ArchiveSettings
from archive.uids import DOCUMENT_CLASSES, VIDEO_CLASSES
from archive.users import Accounts, AuthenticationFailed, SessionInfo, SignInThrottled, UserInfo

__all__ = [
    "DOCUMENT_CLASSES",
    "VIDEO_CLASSES",
    "AccessEvent",
    "Accounts",
    "Action",
    "AlreadyExists",
    "Archive",
    "ArchiveError",
    "ArchiveSettings",
    "AuditEntry",
    "AuthenticationFailed",
    "Availability",
    "ChainReport",
    "CommitmentRequestInfo",
    "ConfigurationError",
    "ConsentBadge",
    "ConsentRequest",
    "DuplicateInstance",
    "Expected",
    "FixityReport",
    "Health",
    "ImageItem",
    "ImageRecord",
    "InconsistentObject",
    "IngestResult",
    "InvalidArgument",
    "InvalidObject",
    "InvalidQuery",
    "InvalidTransition",
    "Level",
    "Located",
    "Match",
    "MismatchedObject",
    "MissingAttribute",
    "NodeInfo",
    "NodeRole",
    "NotAuthorised",
    "NotFound",
    "ObjectTooLarge",
    "Origin",
    "Outcome",
    "Overview",
    "PatientInfo",
    "Purpose",
    "ReasonCode",
    "Recorded",
    "Requester",
    "ReviewInfo",
    "ReviewItem",
    "Role",
    "SchemaOutOfDate",
    "SessionInfo",
    "SignInThrottled",
    "StorageError",
    "StorageFull",
    "StudyEntry",
    "Timeline",
    "UserInfo",
    "node_subject",
    "session_subject",
]
