"""The hidden-objects property over the network: random archives and random
availability/consent changes; no held, quarantined or erased instance ever
appears in a C-FIND response (any level, counts included) or a C-GET
sub-operation, and the review AE title shows exactly the held and
quarantined ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from sqlalchemy import select

from archive import Actor, Archive, Availability, Level, node_subject
from archive.models import Instance
from dicom_gateway.sop import PATIENT_ROOT_FIND, PATIENT_ROOT_GET, UNCOMPRESSED
from tests.archive.test_property_hidden import _act, _build, action_st, fresh_archive, instance_st
from tests.conftest import BACKENDS, property_settings
from tests.dicom_gateway.conftest import AET, EPR, GOVERNANCE, _query, associate, gateway_started
from tests.factory import VL_ENDOSCOPIC, VL_PHOTO
from tests.serving import free_port

OPERATOR = Actor.operator("test")

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
EXAMPLES = {"sqlite": 12, "postgresql": 4}
LEVELS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
COUNTS = {
    "PATIENT": "NumberOfPatientRelatedInstances",
    "STUDY": "NumberOfStudyRelatedInstances",
    "SERIES": "NumberOfSeriesRelatedInstances",
}


@contextmanager
def gateway_on(archive: Archive) -> Iterator[int]:
    for title, role in ((EPR, "epr"), (GOVERNANCE, "governance")):
        archive.add_node(title, host="127.0.0.1", port=free_port(), role=role, requester=OPERATOR)
    archive.open_review(
        node_subject(GOVERNANCE),
        reason="IG-1: property test of the review path",
        requester=OPERATOR,
    )
    with gateway_started(archive) as (_, port):
        yield port


def _find(port: int, calling: str, level: str, called: str = AET) -> list[Dataset]:
    query = _query(
        level,
        PatientID="P*",
        **{k: "" for k in list(LEVELS.values())[1:] if list(LEVELS).index(level) >= 0},
    )
    if level in COUNTS:
        setattr(query, COUNTS[level], "")
    with associate(port, calling, [(PATIENT_ROOT_FIND, UNCOMPRESSED)], called=called) as assoc:
        return [
            i
            for s, i in assoc.send_c_find(query, PATIENT_ROOT_FIND)
            if s and s.Status in (0xFF00, 0xFF01)
        ]


def _get_all(port: int) -> set[str]:
    received: set[str] = set()

    def on_store(event: evt.Event) -> int:
        received.add(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    ae = AE(ae_title=EPR)
    ae.add_requested_context(PATIENT_ROOT_GET)
    # Photos, endoscopy, and the consent documents that travel with the record.
    classes = (VL_PHOTO, VL_ENDOSCOPIC, COMPREHENSIVE_SR)
    for sop_class in classes:
        ae.add_requested_context(sop_class, UNCOMPRESSED)
    roles = [build_role(c, scp_role=True) for c in classes]
    assoc = ae.associate(
        "127.0.0.1", port, ae_title=AET, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        assert assoc.is_established
        query = _query("PATIENT", PatientID="P*")
        statuses = [int(s.Status) for s, _ in assoc.send_c_get(query, PATIENT_ROOT_GET) if s]
        assert statuses and statuses[-1] in (0x0000, 0xB000)
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()
    return received


@pytest.mark.dcmtk
@pytest.mark.parametrize("backend", BACKENDS)
def test_hidden_instances_never_leave_over_dimse(backend: str) -> None:
    @property_settings(backend, EXAMPLES)
    @given(st.lists(instance_st, min_size=1, max_size=8), st.lists(action_st, max_size=5))
    def run(specs: list[dict[str, object]], actions: list[tuple[str, Level, int]]) -> None:
        with fresh_archive(backend) as archive:
            _build(archive, specs)
            for action in actions:
                _act(archive, action)
            with archive.sessions() as s:
                rows = s.execute(
                    select(Instance.sop_instance_uid, Instance.availability, Instance.use_care)
                ).all()
            visible = {u for u, a, care in rows if a is Availability.ACTIVE and care}
            reviewable = {
                u for u, a, _ in rows if a in (Availability.HELD, Availability.QUARANTINED)
            }
            with gateway_on(archive) as port:
                images = {str(d.SOPInstanceUID) for d in _find(port, EPR, "IMAGE")}
                assert images == visible
                for level, key in COUNTS.items():
                    matches = _find(port, EPR, level)
                    assert sum(int(getattr(m, key)) for m in matches) == len(visible)
                assert sum(
                    int(m.NumberOfPatientRelatedInstances) for m in _find(port, EPR, "PATIENT")
                ) == len(visible)
                assert _get_all(port) == visible
                review = {
                    str(d.SOPInstanceUID)
                    for d in _find(port, GOVERNANCE, "IMAGE", called="PHOTOPACS_REVIEW")
                }
                assert review == reviewable

    run()
