"""Storage-commitment results survive a restart: a camera that asked for
commitment and hung up before the report gets it, from a new gateway over the
same index, once its own SCP is listening (PS3.4 J.3.3)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from archive import Actor, Archive, ArchiveSettings
from dicom_gateway import Gateway, GatewaySettings
from dicom_gateway.commitment import ReportSender
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED
from photopacs.cli import main
from tests.dicom_gateway.conftest import AET, CAMERA, associate, commitment_request
from tests.factory import make_dataset
from tests.serving import free_port, until


@pytest.fixture
def camera_port(archive: Archive) -> int:
    port = free_port()
    archive.add_node(
        CAMERA, host="127.0.0.1", port=port, role="modality", requester=Actor.operator("test")
    )
    return port


def _start(archive: Archive) -> Gateway:
    # Quick in-handler tries only; the saved report is the ReportSender's after 0.2 s.
    gateway = Gateway(GatewaySettings(commitment_retry_interval=0.2), archive, aet=AET)
    gateway.bound.commitment.retries = ()
    gateway.start("127.0.0.1", free_port())
    return gateway


def _cli(settings: ArchiveSettings, *args: str) -> list[dict[str, Any]]:
    env = {
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": str(settings.database_url),
    }
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


@pytest.fixture
def camera_scp(camera_port: int) -> Iterator[Callable[[], list[Dataset]]]:
    """Start (on demand) the camera's own SCP for N-EVENT-REPORT; stopped afterwards."""
    reports: list[Dataset] = []
    servers: list[Any] = []
    camera = AE(ae_title=CAMERA)
    camera.add_supported_context(COMMITMENT, UNCOMPRESSED, scu_role=False, scp_role=True)
    lock = threading.Lock()

    def on_report(event: Any) -> tuple[int, None]:
        with lock:
            reports.append(event.event_information)
        return 0x0000, None

    def start() -> list[Dataset]:
        servers.append(
            camera.start_server(
                ("127.0.0.1", camera_port),
                block=False,
                evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)],
            )
        )
        return reports

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
        camera.shutdown()


def test_a_report_owed_to_an_absent_camera_survives_a_restart(
    archive: Archive, settings: ArchiveSettings, camera_scp: Callable[[], list[Dataset]]
) -> None:
    stored = [make_dataset(patient_id="DUR1"), make_dataset(patient_id="DUR1")]
    never_sent = (stored[0].SOPClassUID, generate_uid())
    gateway = _start(archive)
    try:
        contexts = [(COMMITMENT, UNCOMPRESSED), (stored[0].SOPClassUID, UNCOMPRESSED)]
        with associate(gateway.ports[0], CAMERA, contexts) as assoc:
            for ds in stored:
                assert assoc.send_c_store(ds).Status == 0x0000
            request = commitment_request(
                [*((ds.SOPClassUID, ds.SOPInstanceUID) for ds in stored), never_sent]
            )
            status, _ = assoc.send_n_action(request, 1, COMMITMENT, COMMITMENT_INSTANCE)
            assert status.Status == 0x0000
            assoc.release()  # gone before the report; the camera is not listening either
        until(lambda: any(r.attempts >= 1 for r in archive.commitments.listing()))
    finally:
        gateway.stop(grace=2)
        archive.close()

    # Restart: new archive and gateway objects over the same index and data.
    with Archive.open(settings) as restarted:
        [owed] = _cli(settings, "commitment", "list", "--json")
        assert owed["status"] == "pending" and owed["attempts"] == 1 and owed["last_error"]
        assert owed["transaction_uid"] == request.TransactionUID
        gateway = _start(restarted)
        try:
            reports = camera_scp()
            sender = ReportSender(restarted, aet=AET, interval=0.2, backoff=0)
            until(lambda: sender.run_once() == (1, 0))
        finally:
            gateway.stop(grace=2)
        [report] = reports
        assert report.TransactionUID == request.TransactionUID
        assert {i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence} == {
            ds.SOPInstanceUID for ds in stored
        }
        assert [i.ReferencedSOPInstanceUID for i in report.FailedSOPSequence] == [never_sent[1]]
        assert report.FailedSOPSequence[0].FailureReason == 0x0112
        assert restarted.commitments.listing() == []
        [done] = _cli(settings, "commitment", "list", "--all", "--json")
        assert done["status"] == "delivered" and done["attempts"] == 2
        assert sender.run_once() == (0, 0)  # delivered once only


def test_a_report_is_given_up_after_max_attempts(archive: Archive, camera_port: int) -> None:
    saved = archive.commitments.save(
        generate_uid(), CAMERA, committed=[("1.2.3", "1.2.3.4")], failed=[], retry_after=0
    )
    sender = ReportSender(archive, aet=AET, max_attempts=2, backoff=0)
    assert sender.run_once() == (0, 1)
    assert sender.run_once() == (0, 1)
    assert sender.run_once() == (0, 0)
    [row] = archive.commitments.listing()
    assert (row.number, row.status, row.attempts) == (saved.number, "failed", 2)
    assert "refused or did not answer" in row.last_error
