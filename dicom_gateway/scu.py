"""The gateway as an SCU: push Part 10 files to a node over one association
(PS3.4 B.2 C-STORE), optionally requesting storage commitment and waiting for
the report (PS3.4 J.3; :mod:`dicom_gateway.commitment_scu`), over plain TCP or TLS.

Files are sent as they are, without decoding (pynetdicom's
``STORE_SEND_CHUNKED_DATASET``) whenever the receiver accepts their transfer
syntax: each (SOP class, transfer syntax) found is proposed on its own. When
it does not, and transcoding is allowed for the node, a decodable object
(JPEG, JPEG-LS, JPEG 2000, RLE) goes decoded to Explicit VR Little Endian in
a native context proposed beside it (:mod:`dicom_gateway.transfer`); video
cannot, and fails with the reason.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event

from archive import CannotTranscode, decoded
from dicom_gateway.commitment_scu import CommitmentTracker, LocalCommitment, request_commitment
from dicom_gateway.sop import COMMITMENT, UNCOMPRESSED
from dicom_gateway.transfer import How, accepted_syntaxes, plan, proposals

log = logging.getLogger(__name__)

# Kinds of object (SOP class, transfer syntax) one association may carry: each
# needs up to two presentation contexts (as stored, native for decoding), plus
# Verification and Storage Commitment, within 128 (PS3.8 9.3.2.2).
MAX_CONTEXTS = 63


class SendError(Exception):
    """The association could not be made (refused, unreachable, no contexts)."""


@dataclass(frozen=True)
class Item:
    """One file to send, and what its File Meta says it is."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


@dataclass
class SendResult:
    sent: list[Item] = field(default_factory=list)
    failed: list[tuple[Item, int, str]] = field(default_factory=list)
    transcoded: list[Item] = field(default_factory=list)  # sent decoded
    committed: list[str] = field(default_factory=list)
    not_committed: list[str] = field(default_factory=list)
    commit_answered: bool = False
    transaction_uid: str = ""  # of the storage-commitment request
    failure_reasons: dict[str, int | None] = field(default_factory=dict)  # not committed: why
    commit_status: str = ""  # committed / partly-failed / timed-out / refused
    commit_note: str = ""  # why no report


def inspect(path: Path) -> Item:
    """Read a Part 10 file's identity from its File Meta (PS3.10 7.1)."""
    meta = pydicom.filereader.read_file_meta_info(path)
    return Item(
        path=path,
        sop_class_uid=str(meta.MediaStorageSOPClassUID),
        sop_instance_uid=str(meta.MediaStorageSOPInstanceUID),
        transfer_syntax_uid=str(meta.TransferSyntaxUID),
    )


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int
    tls: ssl.SSLContext | None = None


class Sender:
    """Send many files over one association as ``calling_aet``.

    ``commitments`` records a storage-commitment request and finds its report
    (default: in memory, the report on the same association only)."""

    def __init__(
        self,
        calling_aet: str,
        *,
        timeout: float = 60.0,
        commitments: CommitmentTracker | None = None,
    ) -> None:
        self.calling_aet = calling_aet
        self.timeout = timeout
        self.commitments = commitments

    @staticmethod
    def _association_error(assoc: Any, destination: Destination) -> SendError:
        where = f"{destination.ae_title} at {destination.host}:{destination.port}"
        if assoc.is_rejected:
            return SendError(f"{where} rejected the association (check its AE title and ours)")
        if assoc.is_aborted:
            return SendError(f"{where} aborted the association")
        return SendError(f"{where} did not answer")

    def send(
        self,
        items: Sequence[Item],
        destination: Destination,
        *,
        commit: bool = False,
        commit_timeout: float = 60.0,
        progress: Callable[[Item], None] | None = None,
        transcode: bool = True,
    ) -> SendResult:
        _config.STORE_SEND_CHUNKED_DATASET = True
        pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})
        if len(pairs) > MAX_CONTEXTS:
            raise SendError(f"{len(pairs)} kinds of object: more than one association allows")
        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.network_timeout = self.timeout
        ae.requested_contexts = proposals(pairs, transcode=transcode)
        if commit:
            ae.add_requested_context(COMMITMENT, UNCOMPRESSED)
        reports: list[Dataset] = []
        got_report = threading.Event()

        def on_report(event: Event) -> tuple[int, None]:
            reports.append(event.event_information)
            got_report.set()
            return 0x0000, None

        kwargs: dict[str, Any] = {
            "ae_title": destination.ae_title,
            "evt_handlers": [(evt.EVT_N_EVENT_REPORT, on_report)],
        }
        if destination.tls is not None:
            kwargs["tls_args"] = (destination.tls, destination.host)
        assoc = ae.associate(destination.host, destination.port, **kwargs)
        if not assoc.is_established:
            ae.shutdown()
            raise self._association_error(assoc, destination)
        result = SendResult()
        try:
            for item in items:
                self._send_one(assoc, item, result, transcode=transcode)
                if progress is not None:
                    progress(item)
            if commit and result.sent:
                self._commit(assoc, result, reports, got_report, commit_timeout)
        finally:
            if assoc.is_established:
                assoc.release()
            ae.shutdown()
        return result

    @staticmethod
    def _send_one(assoc: Any, item: Item, result: SendResult, *, transcode: bool) -> None:
        how = plan(assoc, item.sop_class_uid, item.transfer_syntax_uid, transcode=transcode)
        if how.how is How.FAIL:
            result.failed.append((item, -1, how.reason))
            return
        try:
            if how.how is How.DECODE:
                status = assoc.send_c_store(decoded(item.path))
            elif item.transfer_syntax_uid in accepted_syntaxes(assoc, item.sop_class_uid):
                status = assoc.send_c_store(item.path)  # the bytes as they are
            else:  # native, in the other native encoding: pynetdicom re-encodes
                status = assoc.send_c_store(pydicom.dcmread(item.path))
        except CannotTranscode as exc:
            result.failed.append((item, -1, str(exc)[:200]))
            return
        except (ValueError, OSError) as exc:  # unreadable file; association gone
            result.failed.append((item, -1, str(exc)[:200]))
            return
        code = int(status.Status) if status and "Status" in status else -1
        if code == 0x0000 or 0xB000 <= code <= 0xBFFF:
            result.sent.append(item)
            if how.how is How.DECODE:
                result.transcoded.append(item)
        else:
            comment = str(status.get("ErrorComment", "")) if status else "no response"
            result.failed.append((item, code, comment))

    def _commit(
        self,
        assoc: Any,
        result: SendResult,
        reports: list[Dataset],
        got_report: threading.Event,
        timeout: float,
    ) -> None:
        """Request storage commitment for what was sent and wait for the report,
        on this association or on a new one (PS3.4 J.3.2, J.3.3.1.3)."""
        outcome = request_commitment(
            assoc,
            [(i.sop_class_uid, i.sop_instance_uid) for i in result.sent],
            calling_aet=self.calling_aet,
            tracker=self.commitments or LocalCommitment(),
            reports=reports,
            got_report=got_report,
            timeout=timeout,
        )
        result.transaction_uid = outcome.transaction_uid
        result.commit_answered = outcome.answered
        result.commit_status = outcome.status
        result.commit_note = outcome.note
        result.committed = list(outcome.committed)
        result.not_committed = [uid for uid, _ in outcome.not_committed]
        result.failure_reasons = dict(outcome.not_committed)
