"""IHE IOCM over DIMSE: a registered governance node's rejection note
quarantines what it references; nobody else may send one."""

from __future__ import annotations

from pydicom.uid import ExplicitVRLittleEndian

from archive import Actor, Availability, Level, Purpose, Role
from archive.iocm import KOS, Reference, build_note
from tests.dicom_gateway.conftest import CAMERA, GOVERNANCE, Running, associate, seed, stored
from tests.factory import make_dataset

EPR_CARE = Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE)


def test_rejection_note_from_governance_quarantines(gateway: Running) -> None:
    first = make_dataset(patient_id="IOCM1")
    second = make_dataset(
        patient_id="IOCM1",
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        instance_number=2,
    )
    seed(gateway.archive, first, second)
    note = build_note(
        "113037",
        [
            Reference(
                first.StudyInstanceUID,
                first.SeriesInstanceUID,
                first.SOPClassUID,
                first.SOPInstanceUID,
            )
        ],
        patient=first,
        study=first,
    )
    with associate(gateway.port, CAMERA, [(KOS, [ExplicitVRLittleEndian])]) as assoc:
        status = assoc.send_c_store(note)
        assert status.Status == 0x0124  # a camera may not reject
    images = {"PatientID": "IOCM1", "SOPClassUID": first.SOPClassUID}
    found = gateway.archive.find(Level.IMAGE, images, requester=EPR_CARE)
    assert len(found) == 2
    with associate(gateway.port, GOVERNANCE, [(KOS, [ExplicitVRLittleEndian])]) as assoc:
        status = assoc.send_c_store(note)
        assert status.Status == 0x0000
    found = gateway.archive.find(Level.IMAGE, images, requester=EPR_CARE)
    assert [m["SOPInstanceUID"] for m in found] == [second.SOPInstanceUID]
    row = stored(gateway.archive, first.SOPInstanceUID)
    assert row is not None
    assert (row.availability, row.availability_reason_code) == (
        Availability.QUARANTINED,
        "patient-safety",
    )
