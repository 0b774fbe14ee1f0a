"""locate (C-MOVE / C-GET / export) and storage-commitment checks."""

from __future__ import annotations

import json

from archive import Actor, Archive, Availability, Level, Origin, Purpose, Role
from tests.archive.helpers import audit_rows, stored_files
from tests.factory import VL_ENDOSCOPIC as VL_PHOTO
from tests.factory import encode, make_dataset

IG = Actor.operator("ig")

EPR = Actor(actor="EPR1", role=Role.EPR, purpose=Purpose.CARE, source="127.0.0.1")
ORIGIN = Origin(Actor.operator("test"))


def _study(archive: Archive) -> tuple[str, list[str]]:
    first = make_dataset(patient_id="R1")
    uids = [first.SOPInstanceUID]
    archive.ingest(encode(first), origin=ORIGIN)
    for n in range(2):
        ds = make_dataset(patient_id="R1", study_uid=first.StudyInstanceUID, instance_number=n + 2)
        archive.ingest(encode(ds), origin=ORIGIN)
        uids.append(ds.SOPInstanceUID)
    return first.StudyInstanceUID, uids


def test_locate_returns_paths_to_the_stored_bytes_and_audits(archive: Archive) -> None:
    study, uids = _study(archive)
    found = archive.locate(
        Level.STUDY, {"StudyInstanceUID": study}, requester=EPR, destination="VIEWER1"
    )
    assert sorted(f.sop_instance_uid for f in found) == sorted(uids)
    assert all(f.path.exists() and f.path.stat().st_size == f.size for f in found)
    event = audit_rows(archive)[-1]
    assert (event.action, event.actor, event.patient_id) == ("retrieve", "EPR1", "R1")
    assert json.loads(event.detail)["destination"] == "VIEWER1"


def test_locate_never_reaches_hidden_instances(archive: Archive) -> None:
    study, uids = _study(archive)
    archive.set_availability(
        Level.IMAGE, uids[0], Availability.QUARANTINED, reason="x", requester=IG
    )
    archive.set_availability(Level.IMAGE, uids[1], Availability.HELD, reason="y", requester=IG)
    for level, ident in [
        (Level.STUDY, {"StudyInstanceUID": study}),
        (Level.PATIENT, {"PatientID": "R1"}),
        (Level.IMAGE, {"SOPInstanceUID": "\\".join(uids)}),
    ]:
        found = archive.locate(level, ident, requester=EPR, destination="X")
        assert [f.sop_instance_uid for f in found] == [uids[2]]
    admin = Actor(actor="a", role=Role.ADMIN, purpose=Purpose.CARE)
    assert (
        archive.locate(Level.STUDY, {"StudyInstanceUID": study}, requester=admin, destination="X")
        == []
    )


def test_commitment_only_for_durable_intact_instances(archive: Archive) -> None:
    _, uids = _study(archive)
    archive.set_availability(Level.IMAGE, uids[1], Availability.ERASED, reason="x", requester=IG)
    files = stored_files(archive)
    victim = next(f for f in files if uids[2] in _uids_in(f))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x01")
    refs = [
        (VL_PHOTO, uids[0]),
        (VL_PHOTO, uids[1]),
        (VL_PHOTO, uids[2]),
        (VL_PHOTO, "1.2.3.4"),
        ("1.2.840.10008.5.1.4.1.1.7", uids[0]),
    ]
    assert archive.committable(refs) == [True, False, False, False, False]


def _uids_in(path: object) -> str:
    from pathlib import Path

    return Path(str(path)).read_bytes().decode("latin-1")
