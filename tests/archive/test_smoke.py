from archive import Actor, Archive, Level, Origin, Purpose, Role
from tests.factory import make_instance

OP = Actor(actor="test", role=Role.OPERATOR, purpose=Purpose.CARE)


def test_ingest_then_find(archive: Archive) -> None:
    result = archive.ingest(make_instance(patient_id="P1"), origin=Origin(Actor.operator("test")))
    assert result.status == "stored"
    found = archive.find(Level.PATIENT, {"PatientID": "P1", "PatientName": ""}, requester=OP)
    assert found == [{"PatientID": "P1", "PatientName": "Test^Patient"}]
