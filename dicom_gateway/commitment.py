"""Storage Commitment Push Model SCP (PS3.4 J.3).

A camera's N-ACTION (Request Storage Commitment, Action Type 1) is answered
at once; the result follows as an N-EVENT-REPORT listing the committed and
the failed SOP instances. An instance is committed only if the archive
holds it durably, as that SOP class, and its bytes still pass fixity
(:meth:`Archive.committable`), because the camera may then delete its copy.
The report goes on the same association if it is still open, otherwise on
a new association to the camera's registered address (PS3.4 J.3.3, with
SCP/SCU Role Selection, PS3.7 D.3.3.4).

Every result is saved in the index (:mod:`archive.exchange.commitments`) before it is
sent, so none is lost when the camera is away or the server restarts: after
a couple of quick tries the :class:`ReportSender` loop retries it with
backoff until it is delivered or given up (`photopacs commitment list`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role
from pynetdicom.events import Event

from archive import Archive
from dicom_gateway.associations import Peer, Peers
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED, Service
from dicom_gateway.statuses import REFUSED, Answer, Status
from dicom_gateway.worker import OutboxWorker

log = logging.getLogger(__name__)

NO_SUCH_OBJECT = 0x0112  # PS3.4 J.3.2.1.1.2 Failure Reason
CLASS_INSTANCE_CONFLICT = 0x0119
NO_SUCH_ACTION = 0x0123
MISSING_ATTRIBUTE = 0x0120
INVALID_VALUE = 0x0106


@dataclass(frozen=True)
class Report:
    """The outcome of one commitment request."""

    transaction_uid: str
    committed: list[tuple[str, str]]
    failed: list[tuple[str, str]]

    def dataset(self, *, aet: str) -> Dataset:
        """Event Information of N-EVENT-REPORT (PS3.4 J.3.3.1.1)."""
        ds = Dataset()
        ds.TransactionUID = self.transaction_uid
        ds.RetrieveAETitle = aet
        if self.committed:
            ds.ReferencedSOPSequence = [_ref(c, i) for c, i in self.committed]
        if self.failed:
            items = []
            for c, i in self.failed:
                item = _ref(c, i)
                item.FailureReason = NO_SUCH_OBJECT
                items.append(item)
            ds.FailedSOPSequence = items
        return ds

    @property
    def event_type(self) -> int:
        """1: all committed; 2: some failed (PS3.4 J.3.3.1)."""
        return 2 if self.failed else 1


def _ref(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


class CommitmentHandler:
    """EVT_N_ACTION for the Storage Commitment Push Model."""

    def __init__(
        self,
        archive: Archive,
        peers: Peers,
        *,
        aet: str,
        retries: Sequence[float] = (0.5, 2.0),
        settle: float = 0.5,
        retry_interval: float = 15.0,
        max_attempts: int = 20,
    ) -> None:
        self.archive = archive
        self.peers = peers
        self.aet = aet
        # Quick tries here; after them the saved report is the ReportSender's.
        self.retries = tuple(retries)
        self.retry_interval = retry_interval
        self.max_attempts = max_attempts
        # A camera that releases right after the N-ACTION response would cross
        # our report on the wire; give the release a moment to finish first.
        self.settle = settle
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> tuple[int | Dataset, Dataset | None]:
        try:
            return self._action(event)
        except Exception:
            log.exception("unexpected error answering a storage commitment request")
            return Answer(Status.PROCESSING_FAILURE, "processing failure").dataset(), None

    def _action(self, event: Event) -> tuple[int | Dataset, Dataset | None]:
        peer = self.peers.authorise(event, Service.COMMIT)
        if peer is None:
            return REFUSED.dataset(), None
        req: Any = event.request
        if str(req.RequestedSOPClassUID) != COMMITMENT or int(req.ActionTypeID) != 1:
            return NO_SUCH_ACTION, None
        info = event.action_information
        transaction = str(info.get("TransactionUID", "")).strip()
        items = info.get("ReferencedSOPSequence") or []
        refs = [
            (
                str(item.get("ReferencedSOPClassUID", "")).strip(),
                str(item.get("ReferencedSOPInstanceUID", "")).strip(),
            )
            for item in items
        ]
        if not transaction or not refs:
            return MISSING_ATTRIBUTE, None
        if any(not c or not i for c, i in refs):
            return INVALID_VALUE, None
        thread = threading.Thread(
            target=self._report,
            args=(event.assoc, peer, transaction, refs),
            name=f"commit-{transaction[-12:]}",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return int(Status.SUCCESS), None

    def evaluate(self, transaction: str, refs: list[tuple[str, str]]) -> Report:
        flags = self.archive.committable(refs)
        committed = [r for r, ok in zip(refs, flags, strict=True) if ok]
        failed = [r for r, ok in zip(refs, flags, strict=True) if not ok]
        return Report(transaction, committed, failed)

    def _report(
        self, assoc: object, peer: Peer, transaction: str, refs: list[tuple[str, str]]
    ) -> None:
        try:
            report = self.evaluate(transaction, refs)
            saved = self.archive.commitments.save(
                transaction,
                peer.ae_title,
                committed=report.committed,
                failed=report.failed,
                retry_after=self.retry_interval + sum(self.retries) + self.settle,
            )
            delivered, how, error = self._deliver(assoc, peer, report)
            if how:  # "" when the server stopped first: the saved report waits
                self.archive.commitments.mark(
                    saved.number,
                    delivered=delivered,
                    error=error,
                    how=how,
                    max_attempts=self.max_attempts,
                    backoff=self.retry_interval,
                )
        except Exception:
            log.exception("storage commitment report %s failed", transaction)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _deliver(self, assoc: object, peer: Peer, report: Report) -> tuple[bool, str, str]:
        """(delivered, how, last error); ``how`` is "" if stopped before trying."""
        ds = report.dataset(aet=self.aet)
        if self._stop.wait(self.settle):
            return False, "", ""
        if getattr(assoc, "is_established", False):
            try:
                status = assoc.send_n_event_report(  # type: ignore[attr-defined]
                    ds, report.event_type, COMMITMENT, COMMITMENT_INSTANCE
                )[0]
                if status and int(status.Status) == 0:
                    return True, "same association", ""
            except Exception:
                log.warning("report %s on the open association failed", report.transaction_uid)
        error = ""
        for delay in (0.0, *self.retries):
            if self._stop.wait(delay):
                break
            error = send_report(self.archive, self.aet, peer.ae_title, report)
            if not error:
                return True, "new association", ""
        log.warning(
            "commitment report %s to %s not delivered yet: %s",
            report.transaction_uid,
            peer.ae_title,
            error or "server stopping",
        )
        return False, ("new association" if error else ""), error

    def wait(self, timeout: float = 10.0) -> None:
        """Stop retrying and wait for reports under way (the server is stopping)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def send_report(archive: Archive, aet: str, requester: str, report: Report) -> str:
    """Send ``report`` on a new association to ``requester``'s registered address
    (we take the SCP role of Storage Commitment); "" on success, else why not."""
    node = archive.node(requester)
    if node is None:
        return f"{requester} is no longer a registered node"
    ae = AE(ae_title=aet)
    ae.acse_timeout = 10
    ae.dimse_timeout = 30
    ae.network_timeout = 30
    ae.add_requested_context(COMMITMENT, UNCOMPRESSED)
    role = build_role(COMMITMENT, scp_role=True)
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=[role])
        if not assoc.is_established:
            return f"{node.ae_title} at {node.host}:{node.port} refused or did not answer"
        try:
            status = assoc.send_n_event_report(
                report.dataset(aet=aet), report.event_type, COMMITMENT, COMMITMENT_INSTANCE
            )[0]
            if status and int(status.Status) == 0:
                return ""
            return f"N-EVENT-REPORT status 0x{int(status.Status):04X}" if status else "no answer"
        except Exception as exc:
            log.warning("report %s on a new association failed", report.transaction_uid)
            return f"N-EVENT-REPORT failed: {type(exc).__name__}"
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        ae.shutdown()


class ReportSender(OutboxWorker):
    """Retries the saved commitment reports not yet delivered
    (:mod:`archive.exchange.commitments`)."""

    name = "commitment-reports"

    def __init__(
        self,
        archive: Archive,
        *,
        aet: str,
        interval: float = 15.0,
        max_attempts: int = 20,
        backoff: float | None = None,
    ) -> None:
        super().__init__(archive, interval=interval, max_attempts=max_attempts, backoff=backoff)
        self.aet = aet

    def run_once(self) -> tuple[int, int]:
        """Try every due report once; returns (delivered, failed attempts)."""
        delivered = failed = 0
        for owed in self.archive.commitments.due():
            if self.stopping:
                break
            report = Report(owed.transaction_uid, list(owed.committed), list(owed.failed))
            try:
                error = send_report(self.archive, self.aet, owed.requester, report)
            except Exception as exc:  # never let one report stop the others
                log.exception("commitment report %d failed unexpectedly", owed.number)
                error = f"internal error: {type(exc).__name__}"
            self.archive.commitments.mark(
                owed.number,
                delivered=not error,
                error=error,
                max_attempts=self.max_attempts,
                backoff=self.backoff,
            )
            if error:
                failed += 1
            else:
                delivered += 1
        return delivered, failed
