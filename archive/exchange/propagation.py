"""Propagation of quarantines to peers (IOCM): where copies went, and the
rejection notes owed to the nodes that hold them.

* :func:`record_delivery` remembers every instance the archive sent to
  another node (C-MOVE, C-GET, auto-forwarding).
* :func:`enqueue_propagation` is called in the transaction that quarantines
  or erases instances (consent, governance, a received rejection note): it
  owes every node that received any of them a rejection note, one per study,
  so a crash cannot lose it.
* The gateway's ``Propagator`` asks :meth:`Propagations.due` for what to
  send, builds each note with :meth:`Propagations.note` and records every
  attempt with :meth:`Propagations.mark` (audited): failures are retried with
  back-off (:mod:`archive.exchange.outbox`) until ``max_attempts``, then
  marked failed; `photopacs propagation --all` shows them.

This module depends on neither :mod:`archive.consent` nor
:mod:`archive.governance`; both call it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import audit, iocm
from archive.audit import Action, AuditEntry, Outcome
from archive.errors import NotFound
from archive.exchange import outbox
from archive.exchange.outbox import ItemInfo, Retry, Status, item_fields
from archive.hierarchy import instance_join
from archive.models import Delivery, Instance, Patient, Propagation, Series, Study

STATUSES = (Status.PENDING, Status.SENT, Status.FAILED)


@dataclass(frozen=True)
class PropagationInfo(ItemInfo):
    """One rejection note owed to ``destination`` for instances of one study."""

    destination: str
    title_code: str  # 113001 / 113037 / 113038 / 113039
    sop_instance_uids: tuple[str, ...]
    note_uid: str  # the note's SOP Instance UID, once sent


def _info(row: Propagation) -> PropagationInfo:
    return PropagationInfo(
        destination=row.destination,
        title_code=row.title_code,
        sop_instance_uids=tuple(json.loads(row.sop_instance_uids)),
        note_uid=row.note_uid,
        **item_fields(row),
    )


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
        instance_join(
            select(Delivery.destination, Study.study_instance_uid, Instance.sop_instance_uid).join(
                Instance, Instance.sop_instance_uid == Delivery.sop_instance_uid
            ),
            patient=False,
        ).where(Delivery.sop_instance_uid.in_(list(uids)))
    ).all()
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for destination, study_uid, uid in rows:
        grouped[(destination, study_uid)].append(uid)
    now = datetime.now(UTC)
    for (destination, _study), group in sorted(grouped.items()):
        session.add(
            Propagation(
                destination=destination,
                title_code=iocm.title_for(reason_code),
                sop_instance_uids=json.dumps(sorted(group)),
                **outbox.fresh(now),
            )
        )
    return len(grouped)


class Propagations:
    """The queue of owed rejection notes (``archive.exchange.propagation``)."""

    def __init__(self, sessions: sessionmaker[Session], *, uid_root: str | None) -> None:
        self.sessions = sessions
        self.uid_root = uid_root

    def listing(
        self, *, statuses: Sequence[str] | None = (Status.PENDING,)
    ) -> list[PropagationInfo]:
        """Notes with one of ``statuses`` (None: all, for review), oldest first."""
        with self.sessions() as session:
            return [_info(r) for r in outbox.listing(session, Propagation, statuses)]

    def due(self, *, limit: int = 100, now: datetime | None = None) -> list[PropagationInfo]:
        """Pending notes whose next attempt is due."""
        now = now or datetime.now(UTC)
        with self.sessions() as session:
            return [_info(r) for r in outbox.due(session, Propagation, now=now, limit=limit)]

    def note(self, owed: PropagationInfo) -> Dataset:
        """The IOCM rejection note to send for one owed propagation."""
        with self.sessions() as session:
            rows = session.execute(
                instance_join(select(Instance, Series.series_instance_uid, Study, Patient)).where(
                    Instance.sop_instance_uid.in_(owed.sop_instance_uids)
                )
            ).all()
        if not rows:
            raise NotFound("the instances of this propagation are no longer indexed")
        _, _, study, patient = rows[0]
        refs = [
            iocm.Reference(
                study.study_instance_uid, series_uid, i.sop_class_uid, i.sop_instance_uid
            )
            for i, series_uid, _, _ in rows
        ]
        pds, sds = Dataset(), Dataset()
        pds.PatientName = patient.patient_name
        pds.PatientID = patient.patient_id
        pds.PatientBirthDate = patient.patient_birth_date
        pds.PatientSex = patient.patient_sex
        sds.StudyInstanceUID = study.study_instance_uid
        sds.StudyDate = study.study_date
        sds.StudyTime = study.study_time
        sds.AccessionNumber = study.accession_number
        sds.StudyID = study.study_id
        sds.ReferringPhysicianName = study.referring_physician_name
        return iocm.build_note(
            owed.title_code, refs, patient=pds, study=sds, uid_root=self.uid_root
        )

    def mark(
        self,
        number: int,
        *,
        sent: bool,
        error: str = "",
        note_uid: str = "",
        max_attempts: int = 10,
        backoff: float = 0.0,
        now: datetime | None = None,
    ) -> PropagationInfo:
        """Record a send attempt (audited): sent, or failed and retried after the
        back-off until ``max_attempts``."""
        now = now or datetime.now(UTC)
        with self.sessions() as session, session.begin():
            row = outbox.attempt_on(
                session,
                Propagation,
                number,
                what="propagation",
                error=None if sent else error,
                done=Status.SENT,
                retry=Retry(max_attempts=max_attempts, backoff=backoff),
                now=now,
            )
            row.note_uid = note_uid or row.note_uid
            info = _info(row)
            audit.record(
                session,
                AuditEntry(
                    actor="propagation",
                    action=Action.AVAILABILITY,
                    outcome=Outcome.SUCCESS if sent else Outcome.FAILURE,
                    object_uids=info.sop_instance_uids,
                    source=row.destination,
                    detail={
                        "iocm": "propagate",
                        "title": row.title_code,
                        "status": row.status,
                        "error": row.last_error,
                    },
                ),
            )
            return info
