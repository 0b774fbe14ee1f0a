"""C-STORE SCP (PS3.4 B.2): received data sets go to the archive as received.

pynetdicom writes each incoming data set straight to a Part 10 file
(``STORE_RECV_CHUNKED_DATASET``), so a 2 GB video never sits in memory; the
archive stages that file, makes it durable, indexes it, and only then do we
answer Success. Every archive error becomes a named failure status
(:mod:`dicom_gateway.statuses`); nothing raises into pynetdicom.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.events import Event

from archive import (
    Action,
    Actor,
    Archive,
    ArchiveError,
    AuditEntry,
    Expected,
    ObjectTooLarge,
    Origin,
    Outcome,
    Role,
    StorageError,
    StorageFull,
    node_may_store,
)
from dicom_gateway.associations import Peer, Peers
from dicom_gateway.sop import Service
from dicom_gateway.statuses import REFUSED, Answer, Status, store_failure

log = logging.getLogger(__name__)


class StoreHandler:
    """EVT_C_STORE: authorise, check, ingest, answer."""

    def __init__(self, archive: Archive, peers: Peers) -> None:
        self.archive = archive
        self.peers = peers

    def __call__(self, event: Event) -> Dataset:
        try:
            return self._store(event).dataset()
        except Exception:
            log.exception("unexpected error storing an object")
            return Answer(Status.PROCESSING_FAILURE, "processing failure: internal error").dataset()

    def _store(self, event: Event) -> Answer:
        peer = self.peers.authorise(event, Service.STORE)
        if peer is None:
            return REFUSED
        req: Any = event.request
        if not node_may_store(peer.role, str(req.AffectedSOPClassUID)):
            self._audit_refusal(
                peer, str(req.AffectedSOPInstanceUID), "governance nodes store rejection notes only"
            )
            return REFUSED
        path = event.dataset_path
        # A node sends what it took or holds; it acts for no purpose of use.
        sender = Actor(peer.ae_title, Role(peer.role), None, source=peer.address)
        origin = Origin(sender, received_from=peer.ae_title)
        try:
            self.archive.ingest(
                path,
                origin=origin,
                expect=Expected(str(req.AffectedSOPClassUID), str(req.AffectedSOPInstanceUID)),
            )
        except ArchiveError as exc:
            answer = store_failure(exc)
            log.warning(
                "C-STORE %s from %s refused: 0x%04X %s",
                req.AffectedSOPInstanceUID,
                peer.ae_title,
                answer.status,
                answer.comment,
            )
            # Ingest audits what it refuses after reading the object; errors
            # before that (space, size, disk) are audited here.
            if isinstance(exc, StorageError | StorageFull | ObjectTooLarge):
                self._audit_refusal(peer, str(req.AffectedSOPInstanceUID), answer.comment)
            return answer
        return Answer(Status.SUCCESS)

    def _audit_refusal(self, peer: Peer, uid: str, reason: str) -> None:
        try:
            self.archive.record_event(
                AuditEntry(
                    actor=peer.ae_title,
                    role=str(peer.role),
                    action=Action.INGEST,
                    outcome=Outcome.REFUSED,
                    object_uids=(uid,),
                    source=peer.address,
                    detail={"reason": reason},
                )
            )
        except Exception:
            log.exception("could not audit a refused C-STORE of %s", uid)
