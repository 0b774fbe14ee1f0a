"""Sending the IOCM rejection notes the archive owes to peers.

When instances that were moved, got or forwarded to another node are
quarantined or erased, the archive queues a rejection note per node and
study (:mod:`archive.exchange.propagation`). This worker sends them by C-STORE to
the node's registered address and records each attempt; failures are
retried on the next round until the archive marks them failed, and both
are visible with `photopacs propagation --all`.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from archive import Archive
from dicom_gateway.scu import Destination, Sender, SendError, inspect

log = logging.getLogger(__name__)


class Propagator:
    """Sends owed rejection notes as ``aet``; :meth:`run_once` is one round."""

    def __init__(self, archive: Archive, *, aet: str, interval: float = 30.0) -> None:
        self.archive = archive
        self.sender = Sender(aet, timeout=30.0)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, int]:
        """Try every pending note once; returns (sent, failed attempts)."""
        sent = failed = 0
        for owed in self.archive.propagation.due():
            node = self.archive.node(owed.destination)
            if node is None:
                self.archive.propagation.mark(
                    owed.number,
                    sent=False,
                    error="destination is no longer a registered node",
                    max_attempts=1,
                )
                failed += 1
                continue
            try:
                note = self.archive.propagation.note(owed)
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "note.dcm"
                    note.save_as(path, enforce_file_format=True)
                    result = self.sender.send(
                        [inspect(path)], Destination(node.ae_title, node.host, node.port)
                    )
                ok = bool(result.sent)
                error = "" if ok else "; ".join(f"0x{c:04X} {m}" for _, c, m in result.failed)
            except (SendError, OSError) as exc:
                ok, error = False, str(exc)
            except Exception as exc:  # never let one note stop the others
                log.exception("propagation %d failed unexpectedly", owed.number)
                ok, error = False, f"internal error: {type(exc).__name__}"
            self.archive.propagation.mark(
                owed.number, sent=ok, error=error, note_uid=str(note.SOPInstanceUID) if ok else ""
            )
            if ok:
                sent += 1
            else:
                failed += 1
                log.warning("rejection note to %s not delivered: %s", owed.destination, error)
        return sent, failed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="propagation", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("propagation round failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)
