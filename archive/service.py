"""The archive's public face: one object the edges and the CLI hold.

It owns the engine, the session factory and the blob store, all built from
one :class:`ArchiveSettings`; every operation runs in its own transaction
and is audited there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from archive import (
    audit,
    availability,
    consent,
    fixity,
    ingest,
    policy,
    query,
    records,
    retrieve,
    reviews,
)
from archive.audit import Action, AuditEntry, ChainReport, Outcome
from archive.db import check_schema, make_engine, make_sessionmaker, migrate, schema_revision
from archive.dicomfile import Expected
from archive.errors import ArchiveError, InvalidTransition, NotFound
from archive.exchange import nodes, propagation
from archive.exchange.commitment_requests import CommitmentRequests
from archive.exchange.commitments import CommitmentReports
from archive.exchange.forwarding import ForwardQueue
from archive.exchange.nodes import NodeInfo
from archive.exchange.propagation import PropagationInfo, Propagations
from archive.fixity import FixityReport
from archive.hierarchy import instance_join
from archive.ingest import IngestResult, Origin
from archive.keys import Level
from archive.models import (
    Availability,
    Instance,
    NodeRole,
    Patient,
    ReasonCode,
)
from archive.policy import Actor
from archive.query import Match
from archive.records import AccessEvent, ImageRecord, ReviewItem, Timeline
from archive.retrieve import Located
from archive.reviews import ReviewInfo
from archive.settings import ArchiveSettings
from archive.store import BlobStore
from archive.users import Accounts
from archive.writer import GroupCommit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    """Whether the archive can work: the index answers, the data folder is there."""

    database: str  # "ok" or "unreachable"
    storage: str  # "ok" or "missing"

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.storage == "ok"


class Archive:
    """A handle on one archive (index database + data folder)."""

    def __init__(self, settings: ArchiveSettings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else make_engine(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.accounts = Accounts(self.sessions, settings)
        self.store = BlobStore(
            settings.data_dir,
            max_object_bytes=settings.max_object_bytes,
            min_free_bytes=settings.min_free_bytes,
        )
        self.writer = GroupCommit(
            self.sessions, self.store, hold_mismatch=settings.identity_mismatch == "hold"
        )
        # The outboxes (archive.exchange): auto-forwarding rules and jobs; storage-
        # commitment reports owed to cameras, and the commitment requests we send
        # (`photopacs send --commit`).
        self.forwarding = ForwardQueue(self.sessions, self.store)
        self.commitments = CommitmentReports(self.sessions)
        self.commitment_requests = CommitmentRequests(self.sessions)
        # IOCM rejection notes owed to nodes that hold copies of what was quarantined.
        self.propagation = Propagations(self.sessions, uid_root=settings.uid_root)

    @classmethod
    def open(cls, settings: ArchiveSettings, *, engine: Engine | None = None) -> Archive:
        """Open an archive whose schema is current; tidies stray temp files."""
        archive = cls(settings, engine=engine)
        try:
            check_schema(archive.engine)
            archive.store.initialise()
        except BaseException:
            archive.close()
            raise
        return archive

    def migrate(self) -> None:
        migrate(self.engine)

    def upgrade(self) -> str | None:
        """Create or migrate the index to this code's schema and make the data
        folder ready (`photopacs db upgrade`); the revision the database is at now."""
        self.migrate()
        current, _ = self.schema_status()
        self.store.initialise()
        return current

    def schema_status(self) -> tuple[str | None, str | None]:
        """(revision of the index database, None when empty; newest revision of
        this code). Raises ConfigurationError while the database cannot be reached."""
        return schema_revision(self.engine)

    def close(self) -> None:
        self.writer.stop()
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def health(self) -> Health:
        """Liveness and readiness (``/healthz``): a trivial query, and the objects folder."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "unreachable"
        storage = "ok" if self.store.objects.is_dir() else "missing"
        return Health(database=database, storage=storage)

    @property
    def derived_folder(self) -> Path:
        """Where copies derived from stored objects belong (an edge's render cache):
        ``<kind>/<aa>/<sha256><suffix>``, named by the object's hash, so that erasing
        the object erases them too (ADR 0001)."""
        return self.store.derived

    @property
    def scratch_folder(self) -> Path:
        """The archive's temporary folder, on the data folder's disk (not a RAM /tmp):
        for spooling what will be ingested."""
        return self.store.tmp

    def object_path(self, storage_key: str) -> Path:
        """Where the stored object with this storage key (:attr:`ImageItem.storage_key`)
        is, to read; stored objects are never changed in place."""
        return self.store.path_for(storage_key)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction; an error that carries a ``refusal`` is audited in a
        transaction of its own after this one rolled back (R14: a refused look
        or action is evidence, and the refusal must not erase its own record)."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except ArchiveError as exc:
            if isinstance(exc.refusal, AuditEntry) and not exc.audited:
                self.record_event(exc.refusal)
                exc.audited = True
            raise

    @contextmanager
    def refusals(
        self, requester: Actor, action: Action | str, detail: Mapping[str, object]
    ) -> Iterator[None]:
        """Every archive error raised in this block is one refused audit event (R14):
        its own ``refusal`` if it carries one, else an entry naming the request and
        why it was refused; never two for one request."""
        try:
            yield
        except ArchiveError as exc:
            if not exc.audited:
                refusal = exc.refusal
                if not isinstance(refusal, AuditEntry):
                    refusal = AuditEntry.by(
                        requester,
                        action=action,
                        outcome=Outcome.REFUSED,
                        detail={**detail, "reason": str(exc)[:500], **requester.audit_detail},
                    )
                self.record_event(refusal)
                exc.audited = True
            raise

    def holds_patient(self, patient_id: str) -> bool:
        """Whether the index has this PatientID (whatever the state of its recordings)."""
        with self.sessions() as session:
            found = session.scalar(
                select(Patient.pk).where(Patient.patient_id == patient_id[:64]).limit(1)
            )
        return found is not None

    def patient_of(self, sop_instance_uid: str) -> str:
        """The PatientID of an instance whatever its state ("" if not held): for
        recording a refused look against the patient whose recording was tried."""
        with self.sessions() as session:
            return retrieve.owner_of(session, sop_instance_uid)

    def govern(
        self,
        level: Level,
        uid: str,
        target: Availability,
        *,
        reason: str,
        requester: Actor,
        reason_code: ReasonCode | str = "",
    ) -> availability.Transition:
        """A governance action (hold, quarantine, release, erase) by ``requester``,
        decided by the access policy: who may govern (:func:`archive.policy.may_govern`)
        and what it may reach (:func:`archive.policy.governable`: its visible record, and
        held and quarantined objects only within an open review). An object it may not
        reach is refused as absent, and the refusal audited."""
        refusal = AuditEntry.by(
            requester,
            action=Action.ERASE if target is Availability.ERASED else Action.AVAILABILITY,
            outcome=Outcome.REFUSED,
            detail={"level": level.name, "uid": uid[:64], "to": str(target),
                    "reason": "not reachable by this requester", **requester.audit_detail},
        )  # fmt: skip
        with self.refusals(requester, refusal.action, refusal.detail):
            with self.transaction() as session:
                reachable = session.scalar(
                    availability.select_at(level, uid, Instance.pk)
                    .where(policy.governable(requester))
                    .limit(1)
                )
                if reachable is None:
                    raise NotFound(
                        f"no {level.name.lower()} {uid[:64]} in the archive", refusal=refusal
                    )
            return self.set_availability(
                level, uid, target, reason=reason, requester=requester, reason_code=reason_code
            )

    # --- writes -------------------------------------------------------------
    def ingest(
        self,
        source: bytes | Path | BinaryIO,
        *,
        origin: Origin,
        expect: Expected | None = None,
    ) -> IngestResult:
        """Store and index one DICOM object; see :mod:`archive.ingest`."""
        return ingest.ingest(
            self.sessions, self.store, source, origin=origin, expect=expect, writer=self.writer
        )

    def set_availability(
        self,
        level: Level,
        uid: str,
        target: Availability,
        *,
        reason: str,
        requester: Actor,
        reason_code: ReasonCode | str = "",
    ) -> availability.Transition:
        """Change availability at any level; erasure deletes bytes after the commit.
        Quarantine and erasure owe peers that hold copies a rejection note."""
        try:
            with self.sessions() as session, session.begin():
                result = availability.change(
                    session,
                    level=level,
                    uid=uid,
                    target=target,
                    reason=reason,
                    actor=requester.actor,
                    role=str(requester.role),
                    purpose=requester.purpose_label,
                    source=requester.source,
                    reason_code=str(reason_code),
                )
        except (InvalidTransition, NotFound) as exc:
            # A refused governance action is part of the record too.
            self.record_event(
                AuditEntry.by(
                    requester,
                    action=Action.ERASE if target is Availability.ERASED else Action.AVAILABILITY,
                    outcome=Outcome.REFUSED,
                    detail={"level": level.name, "uid": uid, "to": str(target), "reason": str(exc)},
                )
            )
            exc.audited = True
            raise
        for key in result.erase_keys:
            try:
                self.store.delete(key)
            except ArchiveError:
                # The tombstone is committed; fixity deletes the leftover later.
                log.exception("erasure of a stored object failed; fixity will retry")
        return result

    def set_legal_hold(
        self, level: Level, uid: str, *, on: bool, reason: str, requester: Actor
    ) -> int:
        """Place or lift a legal hold; erasure is refused while it is on."""
        with self.sessions() as session, session.begin():
            return availability.set_legal_hold(
                session,
                level=level,
                uid=uid,
                on=on,
                reason=reason,
                actor=requester.actor,
                role=str(requester.role),
                source=requester.source,
            )

    # --- propagation to peers --------------------------------------------------
    def stored_syntaxes(self, sop_classes: Iterable[str]) -> dict[str, set[str]]:
        """The transfer syntaxes stored objects of each SOP class are in."""
        with self.sessions() as session:
            return retrieve.stored_syntaxes(session, sop_classes)

    def record_delivery(self, destination: str, uids: Sequence[str]) -> None:
        """The gateway sent these instances to ``destination`` (C-MOVE/C-GET/forward)."""
        with self.sessions() as session, session.begin():
            propagation.record_delivery(session, destination, uids)

    def propagations(self, *, status: str | None = "pending") -> list[PropagationInfo]:
        """Rejection notes owed to peers (``status`` None: all, for review)."""
        return self.propagation.listing(statuses=None if status is None else (status,))

    # --- reads --------------------------------------------------------------
    def find(
        self,
        level: Level,
        identifier: Mapping[str, str],
        *,
        requester: Actor,
        limit: int | None = None,
    ) -> list[Match]:
        """The one query function (PS3.4 C.2.2.2 matching), audited."""
        with self.sessions() as session, session.begin():
            return query.find(
                session,
                level,
                identifier,
                requester=requester,
                limit=min(
                    limit or self.settings.query_max_results, self.settings.query_max_results
                ),
            )

    def locate(
        self,
        level: Level,
        identifier: Mapping[str, str],
        *,
        requester: Actor,
        destination: str,
        limit: int | None = None,
    ) -> list[Located]:
        """Instances a C-MOVE / C-GET / export selects (same policy as find), audited."""
        with self.sessions() as session, session.begin():
            return retrieve.locate(
                session,
                self.store,
                level,
                identifier,
                requester=requester,
                destination=destination,
                limit=limit or self.settings.query_max_results,
            )

    def timeline(self, patient_id: str, *, requester: Actor) -> Timeline:
        """A patient's studies with the recordings ``requester`` may see, audited as a
        view; :class:`NotFound` (its refusal audited) when nothing is visible."""
        with self.transaction() as session:
            return records.timeline(session, requester, patient_id)

    def image(self, sop_instance_uid: str, *, requester: Actor, what: str) -> ImageRecord:
        """One recording ``requester`` may see, with its consent badge and where its
        stored object is; audited as a view of ``what``, a refusal too."""
        with self.transaction() as session:
            return records.image(session, self.store, requester, sop_instance_uid, what=what)

    def visible_instances(self, patient_id: str, *, requester: Actor) -> set[str]:
        """SOP Instance UIDs of a patient's recordings ``requester`` may see (not audited:
        for filtering what an audited read returned)."""
        with self.transaction() as session:
            return records.visible_instances(session, requester, patient_id)

    def patient_of_study(self, study_instance_uid: str, *, requester: Actor) -> str:
        """The PatientID of a study holding a recording ``requester`` may see, else
        :class:`NotFound` (not audited)."""
        with self.transaction() as session:
            return records.patient_of_study(session, requester, study_instance_uid)

    def review_queue(self, *, requester: Actor, limit: int = 500) -> list[ReviewItem]:
        """Held and quarantined recordings, on the governance review path only; audited."""
        with self.transaction() as session:
            return records.review_queue(session, requester, limit=limit)

    def accesses(
        self,
        *,
        requester: Actor,
        patient_id: str = "",
        about_actor: str = "",
        refused_only: bool = False,
        re_consents_only: bool = False,
        limit: int = 1000,
    ) -> list[AccessEvent]:
        """The audit trail about a patient or an actor, newest first, for governance
        (:func:`archive.policy.may_read_audit`); the look is audited."""
        with self.transaction() as session:
            return records.accesses(
                session,
                requester,
                patient_id=patient_id,
                about_actor=about_actor,
                refused_only=refused_only,
                re_consents_only=re_consents_only,
                limit=limit,
            )

    def committable(self, references: Sequence[tuple[str, str]]) -> list[bool]:
        """Storage commitment: which (SOP class, SOP instance) pairs are safely held."""
        with self.sessions() as session:
            return retrieve.committable(session, self.store, references)

    def record_event(self, entry: AuditEntry) -> None:
        """Append one event to the audit trail (associations, refusals, outcomes)."""
        with self.sessions() as session, session.begin():
            audit.record(session, entry)

    # --- governance ---------------------------------------------------------
    def verify_audit(self, *, requester: Actor) -> ChainReport:
        with self.sessions() as session:
            report = audit.verify(session)
        with self.sessions() as session, session.begin():
            audit.record(
                session,
                AuditEntry(
                    actor=requester.actor,
                    action=Action.AUDIT_VERIFY,
                    outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE,
                    source=requester.source,
                    detail={"events": report.events, "problems": list(report.problems[:20])},
                ),
            )
        return report

    def fixity_check(self, *, requester: Actor) -> FixityReport:
        return fixity.check(
            self.sessions, self.store, actor=requester.actor, source=requester.source
        )

    def verify_erasure(self, *, requester: Actor) -> fixity.ErasureReport:
        """Search the data folder for any copy of an erased object (audited)."""
        return fixity.verify_erasure(
            self.sessions, self.store, actor=requester.actor, source=requester.source
        )

    # --- consent ------------------------------------------------------------
    def record_consent(
        self, request: consent.ConsentRequest, *, requester: Actor
    ) -> consent.Recorded:
        """Build the consent SR (and signed-form PDF) and ingest them like any object,
        sent by ``requester``.

        ``requester`` is who decides: the access policy limits the decision to the
        recordings it may decide on (:func:`archive.policy.decidable`) and guards the
        reversal of a withdrawal or refusal; a refusal (of any kind) is audited once."""
        asked = {"study": request.study_instance_uid[:64], "decision": str(request.status)}
        with self.refusals(requester, Action.CONSENT, asked):
            with self.transaction() as session:
                prepared = consent.prepare(
                    session, request, requester=requester, uid_root=self.settings.uid_root
                )
            results = [
                self.ingest(consent.encode(ds), origin=Origin(requester))
                for ds in prepared.datasets
            ]
        if prepared.reverses:
            self.record_event(
                AuditEntry.by(
                    requester,
                    action=Action.CONSENT,
                    outcome=Outcome.SUCCESS,
                    patient_id=prepared.patient_id,
                    object_uids=prepared.covered[:1000],
                    detail={
                        "re_consent": True,
                        "document": results[-1].sop_instance_uid,
                        "supersedes_withdrawal_or_refusal": list(prepared.reverses),
                        **requester.audit_detail,
                    },
                )
            )
        with self.sessions() as session:
            states = session.execute(
                select(Instance.sop_instance_uid, Instance.availability).where(
                    Instance.sop_instance_uid.in_(prepared.covered)
                )
            ).all()
        return consent.Recorded(
            document=results[-1].sop_instance_uid,
            signed_form=results[0].sop_instance_uid if len(results) > 1 else "",
            superseded=prepared.superseded,
            availability={uid: str(state) for uid, state in states},
        )

    def consent_overview(self, patient_id: str, *, requester: Actor) -> consent.Overview:
        """History and current uses of the patient's recordings ``requester`` may see
        (:func:`archive.policy.overview_shows`), and the decisions about their studies;
        audited as a view. A patient with nothing the requester may see is absent to it,
        and that refused look is audited."""
        refusal = AuditEntry.by(
            requester,
            action=Action.VIEW,
            outcome=Outcome.REFUSED,
            patient_id="",  # named below only for a patient the archive holds
            detail={"what": "consent overview", "reason": "nothing this requester may see",
                    **requester.audit_detail},
        )  # fmt: skip
        absent = f"no patient {patient_id[:64]} in the archive"
        with self.transaction() as session:
            try:
                full = consent.overview(session, patient_id)
            except NotFound:  # an unknown ID is not written into the trail as a patient
                raise NotFound(absent, refusal=refusal) from None
            shown = set(
                session.scalars(
                    instance_join(select(Instance.sop_instance_uid)).where(
                        Patient.patient_id == patient_id, policy.overview_shows(requester)
                    )
                )
            )
            instances = [i for i in full.instances if i.sop_instance_uid in shown]
            if not instances:  # hidden is absent, in the same words
                raise NotFound(absent, refusal=replace(refusal, patient_id=patient_id))
            studies = {i.study_instance_uid for i in instances}
            result = consent.Overview(
                patient_id=patient_id,
                history=[h for h in full.history if h["study"] in studies],
                instances=instances,
            )
            audit.record(
                session,
                AuditEntry.by(
                    requester,
                    action=Action.VIEW,
                    outcome=Outcome.SUCCESS,
                    patient_id=patient_id,
                    detail={"what": "consent overview"},
                ),
            )
        return result

    # --- known DICOM nodes --------------------------------------------------
    def add_node(
        self,
        ae_title: str,
        *,
        host: str,
        port: int,
        role: NodeRole | str,
        check_address: bool = True,
        transcode: bool = True,
        description: str = "",
        requester: Actor,
    ) -> NodeInfo:
        """Register a node; by default its calls must come from its address, and
        objects it cannot take in their stored syntax are decoded for it."""
        return nodes.add(
            self.sessions,
            ae_title,
            host=host,
            port=port,
            role=role,
            check_address=check_address,
            transcode=transcode,
            description=description,
            actor=requester.actor,
        )

    def remove_node(self, ae_title: str, *, requester: Actor) -> None:
        nodes.remove(self.sessions, ae_title, actor=requester.actor)

    def node(self, ae_title: str) -> NodeInfo | None:
        return nodes.get(self.sessions, ae_title)

    def nodes(self) -> list[NodeInfo]:
        return nodes.all_nodes(self.sessions)

    # --- governance reviews (the stated reason behind a look at hidden objects) ---
    def open_review(
        self,
        subject: str,
        *,
        reason: str,
        requester: Actor,
        hours: float = reviews.DEFAULT_HOURS,
        not_after: datetime | None = None,
        patient_id: str = "",
    ) -> ReviewInfo:
        return reviews.open_review(
            self.sessions,
            subject,
            reason=reason,
            actor=requester.actor,
            role=str(requester.role),
            source=requester.source,
            hours=hours,
            not_after=not_after,
            patient_id=patient_id,
        )

    def close_review(self, subject: str, *, requester: Actor) -> list[int]:
        return reviews.close_review(
            self.sessions,
            subject,
            actor=requester.actor,
            role=str(requester.role),
            source=requester.source,
        )

    def current_review(self, subject: str) -> ReviewInfo | None:
        with self.sessions() as session:
            return reviews.current(session, subject)

    def reviews(self, *, open_only: bool = False) -> list[ReviewInfo]:
        return reviews.listing(self.sessions, open_only=open_only)
