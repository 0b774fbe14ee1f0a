"""A process killed at any point of ingest leaves no half object and loses
nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from archive import Actor, Archive, ArchiveSettings, Level, Purpose, Role
from archive.models import Instance
from tests.support import REPO

OPERATOR = Actor.operator("t")

OP = Actor(actor="t", role=Role.OPERATOR, purpose=Purpose.CARE)


def _worker(settings: ArchiveSettings, mode: str, count: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.archive.crash_worker",
            str(settings.database_url),
            str(settings.data_dir),
            mode,
            str(count),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_mid_ingest_loses_nothing_acknowledged(
    archive: Archive, settings: ArchiveSettings
) -> None:
    proc = _worker(settings, "loop", 100_000)
    acked: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            acked.append(line.split()[1])
            if len(acked) == 60:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with Archive.open(settings) as reopened:
        assert list(reopened.store.tmp.iterdir()) == []
        with reopened.sessions() as s:
            present = set(s.scalars(select(Instance.sop_instance_uid)))
        assert set(acked) <= present
        # Anything indexed (acked or committed just before the kill) is whole.
        report = reopened.fixity_check(requester=OPERATOR)
        assert report.ok and report.checked == len(present)
        assert reopened.verify_audit(requester=OPERATOR).ok


def test_crash_with_a_staged_temp_file(archive: Archive, settings: ArchiveSettings) -> None:
    proc = _worker(settings, "after-stage")
    out, err = proc.communicate(timeout=60)
    assert "STAGED" in out, err
    assert proc.returncode == 9
    assert len(list(archive.store.tmp.iterdir())) == 1
    with Archive.open(settings) as reopened:
        assert list(reopened.store.tmp.iterdir()) == []
        assert reopened.find(Level.IMAGE, {}, requester=OP) == []


def test_crash_between_moving_bytes_and_committing_the_index(
    archive: Archive, settings: ArchiveSettings
) -> None:
    proc = _worker(settings, "after-move")
    out, err = proc.communicate(timeout=60)
    assert "MOVED" in out, err
    with Archive.open(settings) as reopened:
        assert reopened.find(Level.IMAGE, {}, requester=OP) == []
        report = reopened.fixity_check(requester=OPERATOR)
        assert report.ok and report.checked == 0
        assert len(report.unreferenced) == 1
        assert reopened.verify_audit(requester=OPERATOR).ok


def test_temp_files_of_live_writers_survive_start_up(archive: Archive) -> None:
    store = archive.store
    live = store.tmp / f"{store._host}-{os.getpid()}-inflight"
    dead = store.tmp / f"{store._host}-999999999-stale"
    foreign = store.tmp / "garbage"
    for p in (live, dead, foreign):
        p.write_bytes(b"x")
    assert store.initialise() == 2
    assert [p.name for p in Path(store.tmp).iterdir()] == [live.name]
