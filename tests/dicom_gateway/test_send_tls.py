"""`photopacs send` (one association, conversion of photos, storage commitment)
and DICOM over TLS with client-certificate verification (PS3.15 B.1)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from sqlalchemy import select

from archive import Actor, Archive
from archive.models import AuditEvent
from dicom_gateway import GatewaySettings
from dicom_gateway.sop import UNCOMPRESSED, VERIFICATION
from dicom_gateway.tls import client_context
from tests.dicom_gateway.certs import Pki, make_pki
from tests.dicom_gateway.conftest import AET, CAMERA, Running, gateway_started, stored
from tests.factory import make_dataset
from tests.serving import free_port, photopacs_bin
from tests.support import REPO, corpus


def _send(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [photopacs_bin(), "send", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_send_files_and_a_photo_with_commitment(gateway: Running, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        ds = make_dataset(patient_id="SEND", instance_number=i + 1)
        files.append(tmp_path / f"{i}.dcm")
        ds.save_as(files[-1], enforce_file_format=True)
    photo = corpus("jpeg", "tiny.jpg")
    settings = gateway.archive.settings
    env = {  # --commit records the request in the archive's index
        "PHOTOPACS_DATA_DIR": str(settings.data_dir),
        "PHOTOPACS_DATABASE_URL": settings.resolved_database_url(),
        "PHOTOPACS_DICOM_PORT": str(free_port()),
    }
    proc = _send(
        *map(str, files), str(photo), "--to", AET, "--aet", CAMERA, "--host", "127.0.0.1",
        "--port", str(gateway.port), "--commit", "--patient-id", "SEND", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sent 4, failed 0" in proc.stdout
    assert "committed 4, not committed 0" in proc.stdout
    for path in files:
        uid = pydicom.dcmread(path).SOPInstanceUID
        assert stored(gateway.archive, uid) is not None
    with gateway.archive.sessions() as s:
        associations = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "association",
                    AuditEvent.actor == CAMERA,
                    AuditEvent.outcome == "success",
                )
            )
        )
    # one association for the files, the commitment report on it
    assert len([a for a in associations if "called" in a.detail]) == 1
    [request] = gateway.archive.commitment_requests.listing(statuses=None)
    assert (request.status, request.via, request.destination) == (
        "committed", "same association", AET,
    )  # fmt: skip
    assert len(request.committed) == 4


def test_send_reports_refusals_with_exit_1(gateway: Running, tmp_path: Path) -> None:
    ds = make_dataset(patient_id="SEND2")
    path = tmp_path / "a.dcm"
    ds.save_as(path, enforce_file_format=True)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    proc = _send(str(path), str(junk), "--to", AET, "--aet", "EPR1", "--host", "127.0.0.1",
                 "--port", str(gateway.port))  # fmt: skip
    assert proc.returncode == 1
    assert "0x0124" in proc.stdout  # an EPR may not store
    assert "refused" in proc.stdout and "junk.dcm" in proc.stdout
    stranger = _send(str(path), "--to", AET, "--aet", "NOBODY", "--host", "127.0.0.1",
                     "--port", str(gateway.port))  # fmt: skip
    assert stranger.returncode == 3
    assert "rejected the association" in stranger.stderr


@pytest.fixture
def tls_gateway(archive: Archive, tmp_path: Path) -> Iterator[tuple[int, int, Pki]]:
    pki = make_pki(tmp_path / "pki")
    archive.add_node(
        CAMERA, host="127.0.0.1", port=free_port(), role="modality", requester=Actor.operator("t")
    )
    settings = GatewaySettings(
        dicom_tls_port=free_port(),
        dicom_tls_cert=pki.server_cert,
        dicom_tls_key=pki.server_key,
        dicom_tls_ca=pki.ca,
        dicom_tls_verify_client=True,
    )
    with gateway_started(archive, settings) as (_, plain):
        assert settings.dicom_tls_port is not None
        yield plain, settings.dicom_tls_port, pki


def _echo(port: int, *, tls: object | None) -> bool:
    ae = AE(ae_title=CAMERA)
    ae.acse_timeout = 5
    ae.network_timeout = 5
    ae.add_requested_context(VERIFICATION, UNCOMPRESSED)
    kwargs = {"tls_args": (tls, "localhost")} if tls is not None else {}
    assoc = ae.associate("127.0.0.1", port, ae_title=AET, **kwargs)
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def test_tls_with_client_certificates(
    archive: Archive, tls_gateway: tuple[int, int, Pki], tmp_path: Path
) -> None:
    plain, port, pki = tls_gateway
    with_cert = client_context(ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    assert _echo(port, tls=with_cert)
    assert not _echo(port, tls=client_context(ca=pki.ca))  # no client certificate
    assert not _echo(port, tls=None)  # plain DICOM on the TLS port
    assert _echo(plain, tls=None)
    other = make_pki(tmp_path / "other")  # a server certificate we do not trust
    assert not _echo(port, tls=client_context(ca=other.ca, cert=pki.client_cert,
                                              key=pki.client_key))  # fmt: skip
    with archive.sessions() as s:
        details = [
            json.loads(e.detail)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "association"))
        ]
    assert [d["tls"] for d in details if "tls" in d] == [True, False]

    ds = make_dataset(patient_id="TLS")
    path = tmp_path / "tls.dcm"
    ds.save_as(path, enforce_file_format=True)
    env = {
        "PHOTOPACS_DICOM_TLS_CA": str(pki.ca),
        "PHOTOPACS_DICOM_TLS_CERT": str(pki.client_cert),
        "PHOTOPACS_DICOM_TLS_KEY": str(pki.client_key),
    }
    proc = _send(str(path), "--to", AET, "--aet", CAMERA, "--host", "127.0.0.1", "--port",
                 str(port), "--tls", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stored(archive, ds.SOPInstanceUID) is not None
