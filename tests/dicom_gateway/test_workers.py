"""Several receiving processes share the DICOM port (PHOTOPACS_DICOM_WORKERS):
the kernel spreads associations over them, everything sent is stored once,
and SIGTERM stops them all (to scale past one core)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive import Actor, Archive, ArchiveSettings
from archive.models import AuditEvent, Instance
from tests.dicom_gateway.conftest import AET, CAMERA, register, serve
from tests.dicom_gateway.dcmtk import ENV, echo_ok
from tests.factory import make_dataset
from tests.serving import free_port
from tests.support import require_tool

pytestmark = pytest.mark.dcmtk
SENDERS = 8
PER_SENDER = 10


def _processes(archive: Archive) -> set[int]:
    with archive.sessions() as s:
        details = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "association", AuditEvent.outcome == "success"
            )
        ).all()
    return {int(json.loads(d)["process"]) for d in details}


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_two_processes_share_the_port_and_store_everything(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    exe = require_tool("storescu", "dcmtk")
    register(archive, epr_port=free_port())
    folders = []
    for n in range(SENDERS):
        folder = tmp_path / f"in{n}"
        folder.mkdir()
        for i in range(PER_SENDER):
            ds = make_dataset(patient_id=f"W{n:02d}", instance_number=i + 1, pixel_bytes=64)
            ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        folders.append(folder)
    with serve(settings, tmp_path, extra_env={"PHOTOPACS_DICOM_WORKERS": "2"}) as server:
        [worker] = _children(server.proc.pid)
        # Wait (by echoing) until the worker has answered too: both processes listen.
        deadline = time.monotonic() + 60
        while _processes(archive) != {server.proc.pid, worker}:
            assert time.monotonic() < deadline, _processes(archive)
            assert echo_ok(server.dicom_port, called=AET, calling=CAMERA)
        senders = [
            subprocess.Popen(
                [
                    exe,
                    "-aet",
                    CAMERA,
                    "-aec",
                    AET,
                    "+sd",
                    "127.0.0.1",
                    str(server.dicom_port),
                    str(folder),
                ],
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for folder in folders
        ]
        for proc in senders:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
    assert server.proc.returncode == 0  # SIGTERM: a clean stop of the main process
    deadline = time.monotonic() + 30
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{worker}").exists()  # and of the worker
    with archive.sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Instance))
    assert stored == SENDERS * PER_SENDER
    report = archive.fixity_check(requester=Actor.operator("test"))
    assert report.ok and report.checked == SENDERS * PER_SENDER
