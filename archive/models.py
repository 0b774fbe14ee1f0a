"""The index: SQLAlchemy 2.0 typed models of Patient > Study > Series > Instance,
the audit trail, and the per-instance availability state (docs/architecture.md, section 3).

Column names are the snake_case forms of the DICOM keywords they hold; the one
keyword-to-column map lives in :mod:`archive.keys`.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Availability(enum.StrEnum):
    """Availability of an instance (docs/architecture.md, section 3)."""

    ACTIVE = "active"
    HELD = "held"
    QUARANTINED = "quarantined"
    ERASED = "erased"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class ReasonCode(enum.StrEnum):
    """Why governance held, quarantined or erased something."""

    CONSENT_WITHDRAWN = "consent-withdrawn"
    CONSENT_REFUSED = "consent-refused"
    INCIDENTAL_CAPTURE = "incidental-capture"  # another patient captured without consent
    WRONG_PATIENT = "wrong-patient"
    QUALITY = "quality"
    PATIENT_SAFETY = "patient-safety"
    RETENTION_EXPIRED = "retention-expired"
    GOVERNANCE_REVIEW = "governance-review"
    NOT_NEEDED = "not-needed-clinically"  # R16 erasure
    IDENTITY_MISMATCH = "identity-mismatch"  # held on arrival: demographics differ


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("patient_id", "issuer_of_patient_id"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str] = mapped_column(Text, default="")
    # Case-folded component groups of the name (alphabetic, ideographic,
    # phonetic) for case-insensitive matching that keeps accents as stored.
    patient_name_alpha: Mapped[str] = mapped_column(String(200), default="", index=True)
    patient_name_ideo: Mapped[str] = mapped_column(String(200), default="")
    patient_name_phon: Mapped[str] = mapped_column(String(200), default="")
    patient_birth_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    patient_sex: Mapped[str] = mapped_column(String(16), default="")

    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    __tablename__ = "studies"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.pk"), index=True)
    study_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    study_id: Mapped[str] = mapped_column(String(64), default="")
    study_description: Mapped[str] = mapped_column(Text, default="")
    referring_physician_name: Mapped[str] = mapped_column(Text, default="")
    referring_physician_name_alpha: Mapped[str] = mapped_column(String(200), default="")
    referring_physician_name_ideo: Mapped[str] = mapped_column(String(200), default="")
    referring_physician_name_phon: Mapped[str] = mapped_column(String(200), default="")

    patient: Mapped[Patient] = relationship(back_populates="studies")
    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.pk"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="", index=True)
    series_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    series_description: Mapped[str] = mapped_column(Text, default="")
    body_part_examined: Mapped[str] = mapped_column(String(64), default="")

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_series_availability", "series_pk", "availability"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.pk"))
    sop_class_uid: Mapped[str] = mapped_column(String(64), index=True)
    instance_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_date: Mapped[str] = mapped_column(String(8), default="")
    content_time: Mapped[str] = mapped_column(String(16), default="")
    number_of_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    specific_character_set: Mapped[str] = mapped_column(String(128), default="")
    # True when a text value held non-ASCII bytes without a declared
    # Specific Character Set: stored as received, decoded best-effort.
    charset_undeclared: Mapped[bool] = mapped_column(Boolean, default=False)

    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    received_from: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    availability: Mapped[Availability] = mapped_column(
        _enum(Availability, "availability"), default=Availability.ACTIVE
    )
    availability_reason: Mapped[str] = mapped_column(Text, default="")
    availability_actor: Mapped[str] = mapped_column(String(128), default="")
    availability_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # Who decided the availability: "consent" (the rules; re-evaluated when
    # consent changes) or "governance" (a person; consent changes leave it).
    availability_basis: Mapped[str] = mapped_column(String(16), default="consent")
    availability_reason_code: Mapped[str] = mapped_column(String(32), default="")
    # The governance layer: a hold or quarantine by governance ("held",
    # "quarantined", or "" for none) with its reason. Consent never changes it;
    # the availability is the stricter of it and consent's decision.
    governance_hold: Mapped[str] = mapped_column(String(16), default="")
    governance_reason: Mapped[str] = mapped_column(Text, default="")
    governance_reason_code: Mapped[str] = mapped_column(String(32), default="")
    # A derived object's source (Source Image Sequence): used only within its consent.
    source_uid: Mapped[str] = mapped_column(String(64), default="", index=True)
    # Under a legal hold an instance may not be erased.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the governing consent permits (R3); the access
    # policy filters on these, in the database.
    use_care: Mapped[bool] = mapped_column(Boolean, default=False)
    use_teaching: Mapped[bool] = mapped_column(Boolean, default=False)
    use_specified: Mapped[str] = mapped_column(Text, default="")
    governing_consent_uid: Mapped[str] = mapped_column(String(64), default="")
    consent_rule: Mapped[str] = mapped_column(String(16), default="")
    intimate: Mapped[bool] = mapped_column(Boolean, default=False)
    acquisition_date: Mapped[str] = mapped_column(String(8), default="")
    received_by: Mapped[str] = mapped_column(String(128), default="")

    series: Mapped[Series] = relationship(back_populates="instances")


class ConsentRecord(Base):
    """One consent SR document as indexed (the SR itself is an Instance too)."""

    __tablename__ = "consent_records"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    also_teaching: Mapped[bool] = mapped_column(Boolean, default=False)
    consenter: Mapped[str] = mapped_column(String(32), default="")
    consenter_name: Mapped[str] = mapped_column(Text, default="")
    form: Mapped[str] = mapped_column(String(32), default="")
    basis: Mapped[str] = mapped_column(String(32), default="")
    authorised_by: Mapped[str] = mapped_column(Text, default="")
    circumstances: Mapped[str] = mapped_column(Text, default="")
    intimate_justification: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_form_uid: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentCoverage(Base):
    """An instance a consent document covers (it may arrive before or after)."""

    __tablename__ = "consent_coverage"
    __table_args__ = (UniqueConstraint("record_pk", "sop_instance_uid"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_pk: Mapped[int] = mapped_column(ForeignKey("consent_records.pk"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)


class ConsentSupersession(Base):
    """Document ``record_pk`` supersedes the document ``predecessor_uid``."""

    __tablename__ = "consent_supersessions"
    __table_args__ = (UniqueConstraint("record_pk", "predecessor_uid"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_pk: Mapped[int] = mapped_column(ForeignKey("consent_records.pk"), index=True)
    predecessor_uid: Mapped[str] = mapped_column(String(64), index=True)


class User(Base):
    """A person who signs in to the web viewer (argon2-hashed password)."""

    __tablename__ = "users"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser session; only a hash of its token is stored."""

    __tablename__ = "web_sessions"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32), default="")
    specified_purpose: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class PendingRejection(Base):
    """An IOCM rejection note that named an instance not (yet) in the archive:
    applied when the instance arrives."""

    __tablename__ = "pending_rejections"
    __table_args__ = (UniqueConstraint("sop_instance_uid", "note_uid"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    note_uid: Mapped[str] = mapped_column(String(64))
    reason_code: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """An instance the archive sent to another node (C-MOVE, C-GET, forward):
    where to propagate a later quarantine."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("sop_instance_uid", "destination"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    destination: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxItem:
    """The columns of every outbox table: one piece of work owed to another node,
    sent and retried by :mod:`archive.exchange.outbox` (its ``Status`` values)."""

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Propagation(OutboxItem, Base):
    """A rejection note owed to a node that holds copies of quarantined instances.
    Status: pending / sent / failed."""

    __tablename__ = "propagations"

    destination: Mapped[str] = mapped_column(String(16), index=True)
    title_code: Mapped[str] = mapped_column(String(16))  # 113001 / 113037 / 113038 / 113039
    sop_instance_uids: Mapped[str] = mapped_column(Text)  # JSON list
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    note_uid: Mapped[str] = mapped_column(String(64), default="")


class ForwardRule(Base):
    """Auto-forwarding: objects received from ``source_ae`` (``*``: from anyone),
    optionally only of one SOP class, are sent on to ``destination``."""

    __tablename__ = "forward_rules"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_ae: Mapped[str] = mapped_column(String(16), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64), default="")  # "": any
    destination: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ForwardJob(OutboxItem, Base):
    """One instance owed to one destination by a forwarding rule; queued in the
    ingest transaction, so a crash cannot lose it. Status: pending (waiting or
    retrying) / sent / failed (gave up) / dropped (the access policy said no)."""

    __tablename__ = "forward_jobs"
    __table_args__ = (
        UniqueConstraint("sop_instance_uid", "destination"),
        Index("ix_forward_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    )

    rule_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)  # kept if rule removed
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(16))


class CommitmentReport(OutboxItem, Base):
    """A storage-commitment result (PS3.4 J.3.3) owed to the node that asked,
    kept until its N-EVENT-REPORT is delivered (or given up). Status: pending /
    delivered / failed."""

    __tablename__ = "commitment_reports"
    __table_args__ = (
        Index("ix_commitment_reports_status_next_attempt_at", "status", "next_attempt_at"),
    )

    transaction_uid: Mapped[str] = mapped_column(String(64), index=True)
    requester: Mapped[str] = mapped_column(String(16))  # AE title that asked
    committed: Mapped[str] = mapped_column(Text)  # JSON [[sop class, sop instance], ...]
    failed: Mapped[str] = mapped_column(Text)  # JSON, same shape


class CommitmentRequest(Base):
    """A storage-commitment request photopacs sent (``photopacs send --commit``,
    PS3.4 J.3.2), recorded before its N-ACTION, and the result its
    N-EVENT-REPORT brought back (on the same or on a new association)."""

    __tablename__ = "commitment_requests"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_uid: Mapped[str] = mapped_column(String(64), unique=True)
    destination: Mapped[str] = mapped_column(String(16), index=True)  # AE title asked
    calling_aet: Mapped[str] = mapped_column(String(16))  # AE title we asked as
    requested_by: Mapped[str] = mapped_column(String(128), default="")
    # pending / committed / partly-failed / timed-out / refused (the N-ACTION)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reported_by: Mapped[str] = mapped_column(String(16), default="")
    via: Mapped[str] = mapped_column(String(32), default="")  # same / new association
    detail: Mapped[str] = mapped_column(Text, default="")  # why refused or timed out
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CommitmentRequestInstance(Base):
    """One SOP instance of a :class:`CommitmentRequest` and what the report said of it."""

    __tablename__ = "commitment_request_instances"
    __table_args__ = (UniqueConstraint("request_pk", "sop_instance_uid"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("commitment_requests.pk"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16), default="pending")  # / committed / failed
    # PS3.3 C.14.1.1 Failure Reason (e.g. 0x0112 no such object instance); None if not given
    failure_reason: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NodeRole(enum.StrEnum):
    """What a known DICOM node may do (docs/architecture.md, section 3)."""

    MODALITY = "modality"  # echo, store, storage commitment
    EPR = "epr"  # echo, find, move, get
    PEER = "peer"  # a move / forward destination
    GOVERNANCE = "governance"  # review of held and quarantined objects, rejection notes


class Node(Base):
    """A DICOM application entity the archive knows; unknown AE titles are refused."""

    __tablename__ = "nodes"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    role: Mapped[NodeRole] = mapped_column(_enum(NodeRole, "node_role"))
    check_address: Mapped[bool] = mapped_column(Boolean, default=True)
    # Decode to Explicit VR Little Endian when the node cannot take the stored syntax.
    transcode: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GovernanceReview(Base):
    """An open (or past) governance review: who may look at hidden objects, why, until when."""

    __tablename__ = "governance_reviews"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)  # node:<AE> | session:<hash>
    reason: Mapped[str] = mapped_column(Text)
    # A subject-access review names the one patient whose record it discloses.
    patient_id: Mapped[str] = mapped_column(String(64), default="")
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str] = mapped_column(String(128), default="")


class AuditEvent(Base):
    """One row of the append-only, hash-chained audit trail (PS3.15 A.5 in spirit)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC, exact as hashed
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32), default="")
    purpose: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    object_uids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    source: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
