"""Storage Commitment Push Model SCP (PS3.4 J.3).

A camera's N-ACTION (Request Storage Commitment, Action Type 1) is answered
at once; the result follows as an N-EVENT-REPORT listing the committed and
the failed SOP instances. An instance is committed only if the archive
holds it durably, as that SOP class, and its bytes still pass fixity
(:meth:`Archive.committable`), because the camera may then delete its copy.
The report goes on the same association if it is still open, otherwise on
a new association to the camera's registered address (PS3.4 J.3.3, with
SCP/SCU Role Selection, PS3.7 D.3.3.4).
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

from archive import Action, Archive, Outcome
from dicom_gateway.associations import Peer, Peers
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED, Service
from dicom_gateway.statuses import REFUSED, Answer, Status

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
        retries: Sequence[float] = (0.5, 2.0, 5.0, 15.0, 60.0),
        settle: float = 0.5,
    ) -> None:
        self.archive = archive
        self.peers = peers
        self.aet = aet
        self.retries = tuple(retries)
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
            delivered = self._deliver(assoc, peer, report)
            self.peers.audit(
                actor=peer.ae_title,
                role=str(peer.role),
                outcome=Outcome.SUCCESS if delivered else Outcome.FAILURE,
                source=peer.address,
                action=Action.ASSOCIATION,
                detail={
                    "service": "storage-commitment",
                    "transaction": transaction,
                    "committed": len(report.committed),
                    "failed": len(report.failed),
                    "delivered": delivered,
                },
            )
        except Exception:
            log.exception("storage commitment report %s failed", transaction)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _deliver(self, assoc: object, peer: Peer, report: Report) -> bool:
        ds = report.dataset(aet=self.aet)
        if self._stop.wait(self.settle):
            return False
        if getattr(assoc, "is_established", False):
            try:
                status = assoc.send_n_event_report(  # type: ignore[attr-defined]
                    ds, report.event_type, COMMITMENT, COMMITMENT_INSTANCE
                )[0]
                if status and int(status.Status) == 0:
                    return True
            except Exception:
                log.warning("report %s on the open association failed", report.transaction_uid)
        for delay in (0.0, *self.retries):
            if self._stop.wait(delay):
                return False
            if self._send_new(peer, report, ds):
                return True
        log.error(
            "could not deliver commitment report %s to %s", report.transaction_uid, peer.ae_title
        )
        return False

    def _send_new(self, peer: Peer, report: Report, ds: Dataset) -> bool:
        node = self.archive.node(peer.ae_title)
        if node is None:
            return False
        ae = AE(ae_title=self.aet)
        ae.add_requested_context(COMMITMENT, UNCOMPRESSED)
        role = build_role(COMMITMENT, scp_role=True)
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=[role])
        if not assoc.is_established:
            return False
        try:
            status = assoc.send_n_event_report(
                ds, report.event_type, COMMITMENT, COMMITMENT_INSTANCE
            )[0]
            return bool(status) and int(status.Status) == 0
        except Exception:
            log.warning("report %s on a new association failed", report.transaction_uid)
            return False
        finally:
            assoc.release()

    def wait(self, timeout: float = 10.0) -> None:
        """Stop retrying and wait for reports under way (the server is stopping)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
