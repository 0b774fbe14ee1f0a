"""An extra DICOM receiving process of `photopacs serve` (PHOTOPACS_DICOM_WORKERS).

It serves the same Gateway over the same archive on the same port as the
main process (SO_REUSEPORT: the kernel spreads new associations over the
processes), so storing is not limited to one CPU core. It runs no HTTP
server and no background senders; those stay in the main process. It stops
on SIGTERM, and when the main process dies (PR_SET_PDEATHSIG).

    python -m photopacs.dicom_worker --aet AET --host HOST --port PORT
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import signal
import sys
import threading

from archive import Archive, ArchiveSettings
from dicom_gateway import Gateway, GatewaySettings

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the process that started us exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the main process still stops us with SIGTERM


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="photopacs-dicom-worker")
    parser.add_argument("--aet", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Archive.open(ArchiveSettings()) as archive:
        gateway = Gateway(GatewaySettings(), archive, aet=args.aet)
        gateway.start(args.host, args.port, shared=True, tls=False)
        stop.wait()
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
