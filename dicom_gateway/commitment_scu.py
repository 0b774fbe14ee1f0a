"""Storage commitment as the SCU (PS3.4 J.3): request it for what was sent
and wait for the N-EVENT-REPORT.

The SCP may send the report on the association that carried the N-ACTION or
on a new association it opens to our AE title (J.3.3.1.3). The request goes
through a :class:`CommitmentTracker`, told of the transaction before the
N-ACTION and asked for its outcome while we wait:

* :class:`LocalCommitment` (the default) keeps it in memory and can only see
  a report on the same association;
* :class:`dicom_gateway.commitment_index.IndexedCommitment` records it in
  the archive's index, where a report that came on a new association (to
  `photopacs serve`, or to the listener `photopacs send` runs on the
  archive's DICOM port) is written too.

Either way a timeout is reported honestly: nothing is counted as committed
without a report that says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE

POLL_INTERVAL = 0.2  # seconds between looks at the tracker while waiting
SAME_ASSOCIATION = "same association"
NEW_ASSOCIATION = "new association"


@dataclass(frozen=True)
class ParsedReport:
    """The Event Information of a Storage Commitment N-EVENT-REPORT (PS3.4 J.3.3.1.1)."""

    transaction_uid: str
    committed: list[tuple[str, str]]  # (SOP class, SOP instance)
    failed: list[tuple[str, str, int | None]]  # ... and the Failure Reason, if given


def _pair(item: Dataset, what: str) -> tuple[str, str]:
    sop_class = str(item.get("ReferencedSOPClassUID", "") or "").strip()
    sop_instance = str(item.get("ReferencedSOPInstanceUID", "") or "").strip()
    if not sop_class or not sop_instance:
        raise ValueError(f"{what} item without SOP Class/Instance UID")
    return sop_class, sop_instance


def parse_report(info: Dataset | None) -> ParsedReport:
    """Read a report; ``ValueError`` (a short reason) when it cannot be used."""
    if info is None:
        raise ValueError("no Event Information")
    transaction = str(info.get("TransactionUID", "") or "").strip()
    if not transaction:
        raise ValueError("Transaction UID missing")
    committed = [_pair(i, "Referenced SOP Sequence") for i in info.get("ReferencedSOPSequence", [])]
    failed = []
    for item in info.get("FailedSOPSequence", []):
        sop_class, sop_instance = _pair(item, "Failed SOP Sequence")
        reason = item.get("FailureReason")
        failed.append((sop_class, sop_instance, int(reason) if reason is not None else None))
    return ParsedReport(transaction, committed, failed)


@dataclass(frozen=True)
class CommitOutcome:
    """What became of a commitment request."""

    transaction_uid: str
    answered: bool  # a report arrived
    committed: list[str] = field(default_factory=list)  # SOP Instance UIDs
    not_committed: list[tuple[str, int | None]] = field(default_factory=list)  # uid, reason
    status: str = ""  # committed / partly-failed / timed-out / refused
    note: str = ""  # why not answered


class CommitmentTracker(Protocol):
    """Where a commitment request is recorded and its report looked for."""

    def requested(
        self,
        transaction_uid: str,
        *,
        destination: str,
        calling_aet: str,
        refs: Sequence[tuple[str, str]],
    ) -> None:
        """The request is about to be sent (before the N-ACTION)."""

    def reported(self, report: ParsedReport, *, reporter: str) -> None:
        """A report arrived on the association that carried the request."""

    def outcome(self, transaction_uid: str) -> CommitOutcome | None:
        """The outcome once a report has arrived (by any way); None while waiting."""

    def give_up(self, transaction_uid: str, *, status: str, reason: str) -> CommitOutcome:
        """No report: ``timed-out``, or ``refused`` (the N-ACTION failed)."""


class LocalCommitment:
    """A tracker in memory: only a report on the same association can reach it."""

    def __init__(self) -> None:
        self._refs: dict[str, list[tuple[str, str]]] = {}
        self._outcomes: dict[str, CommitOutcome] = {}

    def requested(
        self,
        transaction_uid: str,
        *,
        destination: str,
        calling_aet: str,
        refs: Sequence[tuple[str, str]],
    ) -> None:
        self._refs[transaction_uid] = list(refs)

    def reported(self, report: ParsedReport, *, reporter: str) -> None:
        refs = self._refs.get(report.transaction_uid)
        if refs is None:
            return
        ok = {i for _, i in report.committed}
        reasons = {i: r for _, i, r in report.failed}
        committed = [i for _, i in refs if i in ok and i not in reasons]
        missing = [(i, reasons.get(i)) for _, i in refs if i not in committed]
        self._outcomes[report.transaction_uid] = CommitOutcome(
            report.transaction_uid,
            answered=True,
            committed=committed,
            not_committed=missing,
            status="partly-failed" if missing else "committed",
        )

    def outcome(self, transaction_uid: str) -> CommitOutcome | None:
        return self._outcomes.get(transaction_uid)

    def give_up(self, transaction_uid: str, *, status: str, reason: str) -> CommitOutcome:
        refs = self._refs.get(transaction_uid, [])
        return CommitOutcome(
            transaction_uid,
            answered=False,
            not_committed=[(i, None) for _, i in refs],
            status=status,
            note=reason,
        )


def request_commitment(
    assoc: Any,
    refs: Sequence[tuple[str, str]],
    *,
    calling_aet: str,
    tracker: CommitmentTracker,
    reports: list[Dataset],
    got_report: threading.Event,
    timeout: float,
) -> CommitOutcome:
    """Send N-ACTION Request Storage Commitment (PS3.4 J.3.2) for ``refs`` on
    ``assoc`` and wait up to ``timeout`` seconds for the report: on this
    association (``reports``, filled by our EVT_N_EVENT_REPORT handler, which
    sets ``got_report``) or, through ``tracker``, on a new one."""
    transaction = generate_uid()
    destination = str(assoc.acceptor.ae_title).strip()
    tracker.requested(transaction, destination=destination, calling_aet=calling_aet, refs=refs)
    request = Dataset()
    request.TransactionUID = transaction
    items = []
    for sop_class, sop_instance in refs:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_instance
        items.append(ref)
    request.ReferencedSOPSequence = items
    try:
        status, _ = assoc.send_n_action(request, 1, COMMITMENT, COMMITMENT_INSTANCE)
    except ValueError:  # no accepted Storage Commitment context
        return tracker.give_up(
            transaction, status="refused", reason=f"{destination} did not accept storage commitment"
        )
    code = int(status.Status) if status is not None and "Status" in status else None
    if code != 0x0000:
        why = f"N-ACTION answered 0x{code:04X}" if code is not None else "no N-ACTION response"
        comment = str(status.get("ErrorComment", "")) if status is not None else ""
        return tracker.give_up(
            transaction, status="refused", reason=f"{why} {comment}".strip()[:500]
        )
    deadline = time.monotonic() + timeout
    taken = 0  # reports on this association already handed to the tracker
    while True:
        while taken < len(reports):
            report = reports[taken]
            taken += 1
            try:
                parsed = parse_report(report)
            except ValueError:
                continue
            if parsed.transaction_uid == transaction:
                tracker.reported(parsed, reporter=destination)
        outcome = tracker.outcome(transaction)
        if outcome is not None:
            return outcome
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return tracker.give_up(
                transaction, status="timed-out", reason=f"no report within {timeout:g} s"
            )
        got_report.wait(min(remaining, POLL_INTERVAL))
        got_report.clear()
