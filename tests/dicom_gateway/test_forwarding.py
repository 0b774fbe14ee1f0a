"""Auto-forwarding end to end: a camera's C-STORE to the gateway is forwarded by
rule to a real storage SCP (pynetdicom, dcmtk storescp), with retry while the
destination is down, waiting while consent is missing, dropped on quarantine,
and kept across a crash of the server."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import select

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    Availability,
    ConsentRequest,
    Level,
)
from archive.models import AuditEvent, Delivery
from consent_sr import ConsentStatus
from dicom_gateway.forwarding import Forwarder, _chunks
from dicom_gateway.propagation import Propagator
from dicom_gateway.scu import MAX_CONTEXTS, Item
from photopacs.cli import main
from tests.dicom_gateway.conftest import (
    AET,
    CAMERA,
    PEER,
    Running,
    associate,
    seed,
    serve,
    storage_scp,
)
from tests.dicom_gateway.dcmtk import storescp
from tests.factory import VL_PHOTO, make_dataset
from tests.serving import free_port, until
from tests.support import corpus

OPERATOR = Actor.operator("test")
IG = Actor.operator("ig")


def c_store(port: int, *objects: Dataset) -> None:
    contexts = [(ds.SOPClassUID, [ExplicitVRLittleEndian]) for ds in objects]
    with associate(port, CAMERA, contexts) as assoc:
        assert assoc.is_established
        for ds in objects:
            assert assoc.send_c_store(ds).Status == 0x0000


def cli(settings: ArchiveSettings, *args: str) -> tuple[int, str]:
    env = {
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": str(settings.database_url),
    }
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_a_camera_store_is_forwarded_to_the_peer_and_later_quarantine_propagates(
    gateway: Running,
) -> None:
    archive = gateway.archive
    archive.forwarding.add_rule(CAMERA, PEER, requester=OPERATOR)
    ds = make_dataset(patient_id="FWD1")  # endoscopy: implicit care consent, active
    c_store(gateway.port, ds)
    assert gateway.received == []  # nothing leaves until the forwarder's round
    assert Forwarder(archive, aet=AET).run_once() == (1, 0)
    [got] = gateway.received
    assert got.SOPInstanceUID == ds.SOPInstanceUID and got.PixelData == ds.PixelData
    [job] = archive.forwarding.jobs(statuses=None)
    assert (job.status, job.attempts, job.destination) == ("sent", 1, PEER)
    assert Forwarder(archive, aet=AET).run_once() == (0, 0)  # sent once only
    with archive.sessions() as s:
        assert set(s.scalars(select(Delivery.destination))) == {PEER}
        forward_events = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.actor == "forwarder", AuditEvent.outcome == "success"
                )
            )
        )
    assert [json.loads(e.object_uids) for e in forward_events] == [[ds.SOPInstanceUID]]
    assert forward_events[0].patient_id == "FWD1"
    archive.set_availability(
        Level.IMAGE,
        ds.SOPInstanceUID,
        Availability.QUARANTINED,
        reason="another patient",
        requester=IG,
        reason_code="wrong-patient",
    )
    assert Propagator(archive, aet=AET).run_once() == (1, 0)
    assert gateway.received[-1].SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59"


@pytest.mark.dcmtk
def test_forwarded_to_dcmtk_storescp_unchanged(gateway: Running, tmp_path: Path) -> None:
    archive = gateway.archive
    port = free_port()
    archive.add_node("DCMPEER", host="127.0.0.1", port=port, role="peer", requester=OPERATOR)
    code, out = cli(archive.settings, "forward", "add", "--from", "*", "--to", "DCMPEER")
    assert code == 0 and "-> DCMPEER" in out
    objects = [make_dataset(patient_id="FWD2", instance_number=n) for n in (1, 2, 3)]
    c_store(gateway.port, *objects)
    with storescp(port, tmp_path / "peer", aet="DCMPEER") as received:
        assert Forwarder(archive, aet=AET).run_once() == (3, 0)
        files = {pydicom.dcmread(p).SOPInstanceUID: p for p in received.iterdir()}
    assert set(files) == {ds.SOPInstanceUID for ds in objects}
    assert {j.status for j in archive.forwarding.jobs(statuses=None)} == {"sent"}
    for ds in objects:
        assert pydicom.dcmread(files[ds.SOPInstanceUID]).PixelData == ds.PixelData


@pytest.mark.dcmtk
def test_forwarded_decoded_to_a_peer_that_takes_only_uncompressed(
    gateway: Running, tmp_path: Path
) -> None:
    """JPEG photos to a storescp without +xa: decoded (same UID, same pixels), audited;
    the stored objects are untouched."""
    archive = gateway.archive
    port = free_port()
    archive.add_node("PLAINPEER", host="127.0.0.1", port=port, role="peer", requester=OPERATOR)
    assert cli(archive.settings, "forward", "add", "--from", "*", "--to", "PLAINPEER")[0] == 0
    photos = [corpus("dicom", f"vlp_{n}.dcm") for n in ("rose", "tiny")]
    seed(archive, *photos)
    with storescp(port, tmp_path / "plain", aet="PLAINPEER", accept_all=False) as received:
        # the two photos and the consent document that seed recorded for them
        assert Forwarder(archive, aet=AET).run_once() == (3, 0)
        got = {pydicom.dcmread(p).SOPInstanceUID: p for p in received.glob("VLp*")}
    for source in photos:
        original = pydicom.dcmread(source)
        copy = pydicom.dcmread(got[original.SOPInstanceUID])
        assert copy.file_meta.TransferSyntaxUID != original.file_meta.TransferSyntaxUID
        assert (copy.pixel_array == original.pixel_array).all()
    with archive.sessions() as s:
        details = [json.loads(e.detail) for e in s.scalars(select(AuditEvent))]
    [event] = [d for d in details if d.get("service") == "forward" and d.get("transcoded")]
    assert sorted(event["transcoded"]) == sorted(got)


def test_an_unreachable_destination_is_retried_then_delivered(gateway: Running) -> None:
    archive = gateway.archive
    port = free_port()
    archive.add_node("LATE", host="127.0.0.1", port=port, role="peer", requester=OPERATOR)
    archive.forwarding.add_rule(CAMERA, "LATE", requester=OPERATOR)
    ds = make_dataset(patient_id="FWD3")
    c_store(gateway.port, ds)
    patient = Forwarder(archive, aet=AET, backoff=60)
    assert patient.run_once() == (0, 1)
    [job] = archive.forwarding.jobs()
    assert job.attempts == 1 and job.status == "pending" and "LATE" in job.last_error
    assert patient.run_once() == (0, 0)  # backing off: not due yet
    code, out = cli(archive.settings, "forward", "queue", "--json")
    assert code == 0
    [shown] = json.loads(out)
    assert (shown["attempts"], shown["status"]) == (1, "pending") and shown["last_error"]
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert patient.run_once(now=later) == (0, 1)
    [job] = archive.forwarding.jobs()
    assert job.attempts == 2
    assert job.next_attempt_at > datetime.now(UTC) + timedelta(seconds=110)  # doubled
    received: list[Dataset] = []
    server = storage_scp(port, received, aet="LATE")
    try:
        assert patient.run_once(now=later + timedelta(seconds=121)) == (1, 0)
    finally:
        server.shutdown()
    assert [r.SOPInstanceUID for r in received] == [ds.SOPInstanceUID]
    [done] = archive.forwarding.jobs(statuses=None)
    assert (done.status, done.attempts, done.last_error) == ("sent", 3, "")


def test_after_max_attempts_a_job_fails_visibly_and_can_be_retried(gateway: Running) -> None:
    archive = gateway.archive
    archive.add_node("GONE", host="127.0.0.1", port=free_port(), role="epr", requester=OPERATOR)
    archive.forwarding.add_rule(CAMERA, "GONE", requester=OPERATOR)
    c_store(gateway.port, make_dataset(patient_id="FWD4"))
    forwarder = Forwarder(archive, aet=AET, backoff=0, max_attempts=2)
    assert forwarder.run_once() == (0, 1)
    assert forwarder.run_once() == (0, 1)
    assert forwarder.run_once() == (0, 0)  # given up
    code, out = cli(archive.settings, "forward", "queue")
    assert code == 0 and " failed " in out and "2 attempt(s)" in out and "GONE" in out
    code, out = cli(archive.settings, "forward", "retry")
    assert code == 0 and "1 job(s) queued again" in out
    assert [j.status for j in archive.forwarding.jobs()] == ["pending"]


def test_a_held_photo_waits_for_consent_then_goes(gateway: Running) -> None:
    archive = gateway.archive
    archive.forwarding.add_rule(CAMERA, PEER, requester=OPERATOR)
    photo = make_dataset(patient_id="FWD5", sop_class=VL_PHOTO, modality="XC")
    c_store(gateway.port, photo)
    forwarder = Forwarder(archive, aet=AET, backoff=0)
    for _ in range(2):
        assert forwarder.run_once() == (0, 0)
    [job] = archive.forwarding.jobs()
    assert job.status == "pending" and job.attempts == 0
    assert job.last_error.startswith("waiting: held")
    assert gateway.received == []
    archive.record_consent(
        ConsentRequest(
            study_instance_uid=photo.StudyInstanceUID,
            status=ConsentStatus.GIVEN,
            level="record",
            consenter="patient",
            form="written",
            recorded_by="Nurse^Kim",
        ),
        requester=OPERATOR,
    )
    assert forwarder.run_once() == (1, 0)
    assert [r.SOPInstanceUID for r in gateway.received] == [photo.SOPInstanceUID]


def test_a_quarantined_object_is_dropped_with_its_reason(gateway: Running) -> None:
    archive = gateway.archive
    archive.forwarding.add_rule(CAMERA, PEER, requester=OPERATOR)
    ds = make_dataset(patient_id="FWD6")
    c_store(gateway.port, ds)
    archive.set_availability(
        Level.IMAGE,
        ds.SOPInstanceUID,
        Availability.QUARANTINED,
        reason="blurred",
        requester=IG,
        reason_code="quality",
    )
    assert Forwarder(archive, aet=AET).run_once() == (0, 0)
    assert gateway.received == []
    assert archive.forwarding.jobs() == []
    [job] = archive.forwarding.jobs(statuses=None)
    assert job.status == "dropped" and "quarantined: quality" in job.last_error
    assert archive.propagations() == []  # never delivered, so no rejection note owed


def test_a_crash_between_ingest_and_forward_loses_nothing(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    dest_port = free_port()
    archive.add_node(
        CAMERA, host="127.0.0.1", port=free_port(), role="modality", requester=Actor.operator("t")
    )
    archive.add_node(
        PEER, host="127.0.0.1", port=dest_port, role="peer", requester=Actor.operator("t")
    )
    archive.forwarding.add_rule(CAMERA, PEER, requester=OPERATOR)
    ds = make_dataset(patient_id="FWD7")
    # The server's forwarder would only run an hour after its first (empty) round.
    with serve(settings, tmp_path, extra_env={"PHOTOPACS_FORWARD_INTERVAL": "3600"}) as server:
        c_store(server.dicom_port, ds)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    with Archive.open(settings) as restarted:
        [job] = restarted.forwarding.jobs()
        assert (job.sop_instance_uid, job.status) == (ds.SOPInstanceUID, "pending")
        received: list[Dataset] = []
        dest = storage_scp(dest_port, received, aet=PEER)
        try:
            assert Forwarder(restarted, aet=AET).run_once() == (1, 0)
        finally:
            dest.shutdown()
    assert [r.SOPInstanceUID for r in received] == [ds.SOPInstanceUID]


def test_serve_runs_the_forwarder(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    dest_port = free_port()
    archive.add_node(
        CAMERA, host="127.0.0.1", port=free_port(), role="modality", requester=Actor.operator("t")
    )
    archive.add_node(
        PEER, host="127.0.0.1", port=dest_port, role="peer", requester=Actor.operator("t")
    )
    archive.forwarding.add_rule(CAMERA, PEER, requester=OPERATOR)
    ds = make_dataset(patient_id="FWD8")
    received: list[Dataset] = []
    dest = storage_scp(dest_port, received, aet=PEER)
    try:
        with serve(settings, tmp_path, extra_env={"PHOTOPACS_FORWARD_INTERVAL": "0.2"}) as server:
            c_store(server.dicom_port, ds)
            until(lambda: len(received) == 1)
    finally:
        dest.shutdown()
    assert received[0].SOPInstanceUID == ds.SOPInstanceUID


def test_more_kinds_than_one_association_allows_are_split() -> None:
    items = {
        n: Item(
            path=Path(f"{n}.dcm"),
            sop_class_uid=f"1.2.3.{n}",
            sop_instance_uid=f"1.2.4.{n}",
            transfer_syntax_uid=ExplicitVRLittleEndian,
        )
        for n in range(MAX_CONTEXTS + 3)
    }
    chunks = _chunks(items)
    assert [len(c) for c in chunks] == [MAX_CONTEXTS, 3]
    assert {n for c in chunks for n in c} == set(items)
