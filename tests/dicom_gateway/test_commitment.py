"""Storage Commitment Push Model from a pynetdicom camera (PS3.4 J.3): the
report names committed and failed instances, on the same association or on a
new one to the camera's registered address; damaged bytes are never committed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from archive import Actor, Level, Purpose, Role
from dicom_gateway.sop import COMMITMENT, COMMITMENT_INSTANCE, UNCOMPRESSED, VERIFICATION
from tests.dicom_gateway.conftest import CAMERA, EPR, Running, associate, commitment_request
from tests.factory import make_dataset

OP = Actor(actor="t", role=Role.OPERATOR, purpose=Purpose.CARE)


@dataclass
class _Reports:
    """A camera's N-EVENT-REPORT handler: what it received; ``got`` is set on the first."""

    received: list[Dataset] = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)

    def on_report(self, event: Any) -> tuple[int, None]:
        self.received.append(event.event_information)
        self.got.set()
        return 0x0000, None


def _ids(report: Dataset, keyword: str) -> set[str]:
    return {item.ReferencedSOPInstanceUID for item in report.get(keyword, [])}


def test_report_on_the_same_association(gateway: Running) -> None:
    stored = [make_dataset(patient_id="CAM"), make_dataset(patient_id="CAM")]
    damaged = make_dataset(patient_id="CAM")
    reports = _Reports()

    contexts = [(COMMITMENT, UNCOMPRESSED), (stored[0].SOPClassUID, UNCOMPRESSED)]
    with associate(
        gateway.port, CAMERA, contexts, handlers=[(evt.EVT_N_EVENT_REPORT, reports.on_report)]
    ) as assoc:
        for ds in (*stored, damaged):
            assert assoc.send_c_store(ds).Status == 0x0000
        # Bit rot after storing: fixity fails, so it must not be committed.
        (loc,) = gateway.archive.locate(
            Level.IMAGE, {"SOPInstanceUID": damaged.SOPInstanceUID}, requester=OP, destination="t"
        )
        loc.path.write_bytes(loc.path.read_bytes()[:-1] + b"\x01")
        refs = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in (*stored, damaged)]
        refs.append((stored[0].SOPClassUID, generate_uid()))  # never sent
        request = commitment_request(refs)
        status, _ = assoc.send_n_action(request, 1, COMMITMENT, COMMITMENT_INSTANCE)
        assert status.Status == 0x0000
        assert reports.got.wait(20), "no N-EVENT-REPORT on the open association"
    (report,) = reports.received
    assert report.TransactionUID == request.TransactionUID
    assert _ids(report, "ReferencedSOPSequence") == {ds.SOPInstanceUID for ds in stored}
    failed = _ids(report, "FailedSOPSequence")
    assert damaged.SOPInstanceUID in failed and len(failed) == 2
    assert all(item.FailureReason == 0x0112 for item in report.FailedSOPSequence)


def test_report_on_a_new_association_when_the_camera_hung_up(gateway: Running) -> None:
    node = gateway.archive.node(CAMERA)
    assert node is not None
    reports = _Reports()

    camera = AE(ae_title=CAMERA)
    camera.add_supported_context(COMMITMENT, UNCOMPRESSED, scu_role=False, scp_role=True)
    server = camera.start_server(
        ("127.0.0.1", node.port),
        block=False,
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.on_report)],
    )
    try:
        ds = make_dataset(patient_id="CAM2")
        contexts = [(COMMITMENT, UNCOMPRESSED), (ds.SOPClassUID, UNCOMPRESSED)]
        with associate(gateway.port, CAMERA, contexts) as assoc:
            assert assoc.send_c_store(ds).Status == 0x0000
            status, _ = assoc.send_n_action(
                commitment_request([(ds.SOPClassUID, ds.SOPInstanceUID)]),
                1,
                COMMITMENT,
                COMMITMENT_INSTANCE,
            )
            assert status.Status == 0x0000
            assoc.release()  # gone before the report
        assert reports.got.wait(20), "no N-EVENT-REPORT on a new association"
    finally:
        server.shutdown()
        camera.shutdown()
    assert _ids(reports.received[0], "ReferencedSOPSequence") == {ds.SOPInstanceUID}


def test_commitment_is_not_negotiated_for_an_epr(gateway: Running) -> None:
    contexts = [(COMMITMENT, UNCOMPRESSED), (VERIFICATION, UNCOMPRESSED)]
    with associate(gateway.port, EPR, contexts) as assoc:
        assert assoc.is_established
        assert [str(cx.abstract_syntax) for cx in assoc.accepted_contexts] == [VERIFICATION]
