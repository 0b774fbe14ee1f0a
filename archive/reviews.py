"""Governance reviews: the stated reason behind every look at hidden objects.

Held and quarantined recordings are out of the record; information-governance
staff may still need to see them (a complaint, a disclosure request, an
incident). Such a look is only lawful for a reason, so the review path is
closed until someone opens a *review* for a subject with a stated reason:

* ``node:<AE title>`` — a DICOM node of role ``governance`` calling the
  review AE title (opened by the archive's operator, ``photopacs review open``);
* ``session:<hash>`` — one signed-in governance person's web session.

A review expires (by default after eight hours, never after its session) and
may be closed early. While it is open every review access — a query, a
retrieve, a page — is audited with its reason and number (the requester
carries them, :class:`archive.policy.Actor`); opening and closing are
audited too. Reviews are never deleted: the list is the record of why hidden
objects were looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import audit, policy
from archive.audit import Action, AuditEntry, Outcome
from archive.db import aware
from archive.errors import InvalidArgument, NotFound
from archive.models import GovernanceReview, Node

DEFAULT_HOURS = 8.0
MIN_REASON = 10  # "complaint" alone is not a reason; a case reference and a word or two is
MAX_REASON = 1000


@dataclass(frozen=True)
class ReviewInfo:
    number: int
    subject: str
    reason: str
    opened_by: str
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    closed_by: str
    patient_id: str = ""  # subject access: the patient whose record it discloses

    def open_at(self, now: datetime) -> bool:
        return self.closed_at is None and now < self.expires_at


def _info(row: GovernanceReview) -> ReviewInfo:
    return ReviewInfo(
        number=row.pk,
        subject=row.subject,
        reason=row.reason,
        opened_by=row.opened_by,
        opened_at=aware(row.opened_at),
        expires_at=aware(row.expires_at),
        closed_at=aware(row.closed_at) if row.closed_at else None,
        closed_by=row.closed_by,
        patient_id=row.patient_id,
    )


def node_subject(ae_title: str) -> str:
    return f"node:{ae_title.strip()}"


def session_subject(token_hash: str) -> str:
    return f"session:{token_hash}"


def valid_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if len(text) < MIN_REASON:
        raise InvalidArgument(
            f"state the reason for this review (at least {MIN_REASON} characters, "
            "e.g. a case reference and what it is about)"
        )
    if len(text) > MAX_REASON:
        raise InvalidArgument(f"the reason is longer than {MAX_REASON} characters")
    return text


def _check_subject(session: Session, subject: str) -> None:
    kind, _, name = subject.partition(":")
    if kind == "node":
        node = session.scalar(select(Node).where(Node.ae_title == name))
        if node is None:
            raise NotFound(f"no node {name!r}")
        if not policy.node_may_review(node.role):
            raise InvalidArgument(f"node {name!r} is not a governance node")
    elif kind != "session" or not name:
        raise InvalidArgument(f"unknown review subject {subject!r}")


def open_review(
    factory: sessionmaker[Session],
    subject: str,
    *,
    reason: str,
    actor: str,
    role: str,
    source: str = "",
    hours: float = DEFAULT_HOURS,
    not_after: datetime | None = None,
    patient_id: str = "",
) -> ReviewInfo:
    """Open a review for ``subject``; any review it had open is closed first.
    ``patient_id`` names the patient of a subject-access request."""
    text = valid_reason(reason)
    patient_id = patient_id.strip()
    if len(patient_id) > 64:
        raise InvalidArgument("a Patient ID is at most 64 characters")
    longest = policy.max_review_hours(session=subject.startswith("session:"))
    if not 0 < hours <= longest:
        raise InvalidArgument(f"a review lasts more than 0 and at most {longest:g} hours")
    now = datetime.now(UTC)
    expires = now + timedelta(hours=hours)
    if not_after is not None:
        expires = min(expires, aware(not_after))
    with factory.begin() as session:
        _check_subject(session, subject)
        _close_open(session, subject, actor=actor, now=now)
        row = GovernanceReview(
            subject=subject,
            reason=text,
            patient_id=patient_id,
            opened_by=actor,
            opened_at=now,
            expires_at=expires,
            closed_at=None,
            closed_by="",
        )
        session.add(row)
        session.flush()
        _audit_review(
            session,
            actor=actor,
            role=role,
            source=source,
            detail={
                "review": row.pk,
                "opened": subject,
                "review_reason": text,
                "expires_at": expires.isoformat(),
                "subject_access_patient": patient_id,
            },
        )
        return _info(row)


def _audit_review(
    session: Session, *, actor: str, role: str, source: str, detail: dict[str, object]
) -> None:
    """Record a review opened or closed: a governance action that succeeded."""
    audit.record(
        session,
        AuditEntry(
            actor=actor,
            role=role,
            purpose="governance",
            action=Action.REVIEW,
            outcome=Outcome.SUCCESS,
            source=source,
            detail=detail,
        ),
    )


def _close_open(session: Session, subject: str, *, actor: str, now: datetime) -> list[int]:
    rows = session.scalars(
        select(GovernanceReview).where(
            GovernanceReview.subject == subject, GovernanceReview.closed_at.is_(None)
        )
    ).all()
    for row in rows:
        row.closed_at = now
        row.closed_by = actor
    return [r.pk for r in rows]


def close_review(
    factory: sessionmaker[Session], subject: str, *, actor: str, role: str, source: str = ""
) -> list[int]:
    """Close every open review of ``subject``; returns their numbers (empty: none was open)."""
    now = datetime.now(UTC)
    with factory.begin() as session:
        closed = _close_open(session, subject, actor=actor, now=now)
        if closed:
            _audit_review(
                session,
                actor=actor,
                role=role,
                source=source,
                detail={"closed": subject, "reviews": closed},
            )
        return closed


def current(session: Session, subject: str, *, now: datetime | None = None) -> ReviewInfo | None:
    """The open, unexpired review of ``subject``, if any."""
    at = now or datetime.now(UTC)
    rows = session.scalars(
        select(GovernanceReview)
        .where(GovernanceReview.subject == subject, GovernanceReview.closed_at.is_(None))
        .order_by(GovernanceReview.pk.desc())
    ).all()
    for row in rows:
        info = _info(row)
        if info.open_at(at):
            return info
    return None


def listing(factory: sessionmaker[Session], *, open_only: bool = False) -> list[ReviewInfo]:
    now = datetime.now(UTC)
    with factory() as session:
        rows = session.scalars(select(GovernanceReview).order_by(GovernanceReview.pk)).all()
        infos = [_info(r) for r in rows]
    return [i for i in infos if i.open_at(now)] if open_only else infos
