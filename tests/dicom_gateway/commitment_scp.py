"""A peer PACS for the tests: a pynetdicom storage and Storage Commitment SCP
that answers the N-ACTION at once and sends its N-EVENT-REPORT on a NEW
association to photopacs (PS3.4 J.3.3.1.3), taking the SCP role by role
selection, as Orthanc does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt

from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, STORAGE, TRANSFER_SYNTAXES
from dicom_gateway.sop import UNCOMPRESSED as UNCOMPRESSED_SYNTAXES
from tests.dicom_gateway.conftest import AET


@dataclass
class CommitmentScp:
    """What the SCP saw, and how it reports."""

    aet: str
    report_port: int  # photopacs's DICOM port: the report goes there
    report: bool = True  # False: answer the N-ACTION and never report
    action_status: int = 0x0000  # the N-ACTION's answer (not 0: refused, no report)
    lose: set[str] = field(default_factory=set)  # SOP instances it will not commit
    stored: dict[str, str] = field(default_factory=dict)  # SOP instance -> class
    requests: list[Dataset] = field(default_factory=list)  # N-ACTION Action Information
    answers: list[Dataset] = field(default_factory=list)  # N-EVENT-REPORT response statuses
    reported: threading.Event = field(default_factory=threading.Event)

    def event_information(self, request: Dataset) -> tuple[int, Dataset]:
        """The report for ``request``: committed what it holds, 0x0112 for the rest."""
        ds = Dataset()
        ds.TransactionUID = request.TransactionUID
        ok, failed = [], []
        for item in request.ReferencedSOPSequence:
            ref = Dataset()
            ref.ReferencedSOPClassUID = item.ReferencedSOPClassUID
            ref.ReferencedSOPInstanceUID = item.ReferencedSOPInstanceUID
            uid = str(item.ReferencedSOPInstanceUID)
            if uid in self.stored and uid not in self.lose:
                ok.append(ref)
            else:
                ref.FailureReason = 0x0112
                failed.append(ref)
        if ok:
            ds.ReferencedSOPSequence = ok
        if failed:
            ds.FailedSOPSequence = failed
        return (2 if failed else 1), ds

    def send_report(self, info: Dataset, event_type: int, *, calling: str | None = None) -> Dataset:
        """N-EVENT-REPORT on a new association to photopacs; the response status."""
        ae = AE(ae_title=calling or self.aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        ae.add_requested_context(COMMITMENT, UNCOMPRESSED_SYNTAXES)
        role = build_role(COMMITMENT, scp_role=True)
        assoc = ae.associate("127.0.0.1", self.report_port, ae_title=AET, ext_neg=[role])
        try:
            assert assoc.is_established, "photopacs refused the reporting association"
            status = assoc.send_n_event_report(info, event_type, COMMITMENT, COMMITMENT_INSTANCE)[0]
            return status
        finally:
            if assoc.is_established:
                assoc.release()
            ae.shutdown()

    def _report_later(self, request: Dataset) -> None:
        event_type, info = self.event_information(request)
        try:
            self.answers.append(self.send_report(info, event_type))
        finally:
            self.reported.set()

    def on_store(self, event: Any) -> int:
        self.stored[str(event.request.AffectedSOPInstanceUID)] = str(
            event.request.AffectedSOPClassUID
        )
        return 0x0000

    def on_action(self, event: Any) -> tuple[int, None]:
        request = event.action_information
        self.requests.append(request)
        if self.action_status:
            answer = Dataset()
            answer.Status = self.action_status
            answer.ErrorComment = "out of disk"
            return answer, None
        if self.report:
            threading.Thread(target=self._report_later, args=(request,), daemon=True).start()
        return 0x0000, None


@contextmanager
def commitment_scp(
    port: int,
    aet: str,
    *,
    report_port: int,
    report: bool = True,
    lose: set[str] | None = None,
    action_status: int = 0x0000,
) -> Iterator[CommitmentScp]:
    scp = CommitmentScp(
        aet, report_port, report=report, lose=lose or set(), action_status=action_status
    )
    ae = AE(ae_title=aet)
    for sop_class in STORAGE:
        ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
    ae.add_supported_context(COMMITMENT, UNCOMPRESSED_SYNTAXES)
    ae.start_server(
        ("127.0.0.1", port),
        block=False,
        evt_handlers=[(evt.EVT_C_STORE, scp.on_store), (evt.EVT_N_ACTION, scp.on_action)],
    )
    try:
        yield scp
    finally:
        ae.shutdown()
