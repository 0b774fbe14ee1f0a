"""The baseline receiver: a bare pynetdicom storage SCP that only writes the
received bytes to disk (no parsing, no index, no fsync).

    python -m bench.bare_scp PORT OUT_DIR
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pynetdicom import AE, evt

from dicom_gateway.sop import STORAGE, TRANSFER_SYNTAXES, VERIFICATION


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)

    def on_store(event: Any) -> int:
        uid = event.request.AffectedSOPInstanceUID
        with open(out / f"{uid}.dcm", "wb") as fh:
            fh.write(event.encoded_dataset(include_meta=True))
        return 0

    ae = AE(ae_title="BARE")
    ae.maximum_pdu_size = 131072
    ae.maximum_associations = 16
    ae.add_supported_context(VERIFICATION)
    for uid in STORAGE:
        ae.add_supported_context(uid, TRANSFER_SYNTAXES)
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
