from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from archive import Actor, Archive, Level, Purpose, Role
from archive.models import AuditEvent, Instance, Patient, Series, Study

# The attribute that names a match at each query level.
UNIQUE_KEY = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}


def reviewer(actor: str = "ig") -> Actor:
    """A governance actor under an open review with a reason: the one requester
    that sees exactly the held and quarantined objects."""
    return Actor(
        actor=actor,
        role=Role.GOVERNANCE,
        purpose=Purpose.GOVERNANCE,
        review=True,
        review_reason="IG-1: test review of hidden objects",
    )


REVIEW = reviewer()


def counts(archive: Archive) -> dict[str, int]:
    """Rows in every table and files in the store: 'nothing changed' means these are equal."""
    with archive.sessions() as s:
        out = {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Patient, Study, Series, Instance)
        }
    out["objects"] = sum(1 for p in archive.store.objects.rglob("*") if p.is_file())
    out["tmp"] = sum(1 for _ in archive.store.tmp.iterdir())
    return out


def audit_rows(archive: Archive) -> list[AuditEvent]:
    with archive.sessions() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def stored_files(archive: Archive) -> list[Path]:
    return sorted(p for p in archive.store.objects.rglob("*") if p.is_file())
