"""Reports on the storage commitments photopacs asked for, kept in the index
(PS3.4 J.3.3; :mod:`archive.exchange.commitment_requests`).

* :class:`ReportReceiver` handles an N-EVENT-REPORT that a ``peer`` or
  ``epr`` node sends on a new association (the gateway of `photopacs serve`
  binds it; so does :class:`ReportListener`). It answers Success once the
  result is in the index, and otherwise a failure status with an Error
  Comment, audited: ``0x0118`` / ``0x0112`` / ``0x0113`` not the Storage
  Commitment Push Model instance or event types 1-2, ``0x0115`` a malformed
  report or a Transaction UID we never sent, ``0x0124`` a node other than
  the one the transaction was sent to.
* :class:`ReportListener` listens on the archive's DICOM port for the
  destination's report alone while `photopacs send` waits and no
  `photopacs serve` holds that port.
* :class:`IndexedCommitment` is the tracker `photopacs send` gives its
  :class:`~dicom_gateway.scu.Sender`: it records the transaction before the
  N-ACTION, writes a report that comes on the same association, starts the
  listener when the port is free, and reads the outcome from the index
  (where `photopacs serve` writes a report it received).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event, EventHandlerType

from archive import (
    Actor,
    Archive,
    ArchiveError,
    CommitmentRequestInfo,
    NodeRole,
    NotAuthorised,
    NotFound,
    Outcome,
    Role,
)
from dicom_gateway.associations import Peers
from dicom_gateway.commitment_scu import (
    NEW_ASSOCIATION,
    SAME_ASSOCIATION,
    CommitOutcome,
    ParsedReport,
    parse_report,
)
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED, Service
from dicom_gateway.statuses import REFUSED, Answer, Status

log = logging.getLogger(__name__)

SERVICE = "storage-commitment-request"  # audit detail, as archive.exchange.commitment_requests
REPORTER_ROLES = frozenset({NodeRole.PEER, NodeRole.EPR})


class ReportReceiver:
    """EVT_N_EVENT_REPORT: a Storage Commitment result for a request we sent."""

    def __init__(self, archive: Archive, peers: Peers) -> None:
        self.archive = archive
        self.peers = peers

    def __call__(self, event: Event) -> tuple[int | Dataset, None]:
        try:
            return self._report(event), None
        except Exception:
            log.exception("unexpected error taking a storage commitment report")
            return Answer(Status.PROCESSING_FAILURE, "processing failure").dataset(), None

    def _report(self, event: Event) -> int | Dataset:
        peer = self.peers.authorise(event, Service.COMMIT_REPORT)
        if peer is None:
            return REFUSED.dataset()
        req: Any = event.request
        answer: Answer | None = None
        report: ParsedReport | None = None
        event_type = int(req.EventTypeID) if req.EventTypeID is not None else None
        if str(req.AffectedSOPClassUID) != COMMITMENT:
            answer = Answer(Status.NO_SUCH_SOP_CLASS, "no such SOP class: storage commitment only")
        elif str(req.AffectedSOPInstanceUID) != COMMITMENT_INSTANCE:
            answer = Answer(
                Status.NO_SUCH_SOP_INSTANCE, f"no such SOP instance: use {COMMITMENT_INSTANCE}"
            )
        elif event_type not in (1, 2):
            answer = Answer(Status.NO_SUCH_EVENT_TYPE, f"no such event type {event_type}: 1 or 2")
        else:
            try:
                report = parse_report(event.event_information)
            except Exception as exc:  # ValueError, or an undecodable data set
                reason = str(exc) if isinstance(exc, ValueError) else "unreadable data set"
                answer = Answer(
                    Status.INVALID_ARGUMENT_VALUE, f"invalid event information: {reason}"
                )
        if answer is not None or report is None:
            answer = answer or Answer(Status.INVALID_ARGUMENT_VALUE, "invalid event information")
            self.peers.audit(
                actor=peer.ae_title,
                outcome=Outcome.REFUSED,
                role=str(peer.role),
                source=peer.address,
                detail={"service": SERVICE, "event": "report", "reason": answer.comment},
            )
            return answer.dataset()
        try:
            self.archive.commitment_requests.report(
                report.transaction_uid,
                Actor(peer.ae_title, Role(peer.role), None, source=peer.address),
                committed=report.committed,
                failed=report.failed,
                via=NEW_ASSOCIATION,
            )
        except NotFound:  # audited by the archive
            return Answer(
                Status.INVALID_ARGUMENT_VALUE, "invalid argument value: unknown Transaction UID"
            ).dataset()
        except NotAuthorised:  # audited by the archive
            return Answer(
                Status.NOT_AUTHORISED, "refused: not the destination of this transaction"
            ).dataset()
        log.info("storage commitment report %s from %s", report.transaction_uid, peer.ae_title)
        return int(Status.SUCCESS)


class ReportListener:
    """Our AE title on the archive's DICOM port, taking only ``destination``'s
    storage-commitment report (the association is rejected for anyone else)."""

    def __init__(self, archive: Archive, *, aet: str, destination: str) -> None:
        self.ae = AE(ae_title=aet)
        self.ae.require_called_aet = False  # Peers checks it
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = 30
        self.ae.network_timeout = 30
        self.ae.maximum_associations = 4
        self.ae.add_supported_context(COMMITMENT, UNCOMPRESSED)
        self.peers = Peers(archive, aet=aet, only=destination)
        self.handlers: list[EventHandlerType] = [
            (evt.EVT_REQUESTED, self.peers.handle_requested),
            (evt.EVT_N_EVENT_REPORT, ReportReceiver(archive, self.peers)),
        ]

    def start(self, host: str, port: int) -> None:
        """Listen; ``OSError`` (EADDRINUSE) when something already holds the port."""
        self.ae.start_server((host, port), block=False, evt_handlers=self.handlers)

    def stop(self) -> None:
        self.ae.shutdown()


def _outcome(info: CommitmentRequestInfo) -> CommitOutcome:
    return CommitOutcome(
        info.transaction_uid,
        answered=info.reported,
        committed=list(info.committed),
        not_committed=[(i.sop_instance_uid, i.failure_reason) for i in info.not_committed],
        status=info.status,
        note=info.detail,
    )


class IndexedCommitment:
    """The :class:`~dicom_gateway.commitment_scu.CommitmentTracker` of `photopacs send`.

    ``listen``: (host, port) of the archive's DICOM listener; when nothing holds
    it while we wait (no `photopacs serve`), we listen there ourselves for the
    destination's report on a new association. ``where`` says afterwards where
    such a report was expected."""

    def __init__(
        self, archive: Archive, *, requester: Actor, listen: tuple[str, int] | None = None
    ) -> None:
        self.archive = archive
        self.requester = requester
        self.listen = listen
        self.listener: ReportListener | None = None
        self.where = ""

    def __enter__(self) -> IndexedCommitment:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    def requested(
        self,
        transaction_uid: str,
        *,
        destination: str,
        calling_aet: str,
        refs: Sequence[tuple[str, str]],
    ) -> None:
        self.archive.commitment_requests.record(
            transaction_uid, destination, refs, calling_aet=calling_aet, requester=self.requester
        )
        self._start_listener(destination, calling_aet)

    def _start_listener(self, destination: str, aet: str) -> None:
        if self.listen is None or self.listener is not None:
            return
        host, port = self.listen
        node = self.archive.node(destination)
        if node is None or node.role not in REPORTER_ROLES:
            self.where = (
                f"the same association only: {destination} is not a registered peer or epr node"
            )
            return
        listener = ReportListener(self.archive, aet=aet, destination=destination)
        try:
            listener.start(host, port)
        except OSError as exc:
            listener.stop()
            if exc.errno != errno.EADDRINUSE:
                self.where = f"the same association only: cannot listen on {host}:{port}: {exc}"
                return
            self.where = f"{host}:{port}, already in use (by photopacs serve, which records it)"
            return
        self.listener = listener
        self.where = f"{host}:{port} as {aet} (photopacs send listening)"
        log.info("listening on %s:%d for the storage commitment report", host, port)

    def reported(self, report: ParsedReport, *, reporter: str) -> None:
        try:
            self.archive.commitment_requests.report(
                report.transaction_uid,
                self._node(reporter),
                committed=report.committed,
                failed=report.failed,
                via=SAME_ASSOCIATION,
            )
        except ArchiveError:
            log.exception("could not record the report %s", report.transaction_uid)

    def _node(self, ae_title: str) -> Actor:
        """The node we sent the request to, as who reports on the same association."""
        node = self.archive.node(ae_title)
        return Actor(ae_title, Role(node.role) if node else Role.PEER, None)

    def outcome(self, transaction_uid: str) -> CommitOutcome | None:
        info = self.archive.commitment_requests.get(transaction_uid)
        return _outcome(info) if info is not None and info.reported else None

    def give_up(self, transaction_uid: str, *, status: str, reason: str) -> CommitOutcome:
        info = self.archive.commitment_requests.give_up(
            transaction_uid, status=status, detail=reason, requester=self.requester
        )
        return _outcome(info)
