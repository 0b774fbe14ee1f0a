"""Patient identity is checked on every way in, and held photos belong to whoever
sent them by identity: an object for a known PatientID whose name, birth date or
sex differ from the index is refused with the reason (archive, upload, C-STORE),
never stored silently; a photographer whose user name equals a camera's AE title
does not see that camera's held photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    Availability,
    InconsistentObject,
    Level,
    Origin,
    Purpose,
    Role,
)
from archive.models import AuditEvent, Instance
from tests.dicom_gateway.conftest import associate, gateway_started
from tests.factory import VL_PHOTO, encode, make_dataset
from tests.serving import free_port
from tests.support import corpus
from tests.web_viewer.helpers import add_user, choose, make_client, sign_in, signed_in

OPERATOR = Actor.operator("t")

CAMERA = Origin(Actor("CAMERA1", Role.MODALITY, None), received_from="CAMERA1")


def _count(archive: Archive) -> int:
    with archive.sessions() as s:
        return int(s.scalar(select(func.count(Instance.pk))) or 0)


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("patient_name", "Other^Person", "name"),
        ("birth_date", "19990101", "birth date"),
        ("sex", "M", "sex"),
    ],
)
def test_a_known_patient_id_with_other_demographics_is_refused(
    archive: Archive, field: str, value: str, what: str
) -> None:
    archive.ingest(encode(make_dataset(patient_id="ID1", patient_name="Doe^Jane")), origin=CAMERA)
    before = _count(archive)
    other = make_dataset(**{"patient_id": "ID1", "patient_name": "Doe^Jane", field: value})
    with pytest.raises(InconsistentObject, match=rf"identity differs from the index \({what}\)"):
        archive.ingest(encode(other), origin=CAMERA)
    assert _count(archive) == before
    # the same person written differently is the same person
    same = make_dataset(patient_id="ID1", patient_name="DOE^jane^^")
    archive.ingest(encode(same), origin=CAMERA)
    assert _count(archive) == before + 1


def test_an_upload_for_a_known_patient_with_another_name_is_refused(
    archive: Archive, tmp_path: Path
) -> None:
    archive.ingest(encode(make_dataset(patient_id="ID2", patient_name="Doe^Jane")), origin=CAMERA)
    client, token = signed_in(archive, tmp_path, "phot", "photographer", "care")
    before = _count(archive)
    r = client.post(
        "/api/uploads",
        headers={"X-CSRF-Token": token},
        data={"patient_id": "ID2", "family_name": "Smith", "given_name": "John", "sex": "F"},
        files={"files": ("tiny.jpg", corpus("jpeg", "tiny.jpg").read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 400, r.text
    assert "identity differs from the index (name" in r.json()["error"]["message"]
    assert _count(archive) == before


def test_a_c_store_for_a_known_patient_with_another_birth_date_is_refused(
    archive: Archive,
) -> None:
    archive.add_node(
        "CAMERA1", host="127.0.0.1", port=free_port(), role="modality", requester=OPERATOR
    )
    archive.ingest(encode(make_dataset(patient_id="ID3", birth_date="19600101")), origin=CAMERA)
    with gateway_started(archive) as (_, port):
        ds = make_dataset(patient_id="ID3", birth_date="19610101")
        with associate(port, "CAMERA1", [(ds.SOPClassUID, ["1.2.840.10008.1.2.1"])]) as assoc:
            status = assoc.send_c_store(ds)
    assert status.Status == 0xC002
    assert "identity differs from the index (birth date)" in status.ErrorComment


def test_held_photos_belong_to_their_sender_by_identity(archive: Archive, tmp_path: Path) -> None:
    photo = make_dataset(patient_id="ID4", sop_class=VL_PHOTO, modality="XC")
    archive.ingest(encode(photo), origin=CAMERA)  # held: no consent yet
    add_user(archive, "CAMERA1", "photographer")  # a person named like the camera
    client = make_client(archive, tmp_path)
    sign_in(client, "CAMERA1")
    choose(client, "care")
    assert client.get(f"/api/images/{photo.SOPInstanceUID}").status_code == 404


def test_by_setting_a_mismatch_is_held_for_governance_with_the_differences_shown(
    settings: ArchiveSettings,
) -> None:
    """PHOTOPACS_IDENTITY_MISMATCH=hold: stored, but held by governance (not by
    consent, so no consent lifts it) with the differing fields named; only a
    governance release returns it to what consent allows."""
    held_settings = settings.model_copy(update={"identity_mismatch": "hold"})
    first = Archive(held_settings)
    first.migrate()
    first.close()
    with Archive.open(held_settings) as archive:
        archive.add_node(
            "CAMERA1", host="127.0.0.1", port=free_port(), role="modality", requester=OPERATOR
        )
        archive.ingest(encode(make_dataset(patient_id="ID5", sex="F")), origin=CAMERA)
        with gateway_started(archive) as (_, port):
            ds = make_dataset(patient_id="ID5", patient_name="Other^Person", sex="M")
            with associate(port, "CAMERA1", [(ds.SOPClassUID, ["1.2.840.10008.1.2.1"])]) as a:
                status = a.send_c_store(ds)
        assert status.Status == 0x0000
        uid = ds.SOPInstanceUID
        with archive.sessions() as s:
            row = s.scalars(select(Instance).where(Instance.sop_instance_uid == uid)).one()
            assert row.availability is Availability.HELD
            assert row.governance_hold == "held"
            assert row.availability_reason_code == "identity-mismatch"
            assert row.availability_reason.startswith("identity differs from the index (name, sex)")
            assert "Other" not in row.availability_reason  # which fields, never the values
            event = s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "ingest", AuditEvent.object_uids.contains(uid)
                )
            ).one()
            assert json.loads(event.detail)["identity_differs"] == ["name", "sex"]
        care = Actor(actor="dr", role=Role.CLINICIAN, purpose=Purpose.CARE)
        assert archive.find(Level.IMAGE, {"SOPInstanceUID": uid}, requester=care) == []
        archive.set_availability(
            Level.IMAGE,
            uid,
            Availability.ACTIVE,
            reason="confirmed: same patient after a change of name",
            requester=Actor("ig", Role.GOVERNANCE, Purpose.GOVERNANCE),
        )
        with archive.sessions() as s:
            row = s.scalars(select(Instance).where(Instance.sop_instance_uid == uid)).one()
            assert row.governance_hold == ""
            assert row.availability_reason_code != "identity-mismatch"
