"""Association control: who may associate, and what each role may do.

* An association whose Called AE Title is not ours is rejected (A-ASSOCIATE-RJ,
  permanent, service user, "called AE title not recognised"; PS3.8 9.3.4).
* An unknown Calling AE Title, or a known one calling from an address other
  than its registered one when the node has ``check_address``, is rejected
  with "calling AE title not recognised".
* A known node gets the presentation contexts of the services its role
  allows (PS3.8 9.3.3.2): ``modality`` echo, storage, storage commitment;
  ``epr`` echo, query, move, get; ``governance`` echo and the storage of
  IOCM rejection notes (Key Object Selection documents only); ``peer`` may
  only echo. ``epr`` and ``peer`` nodes may also report the result of a
  storage commitment *we* asked for (``photopacs send --commit``) on a new
  association (PS3.4 J.3.3.1.3): they get the Storage Commitment context
  only when they propose the SCP role for it (SCP/SCU Role Selection, PS3.7
  D.3.3.4), and we accept it as the SCU, so they can send N-EVENT-REPORT
  but cannot ask us to commit. ``only`` restricts a listener to one calling
  AE title (`photopacs send` waiting for its report).
* Held and quarantined objects never leave over DIMSE, except to
  a governance node that calls the review AE title: it may find, move and
  get exactly the held and quarantined ones (the governance review path)
  while the node has an open review with a stated reason
  (``photopacs review open``), every look audited with that reason.
  Storage contexts are negotiated for every role (C-GET needs them), so a
  C-STORE from a role that may not store is answered 0x0124.

Acceptances, rejections and refusals are all audit events.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import ssl
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext

from archive import (
    STORAGE_CLASSES,
    Action,
    Archive,
    AuditEntry,
    NodeRole,
    Outcome,
    ReviewInfo,
    node_may_review,
    node_subject,
)
from dicom_gateway.sop import COMMITMENT, QR_MODELS, Service
from dicom_gateway.transfer import retrieval_context

log = logging.getLogger(__name__)


ALLOWED: dict[NodeRole, frozenset[Service]] = {
    NodeRole.MODALITY: frozenset({Service.ECHO, Service.STORE, Service.COMMIT}),
    NodeRole.EPR: frozenset(
        {Service.ECHO, Service.FIND, Service.MOVE, Service.GET, Service.COMMIT_REPORT}
    ),
    NodeRole.PEER: frozenset({Service.ECHO, Service.COMMIT_REPORT}),
    # Governance nodes send IOCM rejection notes (Key Object Selection only).
    NodeRole.GOVERNANCE: frozenset({Service.ECHO, Service.STORE}),
}


# A governance node calling the review AE title may look at held and
# quarantined objects (the governance review path).
REVIEW_SERVICES = frozenset({Service.ECHO, Service.FIND, Service.MOVE, Service.GET})


@dataclass(frozen=True)
class Peer:
    """The remote node on one association."""

    ae_title: str
    role: NodeRole
    address: str
    port: int
    tls: bool
    review: bool = False  # called the review AE title: the governance review path
    transcode: bool = True  # decode what it cannot take in the stored syntax

    def may(self, service: Service) -> bool:
        if self.review:
            return service in REVIEW_SERVICES
        return service in ALLOWED.get(self.role, frozenset())


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return {host}


def _context_service(cx: PresentationContext) -> Service | None:
    uid = str(cx.abstract_syntax)
    if uid in QR_MODELS:
        return QR_MODELS[uid]
    if uid == COMMITMENT:
        return Service.COMMIT
    return None


def _proposes_scp_role(assoc: Any, sop_class: str) -> bool:
    """Did the requestor propose the SCP role for ``sop_class`` (PS3.7 D.3.3.4)?"""
    item = assoc.requestor.role_selection.get(sop_class)
    return bool(item is not None and item.scp_role)


def _reports_only(cx: PresentationContext) -> PresentationContext:
    """The Storage Commitment context for a node reporting to us: the requestor
    may be the SCP (send N-EVENT-REPORT), never the SCU (ask us to commit)."""
    reports = copy.deepcopy(cx)
    reports.scu_role = False
    reports.scp_role = True
    return reports


class Peers:
    """Association acceptance and the peer of each live association.

    ``only``: accept that calling AE title alone (the listener `photopacs send`
    runs while it waits for a storage-commitment report)."""

    def __init__(
        self, archive: Archive, *, aet: str, review_aet: str = "", only: str | None = None
    ) -> None:
        self.archive = archive
        self.aet = aet.strip()
        self.review_aet = review_aet.strip()
        self.only = only.strip() if only else None
        self._peers: weakref.WeakKeyDictionary[Any, Peer] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def audit(
        self,
        *,
        actor: str,
        outcome: Outcome,
        source: str,
        role: str = "",
        action: Action = Action.ASSOCIATION,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an event; a failure to audit is logged, never raised into pynetdicom."""
        try:
            self.archive.record_event(
                AuditEntry(
                    actor=actor,
                    action=action,
                    outcome=outcome,
                    role=role,
                    source=source,
                    detail=detail or {},
                )
            )
        except Exception:
            log.exception("could not record an audit event for %s", actor)

    def handle_requested(self, event: Event) -> None:
        """EVT_REQUESTED: accept or reject before negotiation (PS3.8 7.1.1)."""
        assoc = event.assoc
        rq: Any = assoc.requestor.primitive
        calling = str(rq.calling_ae_title).strip()
        called = str(rq.called_ae_title).strip()
        address = str(assoc.requestor.address)
        tls = isinstance(getattr(assoc.dul.socket, "socket", None), ssl.SSLSocket)
        try:
            node = self.archive.node(calling)
        except Exception:
            log.exception("node lookup failed for %s", calling)
            node = None
        reason = ""
        diagnostic = 0x03
        review = bool(self.review_aet) and called == self.review_aet
        if called != self.aet and not review:
            reason, diagnostic = f"called AE title {called!r} is not ours", 0x07
        elif self.only is not None and calling != self.only:
            reason = f"only {self.only} may call while its commitment report is awaited"
        elif node is None:
            reason = "calling AE title not recognised"
        elif node.check_address and address not in _addresses(node.host):
            reason = "calling address does not match the registered node"
        elif review and not node_may_review(node.role):
            reason, diagnostic = "the review AE title is for governance nodes only", 0x07
        elif review and self._open_review(calling) is None:
            reason = "no open governance review with a stated reason for this node"
        if reason or node is None:
            log.warning("rejecting association from %s at %s: %s", calling, address, reason)
            self.audit(
                actor=calling,
                outcome=Outcome.REFUSED,
                source=address,
                detail={"called": called, "reason": reason, "tls": tls},
            )
            assoc.acse.send_reject(0x01, 0x01, diagnostic)
            assoc.kill()
            return
        peer = Peer(
            ae_title=calling,
            role=node.role,
            address=address,
            port=node.port,
            tls=tls,
            review=review,
            transcode=node.transcode,
        )
        refused: set[str] = set()
        kept = []
        for cx in assoc.acceptor.supported_contexts:
            service = _context_service(cx)
            if (
                service is Service.COMMIT
                and not peer.may(service)
                and peer.may(Service.COMMIT_REPORT)
            ):
                if _proposes_scp_role(assoc, COMMITMENT):
                    kept.append(_reports_only(cx))
                else:  # it would ask us to commit: reporting needs the SCP role
                    refused.add(str(Service.COMMIT))
                continue
            if service is not None and not peer.may(service):
                refused.add(str(service))
                continue
            kept.append(cx)
        retrieving = self._retrieval_classes(assoc, peer)
        if retrieving:
            stored = self._stored_syntaxes(retrieving)
            kept = [
                retrieval_context(cx, stored.get(str(cx.abstract_syntax), set()))
                if str(cx.abstract_syntax) in retrieving
                else cx
                for cx in kept
            ]
        assoc.acceptor.supported_contexts = kept
        with self._lock:
            self._peers[assoc] = peer
        self.audit(
            actor=calling,
            outcome=Outcome.SUCCESS,
            role=str(peer.role),
            source=address,
            detail={
                "called": called,
                "tls": tls,
                "process": os.getpid(),  # which receiving process (PHOTOPACS_DICOM_WORKERS)
                "review": review,
                "services": sorted(
                    str(s) for s in (REVIEW_SERVICES if review else ALLOWED.get(peer.role, ()))
                ),
                "not_negotiated": sorted(refused),
            },
        )

    @staticmethod
    def _retrieval_classes(assoc: Any, peer: Peer) -> set[str]:
        """Storage classes the requester proposes to take the SCP role for (C-GET)."""
        if not peer.may(Service.GET):
            return set()
        return {
            str(uid)
            for uid, item in assoc.requestor.role_selection.items()
            if item.scp_role and str(uid) in STORAGE_CLASSES
        }

    def _stored_syntaxes(self, sop_classes: set[str]) -> dict[str, set[str]]:
        try:
            return self.archive.stored_syntaxes(sop_classes)
        except Exception:
            log.exception("could not look up stored transfer syntaxes")
            return {}

    def _open_review(self, ae_title: str) -> ReviewInfo | None:
        try:
            return self.archive.current_review(node_subject(ae_title))
        except Exception:
            log.exception("review lookup failed for %s", ae_title)
            return None

    def peer(self, assoc: Any) -> Peer | None:
        with self._lock:
            return self._peers.get(assoc)

    def authorise(self, event: Event, service: Service) -> Peer | None:
        """The peer, if its role allows ``service``; otherwise audit a refusal (PS3.7 C.5.18)."""
        peer = self.peer(event.assoc)
        if peer is not None and peer.may(service):
            return peer
        actor = peer.ae_title if peer else str(event.assoc.requestor.ae_title).strip()
        log.warning("refused %s from %s: not authorised for its role", service, actor)
        self.audit(
            actor=actor,
            outcome=Outcome.REFUSED,
            role=str(peer.role) if peer else "",
            source=str(event.assoc.requestor.address),
            action=Action.INGEST if service is Service.STORE else Action.ASSOCIATION,
            detail={"service": str(service), "reason": "refused: not authorised for its role"},
        )
        return None
