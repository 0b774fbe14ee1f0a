"""The photopacs archive core: settings, blob store, index, ingest, query,
availability, access policy and audit trail. No network code."""

from archive.audit import Action, AuditEntry, ChainReport, Outcome
from archive.commitment_requests import CommitmentRequestInfo
from archive.commitments import ReportInfo
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
from archive.forwarding import ANY_SOURCE, JobInfo, RuleInfo, valid_sop_class
from archive.ingest import IngestResult, Origin
from archive.keys import Level
from archive.models import Availability, NodeRole, ReasonCode
from archive.nodes import NodeInfo, valid_ae_title
from archive.policy import Purpose, Requester, Role
from archive.query import Match
from archive.retrieve import Located
from archive.reviews import DEFAULT_HOURS, ReviewInfo, node_subject, session_subject, valid_reason
from archive.service import Archive
from archive.settings import ArchiveSettings
from archive.users import (
    PEOPLE_ROLES,
    Accounts,
    AuthenticationFailed,
    SessionInfo,
    SignInThrottled,
    UserInfo,
)

__all__ = [
    "ANY_SOURCE",
    "DEFAULT_HOURS",
    "PEOPLE_ROLES",
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
    "ConsentRequest",
    "DuplicateInstance",
    "Expected",
    "FixityReport",
    "InconsistentObject",
    "IngestResult",
    "InvalidArgument",
    "InvalidObject",
    "InvalidQuery",
    "InvalidTransition",
    "JobInfo",
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
    "Purpose",
    "ReasonCode",
    "Recorded",
    "ReportInfo",
    "Requester",
    "ReviewInfo",
    "Role",
    "RuleInfo",
    "SchemaOutOfDate",
    "SessionInfo",
    "SignInThrottled",
    "StorageError",
    "StorageFull",
    "UserInfo",
    "node_subject",
    "session_subject",
    "valid_ae_title",
    "valid_reason",
    "valid_sop_class",
]
