"""Fixity: re-hash every stored object and compare with the SHA-256 taken at ingest."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.models import Availability, Instance
from archive.store import BlobStore


@dataclass
class FixityReport:
    checked: int = 0
    erased: int = 0  # tombstones: content deliberately deleted, not missing
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # Erased instances whose bytes are still on disk (an erasure interrupted
    # after its commit); the check deletes them.
    erased_leftovers: list[str] = field(default_factory=list)
    # Files no index row refers to: left by a crash between moving an object
    # into place and committing its index row. Invisible; reported, not
    # deleted, since a concurrent ingest may be about to commit one.
    unreferenced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing)


def check(
    factory: sessionmaker[Session], store: BlobStore, *, actor: str, source: str = ""
) -> FixityReport:
    report = FixityReport()
    with factory() as session:
        rows = session.execute(
            select(
                Instance.sop_instance_uid,
                Instance.storage_key,
                Instance.sha256,
                Instance.availability,
            ).order_by(Instance.pk)
        ).all()
    known = {key for _, key, _, _ in rows}
    for path in store.objects.rglob("*.dcm"):
        key = path.relative_to(store.objects).as_posix()
        if key not in known:
            report.unreferenced.append(key)
    for uid, key, sha, availability in rows:
        if availability is Availability.ERASED:
            report.erased += 1
            if store.path_for(key).exists():
                store.delete(key)
                report.erased_leftovers.append(uid)
            continue
        report.checked += 1
        actual = store.hash_of(key)
        if actual is None:
            report.missing.append(uid)
        elif actual != sha:
            report.mismatched.append(uid)
    with factory() as session, session.begin():
        audit.record(
            session,
            AuditEntry(
                actor=actor,
                action=Action.FIXITY,
                outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE,
                object_uids=tuple(report.mismatched + report.missing)[:1000],
                source=source,
                detail={
                    "checked": report.checked,
                    "erased": report.erased,
                    "mismatched": len(report.mismatched),
                    "missing": len(report.missing),
                    "erased_leftovers": len(report.erased_leftovers),
                    "unreferenced": len(report.unreferenced),
                },
            ),
        )
    return report


def verify_one(store: BlobStore, key: str, sha256: str) -> bool:
    """True when the stored bytes still hash to ``sha256`` (storage commitment)."""
    return store.hash_of(key) == sha256
