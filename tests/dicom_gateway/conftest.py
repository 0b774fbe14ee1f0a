"""Gateway fixtures: an in-process gateway on a free port over the ``archive``
fixture (SQLite and PostgreSQL), registered nodes, and pynetdicom SCUs.

``seed`` is the one place that puts objects into the archive *and makes them
visible* (it records consent for photos that arrive held).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.association import Association
from sqlalchemy import select

from archive import (
    Actor,
    Archive,
    ArchiveSettings,
    Availability,
    ConsentRequest,
    IngestResult,
    Level,
    Origin,
)
from archive.models import Instance
from consent_sr import ConsentStatus
from dicom_gateway import Gateway, GatewaySettings
from tests.factory import encode, make_dataset
from tests.serving import Server, free_port, photopacs_bin, running

OPERATOR = Actor.operator("test")

AET = "PHOTOPACS"
CAMERA = "CAMERA1"
EPR = "EPR1"
PEER = "PEER1"
GOVERNANCE = "GOV1"


def seed(archive: Archive, *objects: Dataset | bytes | Path) -> list[IngestResult]:
    """Store objects and make them visible to care queries (the only place that does):
    photos that arrive held for want of consent get a recorded level-1 consent."""
    origin = Origin(Actor.operator("test-seed"), received_from="test")
    results = [
        archive.ingest(encode(obj) if isinstance(obj, Dataset) else obj, origin=origin)
        for obj in objects
    ]
    waiting = sorted({r.study_instance_uid for r in results if r.availability is Availability.HELD})
    for study in waiting:
        archive.record_consent(
            ConsentRequest(
                study_instance_uid=study,
                status=ConsentStatus.GIVEN,
                level="record",
                consenter="patient",
                form="written",
                recorded_by="Seed^Nurse",
            ),
            requester=OPERATOR,
        )
    return results


def stored(archive: Archive, uid: str) -> Instance | None:
    """The index row of an instance, whatever its availability."""
    with archive.sessions() as s:
        return s.scalar(select(Instance).where(Instance.sop_instance_uid == uid))


@dataclass
class Running:
    archive: Archive
    gateway: Gateway
    port: int
    dest_port: int
    received: list[Dataset] = field(default_factory=list)


@contextmanager
def gateway_started(
    archive: Archive, settings: GatewaySettings | None = None
) -> Iterator[tuple[Gateway, int]]:
    """A gateway (AE title AET) over ``archive`` listening on a free local port,
    and that port; stopped on leaving."""
    gw = Gateway(settings or GatewaySettings(), archive, aet=AET)
    port = free_port()
    gw.start("127.0.0.1", port)
    try:
        yield gw, port
    finally:
        gw.stop(grace=2)


@pytest.fixture
def gateway(archive: Archive) -> Iterator[Running]:
    """The gateway on a free port; CAMERA1 (modality), EPR1 (epr), PEER1 (peer,
    with a listening pynetdicom storage SCP), GOV1 (governance) registered."""
    dest_port = free_port()
    for title, role, port in (
        (CAMERA, "modality", free_port()),
        (EPR, "epr", dest_port),
        (PEER, "peer", dest_port),
        (GOVERNANCE, "governance", free_port()),
    ):
        archive.add_node(title, host="127.0.0.1", port=port, role=role, requester=OPERATOR)
    with gateway_started(archive) as (gw, port):
        running = Running(archive, gw, port, dest_port)
        dest = storage_scp(dest_port, running.received)
        try:
            yield running
        finally:
            dest.shutdown()


def storage_scp(port: int, received: list[Dataset], *, aet: str = "DEST") -> Any:
    """A pynetdicom storage SCP that keeps what it receives (a move destination)."""
    from dicom_gateway.sop import STORAGE, TRANSFER_SYNTAXES

    ae = AE(ae_title=aet)
    for sop_class in STORAGE:
        ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)

    def on_store(event: Any) -> int:
        received.append(event.dataset)  # read from the streamed file, meta included
        return 0

    return ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )


def commitment_request(refs: list[tuple[str, str]]) -> Dataset:
    """An N-ACTION storage-commitment request for (SOP Class UID, SOP Instance UID)
    pairs, under a new Transaction UID."""
    ds = Dataset()
    ds.TransactionUID = generate_uid()
    items = []
    for sop_class, uid in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


@contextmanager
def associate(
    port: int,
    calling: str,
    contexts: Sequence[tuple[str, Sequence[str]]],
    *,
    called: str = AET,
    ext_neg: Sequence[Any] = (),
    handlers: Sequence[Any] = (),
) -> Iterator[Association]:
    """A pynetdicom SCU association (released afterwards)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = 10
    ae.dimse_timeout = 30
    ae.network_timeout = 30
    for uid, syntaxes in contexts:
        ae.add_requested_context(uid, list(syntaxes))
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title=called,
        ext_neg=list(ext_neg) or None,
        evt_handlers=list(handlers) or None,
    )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


@contextmanager
def serve(
    settings: ArchiveSettings, tmp_path: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A real `photopacs serve` process over ``settings``' archive (already migrated)."""
    http_port, dicom_port = free_port(), free_port()
    env = {
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": str(settings.database_url),
        "PHOTOPACS_MIN_FREE_BYTES": str(settings.min_free_bytes),
        **(extra_env or {}),
    }
    command = [
        photopacs_bin(), "serve", "--dicom-port", str(dicom_port), "--http-port", str(http_port),
    ]  # fmt: skip
    log = tmp_path / f"serve-{dicom_port}.log"
    with running(command, env, log, http_port=http_port, dicom_port=dicom_port) as server:
        yield server


def register(archive: Archive, *, epr_port: int, camera_port: int | None = None) -> None:
    """The usual nodes: a camera, an EPR (also a move destination) and a peer."""
    archive.add_node(CAMERA, host="127.0.0.1", port=camera_port or free_port(),
                     role="modality", requester=OPERATOR)  # fmt: skip
    archive.add_node(EPR, host="127.0.0.1", port=epr_port, role="epr", requester=OPERATOR)
    archive.add_node(PEER, host="127.0.0.1", port=epr_port, role="peer", requester=OPERATOR)


@dataclass
class World:
    study1: str
    study2: str
    series1: str
    active1: list[str]
    held: str
    hidden_patient: str


@pytest.fixture
def world(gateway: Running) -> World:
    """Patient QR1 (two studies; one instance held), QR2, QR3 (non-ASCII names),
    QR4 wholly quarantined."""
    a = make_dataset(patient_id="QR1", patient_name="Müller^Jürgen", study_date="20250105")
    series1, study1 = a.SeriesInstanceUID, a.StudyInstanceUID
    a2 = make_dataset(
        patient_id="QR1", patient_name="Müller^Jürgen", study_uid=study1, series_uid=series1,
        study_date="20250105", instance_number=2,
    )  # fmt: skip
    held = make_dataset(
        patient_id="QR1", patient_name="Müller^Jürgen", study_uid=study1, series_uid=series1,
        study_date="20250105", instance_number=3,
    )  # fmt: skip
    b = make_dataset(patient_id="QR1", patient_name="Müller^Jürgen", study_date="20250620")
    c = make_dataset(patient_id="QR2", patient_name="Doe^Jane", study_date="20240101")
    d = make_dataset(
        patient_id="QR3", patient_name="山田^太郎=やまだ^たろう", study_date="20240202"
    )
    e = make_dataset(patient_id="QR4", patient_name="Hidden^Person", study_date="20250105")
    seed(gateway.archive, a, a2, held, b, c, d, e)
    gateway.archive.set_availability(
        Level.IMAGE,
        held.SOPInstanceUID,
        Availability.HELD,
        reason="test",
        requester=Actor.operator("t"),
    )
    gateway.archive.set_availability(
        Level.PATIENT, "QR4", Availability.QUARANTINED, reason="test", requester=Actor.operator("t")
    )
    return World(
        study1=study1,
        study2=b.StudyInstanceUID,
        series1=series1,
        active1=[a.SOPInstanceUID, a2.SOPInstanceUID],
        held=held.SOPInstanceUID,
        hidden_patient="QR4",
    )


def _query(level: str, charset: str | None = None, **keys: Any) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds
