"""Ingest: the archive's only writer of objects (docs/architecture.md, section 4).

validate -> stage (fsynced temp file, hashed) -> index in one transaction ->
move the bytes to their content address -> commit. A caller is told
"stored" only after both the bytes and the index row are durable; a crash
before the commit leaves at most an unreferenced file that nothing shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import pydicom
from sqlalchemy import Exists, exists, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from archive import audit, consent, governance, iocm
from archive.audit import Action, AuditEntry, Outcome
from archive.consent import INTIMATE_BODY_PARTS, INTIMATE_CODES
from archive.dicomfile import Expected, ObjectAttributes, read_attributes
from archive.errors import (
    ArchiveError,
    DuplicateInstance,
    InconsistentObject,
    InvalidObject,
    NotAuthorised,
    StorageError,
)
from archive.exchange import forwarding
from archive.hierarchy import SeriesRef, mismatch_reason, series_for
from archive.models import (
    Availability,
    ConsentCoverage,
    ForwardRule,
    Instance,
    PendingRejection,
    ReasonCode,
)
from archive.policy import Actor, Role, user_identity
from archive.store import BlobStore, StagedBlob
from archive.uids import KOS, SR_CLASSES
from consent_sr import ConsentDocument as ParsedConsent
from consent_sr import ConsentSRError, is_consent_sr, parse_consent_sr

if TYPE_CHECKING:  # ingest() takes the writer; the writer calls index_once (no runtime cycle)
    from archive.writer import GroupCommit

log = logging.getLogger(__name__)

RETRIES = 4


@dataclass(frozen=True)
class IngestResult:
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    status: Literal["stored", "duplicate"]
    sha256: str
    size: int
    availability: Availability


NODE_ROLES = frozenset({Role.MODALITY, Role.EPR, Role.PEER, Role.GOVERNANCE})  # DICOM nodes' roles


@dataclass(frozen=True)
class Origin:
    """Where an object came from, for the index and the audit trail: who sent it
    (an :class:`Actor`) and where its bytes came from (``received_from``: the
    calling AE title, ``import``, or "" for an upload), ADR 0009."""

    sender: Actor
    received_from: str = ""

    # What ingest's audit events record about the sender, read off the Actor.
    @property
    def actor(self) -> str:
        return self.sender.actor

    @property
    def role(self) -> str:
        return str(self.sender.role)

    @property
    def source(self) -> str:
        return self.sender.source

    @property
    def identity(self) -> str:
        """Who sent it, as a typed identity: ``node:<AE title>`` for DICOM, else
        ``user:<user name>`` (a person's name can never pass for a camera's)."""
        if self.received_from and self.sender.role in NODE_ROLES:
            return f"node:{self.received_from}"
        return user_identity(self.sender)


def ingest(
    factory: sessionmaker[Session],
    store: BlobStore,
    source: bytes | Path | BinaryIO,
    *,
    origin: Origin,
    expect: Expected | None = None,
    writer: GroupCommit | None = None,
    hold_mismatch: bool = False,
) -> IngestResult:
    """Store and index one encoded DICOM object (bytes, a path, or a binary stream).

    ``expect`` is what the sender announced (a C-STORE's Affected SOP Class and
    Instance UIDs); an object that is something else is refused. With a
    ``writer`` the indexing joins its group commit (and follows the writer's
    ``hold_mismatch``). With ``hold_mismatch`` an object whose patient identity
    differs from the index is held for governance review instead of refused.
    """
    staged = _stage(store, source)
    attrs: ObjectAttributes | None = None
    try:
        attrs = read_attributes(staged.path, expect=expect)
    except ArchiveError as exc:
        store.discard(staged)
        _audit_refusal(factory, origin, attrs, str(exc))
        exc.audited = True
        raise
    try:
        if writer is not None:
            return writer.submit(staged, attrs, origin)
        return index(factory, store, staged, attrs, origin, hold_mismatch=hold_mismatch)
    finally:
        store.discard(staged)  # no-op once moved into place


def _stage(store: BlobStore, source: bytes | Path | BinaryIO) -> StagedBlob:
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
            with open(source, "rb") as fh:
                return store.stage(fh, size_hint=size)
        except OSError as exc:
            raise StorageError(f"cannot read {source.name}: {exc.strerror}") from exc
    if isinstance(source, bytes | bytearray | memoryview):
        return store.stage(bytes(source), size_hint=len(source))
    return store.stage(source)


def index(
    factory: sessionmaker[Session],
    store: BlobStore,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
    *,
    hold_mismatch: bool = False,
) -> IngestResult:
    """Index one staged object in a transaction of its own, trying again when a
    concurrent writer or a busy database gets in the way; refusals are audited."""
    last_exc: Exception | None = None
    for _attempt in range(RETRIES):
        moved_key: str | None = None
        try:
            with factory() as session, session.begin():
                outcome = index_once(session, store, staged, attrs, origin, hold_mismatch)
                if isinstance(outcome, IngestResult) and outcome.status == "stored":
                    # Bytes become durable at their address before the index commits.
                    moved_key = store.commit(staged)
        except (IntegrityError, OperationalError) as exc:
            # A concurrent writer created the same patient/study/series or
            # instance first, or the database was busy: undo and try again.
            last_exc = exc
            if moved_key is not None:
                unlink_unreferenced(factory, store, moved_key)
                raise StorageError(
                    f"index commit failed for {attrs.sop_instance_uid}; nothing was stored"
                ) from exc
            continue
        except (InconsistentObject, InvalidObject, NotAuthorised) as exc:
            _audit_refusal(factory, origin, attrs, str(exc))
            exc.audited = True
            raise
        except BaseException:
            if moved_key is not None:
                unlink_unreferenced(factory, store, moved_key)
            raise
        if isinstance(outcome, DuplicateInstance):
            raise outcome
        if outcome.status == "stored":
            log.info(
                "stored %s (%d bytes) from %s",
                attrs.sop_instance_uid,
                staged.size,
                origin.received_from or origin.actor,
            )
        return outcome
    raise StorageError(f"could not index {attrs.sop_instance_uid}: {last_exc}")


def index_once(
    session: Session,
    store: BlobStore,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
    hold_mismatch: bool = False,
) -> IngestResult | DuplicateInstance:
    """Index one staged object in ``session`` (the caller commits and places the
    bytes). A re-send is answered from the index; a new object gets its series,
    its consent decision and its row, then whatever it sets off, and is audited."""
    seen = _seen(session, attrs.sop_instance_uid)
    if seen.stored:
        existing = session.scalars(
            select(Instance).where(Instance.sop_instance_uid == attrs.sop_instance_uid)
        ).one()
        return _resend(session, existing, staged, attrs, origin)
    series = series_for(session, attrs, hold_mismatch=hold_mismatch)
    intimate = attrs.body_part_examined.upper() in INTIMATE_BODY_PARTS or bool(
        INTIMATE_CODES.intersection(attrs.anatomic_region_codes)
    )
    # The consent rules decide before the row is written (consent may have arrived first).
    decision = consent.decide_arrival(
        session,
        attrs.sop_instance_uid,
        sop_class_uid=attrs.sop_class_uid,
        modality=series.modality,
        intimate=intimate,
        birth_date=series.birth_date,
        acquisition_date=attrs.acquisition_date,
        documents=seen.consent,
        source_uid=attrs.source_uid,
    )
    instance = _instance_row(store, staged, attrs, origin, series, intimate=intimate)
    consent.settle(instance, decision, actor=origin.actor)
    session.add(instance)
    covered = _set_off(session, staged, attrs, origin, instance, seen)
    _audit_stored(session, staged, attrs, origin, instance, series, consent_document=bool(covered))
    if seen.forwarding:
        forwarding.queue_for(session, instance)  # forwarding jobs commit with the object
    return IngestResult(
        sop_instance_uid=attrs.sop_instance_uid,
        sop_class_uid=attrs.sop_class_uid,
        study_instance_uid=attrs.study_instance_uid,
        status="stored",
        sha256=staged.sha256,
        size=staged.size,
        availability=instance.availability,
    )


def _instance_row(
    store: BlobStore,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
    series: SeriesRef,
    *,
    intimate: bool,
) -> Instance:
    """The new index row (its availability is settled by the caller)."""
    instance = Instance(
        sop_instance_uid=attrs.sop_instance_uid,
        series_pk=series.pk,
        sop_class_uid=attrs.sop_class_uid,
        instance_number=attrs.instance_number,
        content_date=attrs.content_date,
        content_time=attrs.content_time,
        number_of_frames=attrs.number_of_frames,
        specific_character_set=attrs.specific_character_set,
        charset_undeclared=attrs.charset_undeclared,
        storage_key=store.key_for(staged.sha256),
        size_bytes=staged.size,
        sha256=staged.sha256,
        transfer_syntax_uid=attrs.transfer_syntax_uid,
        received_from=origin.received_from[:64],
        received_at=datetime.now(UTC),
        received_by=origin.identity[:128],
        intimate=intimate,
        acquisition_date=attrs.acquisition_date,
        source_uid=attrs.source_uid,
    )
    if series.mismatch:  # kept for governance to decide whose it is, never silently
        instance.governance_hold = str(Availability.HELD)
        instance.governance_reason = mismatch_reason(series.mismatch)
        instance.governance_reason_code = ReasonCode.IDENTITY_MISMATCH
    return instance


def _set_off(
    session: Session,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
    instance: Instance,
    seen: Seen,
) -> list[str]:
    """What a new object sets off: a consent document re-decides the instances it
    covers, a source re-decides what was derived from it, and rejection notes
    (this one, or earlier ones naming this object) are applied. Returns the UIDs
    a consent document covers (empty for anything else)."""
    covered: list[str] = []
    rejection = None
    if attrs.sop_class_uid in SR_CLASSES:
        document = _consent_document(staged, attrs)
        if document is not None:
            consent.register(session, document)
            covered = [r.sop_instance_uid for r in document.covered]
    elif attrs.sop_class_uid == KOS:
        rejection = _rejection_note(staged)
    session.flush()
    derived = consent.derivatives(session, [attrs.sop_instance_uid]) if not covered else []
    if derived:  # a source arriving after what was derived from it
        consent.reevaluate(
            session, derived, actor=origin.actor, role=origin.role, source=origin.source
        )
    if covered:  # a consent document: the instances it covers follow it now
        consent.reevaluate(
            session, covered, actor=origin.actor, role=origin.role, source=origin.source
        )
    if seen.rejected:
        governance.apply_pending(session, instance, actor=origin.actor)
    if rejection is not None:
        governance.apply_rejection(
            session, rejection, actor=origin.actor, role=origin.role, source=origin.source
        )
    return covered


def _audit_stored(
    session: Session,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
    instance: Instance,
    series: SeriesRef,
    *,
    consent_document: bool,
) -> None:
    audit.record(
        session,
        AuditEntry(
            actor=origin.actor,
            role=origin.role,
            action=Action.INGEST,
            outcome=Outcome.SUCCESS,
            patient_id=attrs.patient_id,
            object_uids=(attrs.sop_instance_uid,),
            source=origin.source,
            detail={
                "sop_class_uid": attrs.sop_class_uid,
                "study_instance_uid": attrs.study_instance_uid,
                "size": staged.size,
                "sha256": staged.sha256,
                "charset_undeclared": attrs.charset_undeclared,
                "availability": str(instance.availability),
                "availability_reason": instance.availability_reason,
                "consent_rule": instance.consent_rule,
                "consent_document": consent_document,
                **({"identity_differs": list(series.mismatch)} if series.mismatch else {}),
            },
        ),
    )


def _rejection_note(staged: StagedBlob) -> iocm.Rejection | None:
    """An IOCM rejection (or revocation) note, or None for any other key object."""
    try:
        ds = pydicom.dcmread(staged.path)
    except Exception as exc:
        raise InvalidObject(f"unreadable key object selection document: {exc}") from exc
    return iocm.read_note(ds)


def _consent_document(staged: StagedBlob, attrs: ObjectAttributes) -> ParsedConsent | None:
    """Parse an SR if it is a consent document (template CONSENT1); None otherwise.

    A document that claims the template but cannot be read is refused rather
    than stored without effect: consent must never be silently ignored.
    """
    try:
        ds = pydicom.dcmread(staged.path)
    except Exception as exc:
        raise InvalidObject(f"unreadable structured report: {exc}") from exc
    if not is_consent_sr(ds):
        return None
    try:
        return parse_consent_sr(ds)
    except ConsentSRError as exc:
        raise InvalidObject(f"malformed consent document: {exc}") from exc


def unlink_unreferenced(factory: sessionmaker[Session], store: BlobStore, key: str) -> None:
    with factory() as session:
        referenced = session.scalar(select(Instance.pk).where(Instance.storage_key == key))
    if referenced is None:
        store.delete(key)


def _resend(
    session: Session,
    existing: Instance,
    staged: StagedBlob,
    attrs: ObjectAttributes,
    origin: Origin,
) -> IngestResult | DuplicateInstance:
    same = existing.sha256 == staged.sha256
    audit.record(
        session,
        AuditEntry(
            actor=origin.actor,
            role=origin.role,
            action=Action.INGEST,
            outcome=Outcome.DUPLICATE if same else Outcome.REFUSED,
            patient_id=attrs.patient_id,
            object_uids=(attrs.sop_instance_uid,),
            source=origin.source,
            detail={"reason": "identical re-send" if same else "conflicting duplicate"},
        ),
    )
    if not same:
        return DuplicateInstance(attrs.sop_instance_uid)
    return IngestResult(
        sop_instance_uid=attrs.sop_instance_uid,
        sop_class_uid=existing.sop_class_uid,
        study_instance_uid=attrs.study_instance_uid,
        status="duplicate",
        sha256=existing.sha256,
        size=existing.size_bytes,
        availability=existing.availability,
    )


@dataclass(frozen=True)
class Seen:
    """What the archive already knows of an arriving SOP Instance UID."""

    stored: bool  # the instance itself (a re-send)
    consent: bool  # consent documents that arrived first and cover it
    rejected: bool  # IOCM rejection notes that arrived first and name it
    forwarding: bool  # any auto-forwarding rule at all (usually none)


def _seen(session: Session, uid: str) -> Seen:
    """One round trip for the questions every arrival asks."""

    def named(column: QueryableAttribute[str]) -> Exists:
        return exists().where(column == uid)

    stored, consented, rejected, rules = session.execute(
        select(
            named(Instance.sop_instance_uid),
            named(ConsentCoverage.sop_instance_uid),
            named(PendingRejection.sop_instance_uid),
            select(ForwardRule.pk).exists(),
        )
    ).one()
    return Seen(bool(stored), bool(consented), bool(rejected), bool(rules))


def _audit_refusal(
    factory: sessionmaker[Session],
    origin: Origin,
    attrs: ObjectAttributes | None,
    reason: str,
) -> None:
    try:
        with factory() as session, session.begin():
            audit.record(
                session,
                AuditEntry(
                    actor=origin.actor,
                    role=origin.role,
                    action=Action.INGEST,
                    outcome=Outcome.REFUSED,
                    patient_id=attrs.patient_id if attrs else "",
                    object_uids=(attrs.sop_instance_uid,) if attrs else (),
                    source=origin.source,
                    detail={"reason": reason},
                ),
            )
    except Exception:  # the refusal itself must reach the caller
        log.exception("could not audit a refused ingest")
