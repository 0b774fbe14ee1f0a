"""Propagation of quarantines to peers (IOCM): where copies went, and the
rejection notes owed to the nodes that hold them.

* :func:`record_delivery` remembers every instance the archive sent to
  another node (C-MOVE, C-GET, auto-forwarding).
* :func:`enqueue_propagation` is called in the transaction that quarantines
  or erases instances (consent, governance, a received rejection note): it
  owes every node that received any of them a rejection note, one per study,
  so a crash cannot lose it.

This module depends on neither :mod:`archive.consent` nor
:mod:`archive.governance`; both call it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.iocm import title_for
from archive.models import Delivery, Instance, Propagation, Series, Study


def record_delivery(session: Session, destination: str, uids: Sequence[str]) -> None:
    """Remember that these instances now exist at ``destination``."""
    known = set(
        session.scalars(
            select(Delivery.sop_instance_uid).where(
                Delivery.destination == destination, Delivery.sop_instance_uid.in_(list(uids))
            )
        )
    )
    now = datetime.now(UTC)
    session.add_all(
        Delivery(sop_instance_uid=u, destination=destination, sent_at=now)
        for u in dict.fromkeys(uids)
        if u not in known
    )


def enqueue_propagation(session: Session, uids: Sequence[str], reason_code: str) -> int:
    """Owe every node that received any of ``uids`` a rejection note, one per study."""
    if not uids:
        return 0
    rows = session.execute(
        select(Delivery.destination, Study.study_instance_uid, Instance.sop_instance_uid)
        .join(Instance, Instance.sop_instance_uid == Delivery.sop_instance_uid)
        .join(Series, Instance.series_pk == Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .where(Delivery.sop_instance_uid.in_(list(uids)))
    ).all()
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for destination, study_uid, uid in rows:
        grouped[(destination, study_uid)].append(uid)
    now = datetime.now(UTC)
    for (destination, _study), group in sorted(grouped.items()):
        session.add(
            Propagation(
                destination=destination,
                title_code=title_for(reason_code),
                sop_instance_uids=json.dumps(sorted(group)),
                status="pending",
                created_at=now,
                updated_at=now,
            )
        )
    return len(grouped)
