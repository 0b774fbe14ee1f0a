"""The archive's public face: one object the edges and the CLI hold.

It owns the engine, the session factory and the blob store, all built from
one :class:`ArchiveSettings`; every operation runs in its own transaction
and is audited there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from archive import audit, availability, consent_ops, fixity, ingest, nodes, query, retrieve
from archive.audit import Action, AuditEntry, ChainReport, Outcome
from archive.db import check_schema, make_engine, make_sessionmaker, migrate
from archive.errors import ArchiveError
from archive.fixity import FixityReport
from archive.ingest import IngestResult, Origin
from archive.keys import Level
from archive.models import Availability, Instance, NodeRole
from archive.nodes import NodeInfo
from archive.policy import Requester
from archive.query import Match
from archive.retrieve import Located
from archive.settings import ArchiveSettings
from archive.store import BlobStore
from archive.users import Accounts

log = logging.getLogger(__name__)


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

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------
    def ingest(self, source: bytes | Path | BinaryIO, *, origin: Origin) -> IngestResult:
        """Store and index one DICOM object; see :mod:`archive.ingest`."""
        return ingest.ingest(self.sessions, self.store, source, origin=origin)

    def set_availability(
        self,
        level: Level,
        uid: str,
        target: Availability,
        *,
        reason: str,
        actor: str,
        role: str = "",
        purpose: str = "",
        source: str = "",
    ) -> availability.Transition:
        """Change availability at any level; erasure deletes bytes after the commit."""
        with self.sessions() as session, session.begin():
            result = availability.change(
                session,
                level=level,
                uid=uid,
                target=target,
                reason=reason,
                actor=actor,
                role=role,
                purpose=purpose,
                source=source,
            )
        for key in result.erase_keys:
            try:
                self.store.delete(key)
            except ArchiveError:
                # The tombstone is committed; fixity deletes the leftover later.
                log.exception("erasure of a stored object failed; fixity will retry")
        return result

    # --- reads --------------------------------------------------------------
    def find(
        self,
        level: Level,
        identifier: Mapping[str, str],
        *,
        requester: Requester,
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
        requester: Requester,
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

    def committable(self, references: Sequence[tuple[str, str]]) -> list[bool]:
        """Storage commitment: which (SOP class, SOP instance) pairs are safely held."""
        with self.sessions() as session:
            return retrieve.committable(session, self.store, references)

    def record_event(self, entry: AuditEntry) -> None:
        """Append one event to the audit trail (associations, refusals, outcomes)."""
        with self.sessions() as session, session.begin():
            audit.record(session, entry)

    # --- governance ---------------------------------------------------------
    def verify_audit(self, *, actor: str, source: str = "") -> ChainReport:
        with self.sessions() as session:
            report = audit.verify(session)
        with self.sessions() as session, session.begin():
            audit.record(
                session,
                AuditEntry(
                    actor=actor,
                    action=Action.AUDIT_VERIFY,
                    outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE,
                    source=source,
                    detail={"events": report.events, "problems": list(report.problems[:20])},
                ),
            )
        return report

    def fixity_check(self, *, actor: str, source: str = "") -> FixityReport:
        return fixity.check(self.sessions, self.store, actor=actor, source=source)

    # --- consent ------------------------------------------------------------
    def record_consent(
        self, request: consent_ops.ConsentRequest, *, origin: Origin
    ) -> consent_ops.Recorded:
        """Build the consent SR (and signed-form PDF) and ingest them like any object."""
        with self.sessions() as session:
            prepared = consent_ops.prepare(session, request, uid_root=self.settings.uid_root)
        results = [self.ingest(consent_ops.encode(ds), origin=origin) for ds in prepared.datasets]
        with self.sessions() as session:
            states = session.execute(
                select(Instance.sop_instance_uid, Instance.availability).where(
                    Instance.sop_instance_uid.in_(prepared.covered)
                )
            ).all()
        return consent_ops.Recorded(
            document=results[-1].sop_instance_uid,
            signed_form=results[0].sop_instance_uid if len(results) > 1 else "",
            superseded=prepared.superseded,
            availability={uid: str(state) for uid, state in states},
        )

    def consent_overview(self, patient_id: str, *, requester: Requester) -> consent_ops.Overview:
        """History and current uses of a patient's recordings (audited as a view)."""
        with self.sessions() as session, session.begin():
            result = consent_ops.overview(session, patient_id)
            audit.record(
                session,
                AuditEntry(
                    actor=requester.actor,
                    role=str(requester.role),
                    purpose=requester.purpose_label,
                    action=Action.VIEW,
                    outcome=Outcome.SUCCESS,
                    patient_id=patient_id,
                    source=requester.source,
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
        check_address: bool = False,
        description: str = "",
        actor: str,
    ) -> NodeInfo:
        return nodes.add(
            self.sessions,
            ae_title,
            host=host,
            port=port,
            role=role,
            check_address=check_address,
            description=description,
            actor=actor,
        )

    def remove_node(self, ae_title: str, *, actor: str) -> None:
        nodes.remove(self.sessions, ae_title, actor=actor)

    def node(self, ae_title: str) -> NodeInfo | None:
        return nodes.get(self.sessions, ae_title)

    def nodes(self) -> list[NodeInfo]:
        return nodes.all_nodes(self.sessions)
