"""Running dcmtk's command-line tools against the gateway (foreign clients)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pynetdicom import AE

from dicom_gateway.sop import UNCOMPRESSED, VERIFICATION
from tests.support import require_tool

ENV = {**os.environ, "TCP_NODELAY": "1"}  # Debian's dcmtk leaves Nagle on otherwise


def tool(name: str, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = require_tool(name, "dcmtk")
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV,
        check=False,
    )  # fmt: skip


def echo_ok(port: int, *, called: str, calling: str = "PROBE") -> bool:
    ae = AE(ae_title=calling)
    ae.acse_timeout = 2
    ae.add_requested_context(VERIFICATION, UNCOMPRESSED)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


@contextmanager
def storescp(
    port: int, out: Path, *, aet: str, args: Sequence[str] = (), accept_all: bool = True
) -> Iterator[Path]:
    """dcmtk's storescp on ``port`` writing to ``out``; polled until it answers.
    ``accept_all``: every transfer syntax (``+xa``); otherwise dcmtk's default,
    uncompressed only."""
    exe = require_tool("storescp", "dcmtk")
    out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"storescp-{port}.log", "wb") as log:
        proc = subprocess.Popen(
            [exe, "--aetitle", aet, *(["+xa"] if accept_all else []), "-od", str(out), *args,
             str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not echo_ok(port, called=aet):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("storescp did not start")
            time.sleep(0.05)  # poll interval
        yield out
    finally:
        proc.terminate()
        proc.wait(timeout=10)
