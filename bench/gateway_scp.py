"""photopacs's DICOM gateway alone (no HTTP server), for the store benchmark:
the same Gateway `photopacs serve` runs, over the archive the PHOTOPACS_*
environment names.

    python -m bench.gateway_scp PORT
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from archive import Archive, ArchiveSettings
from dicom_gateway import Gateway, GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    port = int(sys.argv[1])
    with Archive.open(ArchiveSettings()) as archive:
        gateway = Gateway(GatewaySettings(), archive, aet="PHOTOPACS")
        gateway.start("127.0.0.1", port)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        gateway.stop()


if __name__ == "__main__":
    main()
