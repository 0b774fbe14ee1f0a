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
    _record(
        factory,
        actor,
        source,
        ok=report.ok,
        uids=report.mismatched + report.missing,
        detail={
            "checked": report.checked,
            "erased": report.erased,
            "mismatched": len(report.mismatched),
            "missing": len(report.missing),
            "erased_leftovers": len(report.erased_leftovers),
            "unreferenced": len(report.unreferenced),
        },
    )
    return report


@dataclass
class ErasureReport:
    erased: int = 0
    files_checked: int = 0
    # (SOP Instance UID, file under the data folder) still holding an erased object
    # or a copy derived from it.
    leftovers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.leftovers


def verify_erasure(
    factory: sessionmaker[Session], store: BlobStore, *, actor: str, source: str = ""
) -> ErasureReport:
    """Look under the whole data folder for any trace of an erased object: a file
    named by its hash (the object, a thumbnail, a render, a remux) or a file whose
    content hashes to it. Live objects are skipped (their name is their hash);
    everything else is hashed. Audited."""
    report = ErasureReport()
    with factory() as session:
        rows = session.execute(
            select(Instance.sop_instance_uid, Instance.sha256, Instance.availability)
        ).all()
    erased = {sha: uid for uid, sha, state in rows if state is Availability.ERASED}
    live = {sha for _, sha, state in rows if state is not Availability.ERASED}
    report.erased = len(erased)
    if erased:
        for path in sorted(p for p in store.root.rglob("*") if p.is_file()):
            stem = path.name.split(".")[0].split("-")[0]
            if path.is_relative_to(store.objects) and stem in live:
                continue
            report.files_checked += 1
            named = next((sha for sha in erased if sha in path.name), None)
            if named is None:
                content = store.hash_file(path)
                named = content if content in erased else None
            if named is not None:
                report.leftovers.append((erased[named], str(path.relative_to(store.root))))
    _record(
        factory,
        actor,
        source,
        ok=report.ok,
        uids=[uid for uid, _ in report.leftovers],
        detail={
            "check": "erasure",
            "erased": report.erased,
            "files_checked": report.files_checked,
            "leftovers": len(report.leftovers),
        },
    )
    return report


def _record(
    factory: sessionmaker[Session],
    actor: str,
    source: str,
    *,
    ok: bool,
    uids: list[str],
    detail: dict[str, object],
) -> None:
    """One fixity audit event: what was checked, and the objects with problems."""
    with factory() as session, session.begin():
        audit.record(
            session,
            AuditEntry(
                actor=actor,
                action=Action.FIXITY,
                outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
                object_uids=tuple(uids)[:1000],
                source=source,
                detail=detail,
            ),
        )


def verify_one(store: BlobStore, key: str, sha256: str) -> bool:
    """True when the stored bytes still hash to ``sha256`` (storage commitment)."""
    return store.hash_of(key) == sha256
