"""kill -9 of `photopacs serve` in the middle of a 1,000-instance storescu run:
after a restart, every instance that got a Success response is present and
passes fixity, and nothing is half-stored."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from archive import Actor, Archive, ArchiveSettings
from archive.models import Instance
from tests.dicom_gateway.conftest import AET, CAMERA, register, serve
from tests.dicom_gateway.dcmtk import ENV, echo_ok
from tests.factory import make_dataset
from tests.serving import free_port
from tests.support import require_tool

pytestmark = pytest.mark.dcmtk
COUNT = 1000
KILL_AFTER = 150


def test_kill_9_during_storescu_loses_nothing_acknowledged(
    archive: Archive, settings: ArchiveSettings, tmp_path: Path
) -> None:
    exe = require_tool("storescu", "dcmtk")
    register(archive, epr_port=free_port())
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(COUNT):
        ds = make_dataset(patient_id=f"K{i % 100:03d}", instance_number=i + 1, pixel_bytes=64)
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    acked: list[str] = []
    with serve(settings, tmp_path) as server:
        proc = subprocess.Popen(
            [exe, "-v", "-aet", CAMERA, "-aec", AET, "+sd", "127.0.0.1", str(server.dicom_port),
             str(folder)],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        current = ""
        try:
            for line in proc.stdout:
                if "Sending file:" in line:
                    current = Path(line.split("Sending file:")[1].strip()).stem
                elif "Received Store Response (Success)" in line:
                    acked.append(current)
                    if len(acked) == KILL_AFTER:
                        os.kill(server.proc.pid, signal.SIGKILL)
                        break
        finally:
            proc.kill()
            proc.wait(timeout=30)
        server.proc.wait(timeout=30)
    assert len(acked) == KILL_AFTER
    # restart: the server comes back and answers
    with serve(settings, tmp_path) as again:
        assert echo_ok(again.dicom_port, called=AET, calling=CAMERA)
    with Archive.open(settings) as reopened:
        assert list(reopened.store.tmp.iterdir()) == []
        with reopened.sessions() as s:
            present = set(s.scalars(select(Instance.sop_instance_uid)))
        assert set(acked) <= present
        assert len(present) < COUNT  # the kill really interrupted the run
        report = reopened.fixity_check(requester=Actor.operator("t"))
        assert report.ok, (report.mismatched, report.missing)
        assert report.checked == len(present)
