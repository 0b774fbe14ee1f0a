"""Locating instances to send (C-MOVE, C-GET, exports) and checking what a
camera may consider committed (Storage Commitment, PS3.4 J.3).

Both go through the same access policy and matching as queries: a
retrieve can never reach an instance a query would not show.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.hierarchy import instance_join
from archive.keys import Level
from archive.models import Availability, Instance, Patient, Study
from archive.policy import Actor
from archive.query import matching
from archive.store import BlobStore


@dataclass(frozen=True)
class Located:
    """One instance to send, and where its bytes are."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    patient_id: str
    study_instance_uid: str
    size: int
    path: Path


def locate(
    session: Session,
    store: BlobStore,
    level: Level,
    identifier: Mapping[str, str],
    *,
    requester: Actor,
    destination: str,
    limit: int,
) -> list[Located]:
    """The instances a retrieve at ``level`` selects, visible to ``requester``; audited."""
    stmt = (
        instance_join(
            select(
                Instance.sop_class_uid,
                Instance.sop_instance_uid,
                Instance.transfer_syntax_uid,
                Patient.patient_id,
                Study.study_instance_uid,
                Instance.size_bytes,
                Instance.storage_key,
            ).select_from(Instance)
        )
        .where(*matching(level, identifier, requester))
        .order_by(Instance.pk)
        .limit(limit)
    )
    found = [
        Located(
            sop_class_uid=row[0],
            sop_instance_uid=row[1],
            transfer_syntax_uid=row[2],
            patient_id=row[3],
            study_instance_uid=row[4],
            size=row[5],
            path=store.path_for(row[6]),
        )
        for row in session.execute(stmt)
    ]
    by_patient: dict[str, list[str]] = defaultdict(list)
    for item in found:
        by_patient[item.patient_id].append(item.sop_instance_uid)
    detail = {
        "level": level.name,
        "identifier": dict(identifier),
        "destination": destination,
        "instances": len(found),
        **requester.audit_detail,
    }
    entries = [
        AuditEntry.by(
            requester,
            action=Action.RETRIEVE,
            outcome=Outcome.SUCCESS,
            patient_id=pid,
            object_uids=tuple(uids[:1000]),
            detail=detail,
        )
        for pid, uids in by_patient.items()
    ] or [
        AuditEntry.by(
            requester,
            action=Action.RETRIEVE,
            outcome=Outcome.SUCCESS,
            detail=detail,
        )
    ]
    audit.record_many(session, entries)
    return found


def owner_of(session: Session, sop_instance_uid: str) -> str:
    """The PatientID of an instance whatever its state ("" if not held): a refused
    look is recorded against the patient whose recording was tried."""
    found = session.scalar(
        instance_join(select(Patient.patient_id).select_from(Instance)).where(
            Instance.sop_instance_uid == sop_instance_uid[:64]
        )
    )
    return found or ""


def stored_syntaxes(session: Session, sop_classes: Iterable[str]) -> dict[str, set[str]]:
    """For each SOP class, the transfer syntaxes its stored (not erased) objects are in:
    what a C-GET requester's storage contexts should prefer."""
    out: dict[str, set[str]] = defaultdict(set)
    stmt = (
        select(Instance.sop_class_uid, Instance.transfer_syntax_uid)
        .where(
            Instance.sop_class_uid.in_(list(sop_classes)),
            Instance.availability != Availability.ERASED,
        )
        .distinct()
    )
    for sop_class, syntax in session.execute(stmt):
        out[sop_class].add(syntax)
    return dict(out)


def committable(
    session: Session, store: BlobStore, references: Sequence[tuple[str, str]]
) -> list[bool]:
    """For each (SOP Class UID, SOP Instance UID): is it stored, not erased, of
    that class, and do its bytes still pass fixity? Only then may a camera
    delete its copy (PS3.4 J.3.3)."""
    uids = [uid for _, uid in references]
    rows = {
        r.sop_instance_uid: r
        for r in session.execute(
            select(
                Instance.sop_instance_uid,
                Instance.sop_class_uid,
                Instance.storage_key,
                Instance.sha256,
                Instance.availability,
            ).where(Instance.sop_instance_uid.in_(uids))
        )
    }
    out: list[bool] = []
    for sop_class, uid in references:
        row = rows.get(uid)
        ok = (
            row is not None
            and row.sop_class_uid == sop_class
            and row.availability is not Availability.ERASED
            and store.hash_of(row.storage_key) == row.sha256
        )
        out.append(ok)
    return out
