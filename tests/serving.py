"""Start a real `photopacs serve` (or the container entrypoint) on free ports
and wait until it answers — no fixed sleeps; always stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO

VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], bool], timeout: float = 8.0) -> None:
    """Poll ``check`` until it holds; fail when the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.05)  # poll interval


def photopacs_bin() -> str:
    candidate = VENV_BIN / "photopacs"
    return str(candidate) if candidate.exists() else "photopacs"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}{path}", timeout=5
            ) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a server as its service manager would: SIGTERM, then SIGKILL if it has
    not ended within ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_http(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log.read_text()}")
        try:
            status, _ = server.get("/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server did not answer within {timeout}s:\n{server.log.read_text()}")


@contextmanager
def running(
    command: Sequence[str], env: dict[str, str], log: Path, *, http_port: int, dicom_port: int
) -> Iterator[Server]:
    full_env = {**os.environ, **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(command), env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    server = Server(proc, http_port, dicom_port, log)
    try:
        wait_http(server)
        yield server
    finally:
        if proc.poll() is None:
            terminate(proc)
