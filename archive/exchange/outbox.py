"""The one outbox mechanism behind everything the archive owes other nodes
(docs/adr/0005): auto-forwarding jobs, storage-commitment reports and IOCM
rejection notes.

Each item is a row with the columns of :class:`archive.models.OutboxItem`,
written in the transaction that makes it owed, so a crash cannot lose it. A
gateway worker (``dicom_gateway.worker.Worker``) asks for what is :func:`due`,
sends it and records each outcome with :func:`attempt`: done, or failed and
retried after :func:`retry_delay` until ``max_attempts``, then ``failed``
(:func:`requeue` puts it back). An item that may not be sent yet waits
(:func:`postpone`); one that must not or cannot be sent at all is ended with
:func:`give_up`. These functions work in the caller's session;
what each outcome means for the audit trail is the caller's to record.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from archive.db import aware
from archive.errors import NotFound
from archive.models import OutboxItem

MAX_DELAY = 3600.0


class Status(enum.StrEnum):
    """Where an outbox item stands (the stored ``status`` values)."""

    PENDING = "pending"  # waiting for its next attempt
    SENT = "sent"  # done: a forwarding job, a rejection note
    DELIVERED = "delivered"  # done: a storage-commitment report
    FAILED = "failed"  # given up after max_attempts (or the destination is gone)
    DROPPED = "dropped"  # never to be sent: the access policy refused it


# What a listing shows unless asked for everything: what is not done.
OPEN = (Status.PENDING, Status.FAILED)


@dataclass(frozen=True)
class Retry:
    """How a failed attempt is retried."""

    max_attempts: int
    backoff: float  # seconds before the first retry, doubling after each failure


@dataclass(frozen=True)
class ItemInfo:
    """What every outbox item says of itself; each queue's info adds its own fields."""

    number: int
    status: Status
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime


def item_fields(item: OutboxItem) -> dict[str, Any]:
    """The :class:`ItemInfo` fields of a row."""
    return {
        "number": item.pk,
        "status": Status(item.status),
        "attempts": item.attempts,
        "last_error": item.last_error,
        "next_attempt_at": aware(item.next_attempt_at),
        "created_at": aware(item.created_at),
        "updated_at": aware(item.updated_at),
    }


Item = TypeVar("Item", bound=OutboxItem)


def retry_delay(attempts: int, backoff: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: doubling, capped at an hour."""
    if backoff <= 0:
        return 0.0
    return float(min(backoff * 2 ** max(attempts - 1, 0), MAX_DELAY))


def fresh(now: datetime, *, after: float = 0.0) -> dict[str, Any]:
    """The outbox columns of a new item, first due ``after`` seconds from ``now``."""
    return {
        "status": Status.PENDING,
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": now + timedelta(seconds=after),
        "created_at": now,
        "updated_at": now,
    }


def listing(
    session: Session,
    model: type[Item],
    statuses: Sequence[str] | None,
    *where: ColumnElement[bool],
) -> list[Item]:
    """Items with one of ``statuses`` (None: all), oldest first."""
    stmt = select(model).where(*where).order_by(model.pk)
    if statuses is not None:
        stmt = stmt.where(model.status.in_(list(statuses)))
    return list(session.scalars(stmt))


def due(session: Session, model: type[Item], *, now: datetime, limit: int) -> list[Item]:
    """Pending items whose next attempt is due at ``now``, longest waiting first."""
    return list(
        session.scalars(
            select(model)
            .where(model.status == Status.PENDING, model.next_attempt_at <= now)
            .order_by(model.next_attempt_at, model.pk)
            .limit(limit)
        )
    )


def attempt(
    item: OutboxItem, *, error: str | None, done: Status, retry: Retry, now: datetime
) -> None:
    """Record one attempt: ``error`` None is success (status ``done``); otherwise
    the item is retried after the back-off, or ``failed`` at ``max_attempts``."""
    item.attempts += 1
    item.updated_at = now
    if error is None:
        item.status, item.last_error = done, ""
        return
    item.last_error = (error or "not delivered")[:2000]
    if item.attempts >= retry.max_attempts:
        item.status = Status.FAILED
    else:
        item.next_attempt_at = now + timedelta(seconds=retry_delay(item.attempts, retry.backoff))


def attempt_on(
    session: Session,
    model: type[Item],
    number: int,
    *,
    what: str,
    error: str | None,
    done: Status,
    retry: Retry,
    now: datetime,
) -> Item:
    """:func:`attempt` on item ``number`` (``what`` names it in :class:`NotFound`)."""
    item = session.get(model, number)
    if item is None:
        raise NotFound(f"no {what} {number}")
    attempt(item, error=error, done=done, retry=retry, now=now)
    return item


def postpone(item: OutboxItem, reason: str, *, now: datetime) -> None:
    """Not yet (e.g. held for consent): stays pending, behind the others, no attempt counted."""
    item.last_error = reason[:2000]
    item.next_attempt_at = now


def give_up(item: OutboxItem, status: Status, reason: str, *, now: datetime) -> str:
    """End an item without an attempt (``failed`` or ``dropped``); returns the reason kept."""
    item.status = status
    item.last_error = reason[:2000]
    item.updated_at = now
    return item.last_error


def requeue(items: Sequence[OutboxItem], *, now: datetime) -> None:
    """Put items back in the queue, due now, with a fresh attempt count."""
    for item in items:
        item.status, item.attempts, item.next_attempt_at, item.updated_at = (
            Status.PENDING,
            0,
            now,
            now,
        )
