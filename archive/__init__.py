"""The photopacs archive core: settings, blob store, index, ingest, query,
availability, access policy and audit trail. No network code.

This package's ``__all__`` is the archive's public surface: the edges
(``dicom_gateway``, ``web_viewer``) import it and ``archive.convert``, never
another module of the archive (an import-linter contract in pyproject.toml).
Everything they do goes through :class:`Archive`, whose methods return the
dataclasses re-exported here."""

from archive.audit import Action, AuditEntry, ChainReport, Outcome
from archive.consent import ADULT_AGE, ConsentRequest, Overview, Recorded, age_on
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
from archive.exchange.commitment_requests import CommitmentRequestInfo
from archive.exchange.commitments import ReportInfo
from archive.exchange.forwarding import ANY_SOURCE, JobInfo, RuleInfo, valid_sop_class
from archive.exchange.nodes import NodeInfo, valid_ae_title
from archive.exchange.propagation import PropagationInfo
from archive.fixity import FixityReport
from archive.ingest import IngestResult, Origin
from archive.keys import KEYS, UNIQUE, Level
from archive.keys import Kind as MatchKind
from archive.models import Availability, NodeRole, ReasonCode
from archive.policy import (
    MAX_SESSION_REVIEW_HOURS,
    Actor,
    Purpose,
    Role,
    acts_for_purposes,
    acts_under_review,
    gives_up_administration,
    may_administer,
    may_open_review,
    may_oversee,
    may_receive,
    may_record_consent,
    may_upload,
    node_may_review,
    node_may_store,
    review_names_patient,
    role_may_act_for,
)
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
from archive.reviews import DEFAULT_HOURS as DEFAULT_REVIEW_HOURS
from archive.reviews import ReviewInfo, node_subject, session_subject, valid_reason
from archive.service import Archive, Health
from archive.settings import ArchiveSettings
from archive.transcode import CannotTranscode, can_decode, decoded, why_not
from archive.uids import (
    DECODABLE,
    DEFLATED,
    DOCUMENT_CLASSES,
    DOCUMENT_SYNTAXES,
    EXPLICIT_LE,
    KOS,
    NATIVE,
    PIXEL_CLASSES,
    PIXEL_SYNTAXES,
    STORAGE_CLASSES,
    VIDEO_CLASSES,
    VIDEO_SYNTAXES,
    syntaxes_for,
)
from archive.uids import name as uid_name
from archive.users import (
    PEOPLE_ROLES,
    Accounts,
    AuthenticationFailed,
    SessionInfo,
    SignInThrottled,
    UserInfo,
)

__all__ = [
    "ADULT_AGE",
    "ANY_SOURCE",
    "DECODABLE",
    "DEFAULT_REVIEW_HOURS",
    "DEFLATED",
    "DOCUMENT_CLASSES",
    "DOCUMENT_SYNTAXES",
    "EXPLICIT_LE",
    "KEYS",
    "KOS",
    "MAX_SESSION_REVIEW_HOURS",
    "NATIVE",
    "PEOPLE_ROLES",
    "PIXEL_CLASSES",
    "PIXEL_SYNTAXES",
    "STORAGE_CLASSES",
    "UNIQUE",
    "VIDEO_CLASSES",
    "VIDEO_SYNTAXES",
    "AccessEvent",
    "Accounts",
    "Action",
    "Actor",
    "AlreadyExists",
    "Archive",
    "ArchiveError",
    "ArchiveSettings",
    "AuditEntry",
    "AuthenticationFailed",
    "Availability",
    "CannotTranscode",
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
    "JobInfo",
    "Level",
    "Located",
    "Match",
    "MatchKind",
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
    "PropagationInfo",
    "Purpose",
    "ReasonCode",
    "Recorded",
    "ReportInfo",
    "ReviewInfo",
    "ReviewItem",
    "Role",
    "RuleInfo",
    "SchemaOutOfDate",
    "SessionInfo",
    "SignInThrottled",
    "StorageError",
    "StorageFull",
    "StudyEntry",
    "Timeline",
    "UserInfo",
    "acts_for_purposes",
    "acts_under_review",
    "age_on",
    "can_decode",
    "decoded",
    "gives_up_administration",
    "may_administer",
    "may_open_review",
    "may_oversee",
    "may_receive",
    "may_record_consent",
    "may_upload",
    "node_may_review",
    "node_may_store",
    "node_subject",
    "review_names_patient",
    "role_may_act_for",
    "session_subject",
    "syntaxes_for",
    "uid_name",
    "valid_ae_title",
    "valid_reason",
    "valid_sop_class",
    "why_not",
]
