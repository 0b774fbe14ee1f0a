"""Propagation: an instance moved to a peer and then quarantined
earns that peer an IOCM rejection note; a dcmtk storescp peer receives it."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from archive import Actor, Availability, Level
from dicom_gateway.propagation import Propagator
from dicom_gateway.sop import STUDY_ROOT_MOVE
from dicom_gateway.worker import Worker
from tests.dicom_gateway.conftest import AET, EPR, Running, associate, seed
from tests.dicom_gateway.dcmtk import storescp
from tests.factory import make_dataset
from tests.serving import free_port

OPERATOR = Actor.operator("test")
IG = Actor.operator("ig")


def test_quarantine_after_a_move_sends_the_peer_a_rejection_note(
    gateway: Running, tmp_path: Path
) -> None:
    archive = gateway.archive
    port = free_port()
    archive.add_node("DCMPEER", host="127.0.0.1", port=port, role="peer", requester=OPERATOR)
    ds = make_dataset(patient_id="PROP1")
    seed(archive, ds)
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ds.StudyInstanceUID
    with storescp(port, tmp_path / "peer", aet="DCMPEER") as received:
        with associate(gateway.port, EPR, [(STUDY_ROOT_MOVE, [ExplicitVRLittleEndian])]) as a:
            statuses = [
                int(s.Status) for s, _ in a.send_c_move(query, "DCMPEER", STUDY_ROOT_MOVE) if s
            ]
        assert statuses[-1] == 0x0000
        moved = [pydicom.dcmread(p) for p in received.iterdir()]
        assert [m.SOPInstanceUID for m in moved] == [ds.SOPInstanceUID]
        archive.set_availability(
            Level.IMAGE,
            ds.SOPInstanceUID,
            Availability.QUARANTINED,
            reason="photo of another patient",
            requester=IG,
            reason_code="wrong-patient",
        )
        assert Propagator(archive, aet=AET).run_once() == (1, 0)
        notes = [
            d
            for d in (pydicom.dcmread(p) for p in received.iterdir())
            if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59"
        ]
    [note] = notes
    title = note.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("113037", "DCM")
    refs = note.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert refs.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert archive.propagations() == []
    [done] = archive.propagations(status=None)
    assert done.status == "sent" and done.sop_instance_uids == (ds.SOPInstanceUID,)


def test_an_unreachable_peer_is_retried_and_visible(gateway: Running) -> None:
    archive = gateway.archive
    archive.add_node("GONE", host="127.0.0.1", port=free_port(), role="peer", requester=OPERATOR)
    ds = make_dataset(patient_id="PROP2")
    seed(archive, ds)
    archive.record_delivery("GONE", [ds.SOPInstanceUID])
    archive.set_availability(
        Level.IMAGE,
        ds.SOPInstanceUID,
        Availability.QUARANTINED,
        reason="blurred",
        requester=IG,
        reason_code="quality",
    )
    propagator = Propagator(archive, aet=AET, interval=30.0)
    assert isinstance(propagator, Worker)
    assert propagator.run_once() == (0, 1)
    [owed] = archive.propagations()
    assert owed.attempts == 1 and owed.title_code == "113001" and owed.last_error
    assert propagator.run_once() == (0, 0)  # backing off: next try in 30 s
    assert propagator.run_once(now=owed.next_attempt_at) == (0, 1)
