"""Sending the IOCM rejection notes the archive owes to peers
(:mod:`archive.exchange.propagation`).

When instances that were moved, got or forwarded to another node are
quarantined or erased, the archive queues a rejection note per node and
study. Each round this worker sends the notes that are due by C-STORE to the
node's registered address and records each attempt; failures are retried
with backoff and marked failed after ``max_attempts``, and both are visible
with `photopacs propagation --all`.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path

from archive import Archive, PropagationInfo
from dicom_gateway.scu import Destination, Sender, SendError, inspect
from dicom_gateway.worker import OutboxWorker

log = logging.getLogger(__name__)

GONE = "destination is no longer a registered node"


class Propagator(OutboxWorker):
    """Sends owed rejection notes as ``aet``; :meth:`run_once` is one round."""

    name = "propagation"

    def __init__(
        self,
        archive: Archive,
        *,
        aet: str,
        interval: float = 30.0,
        max_attempts: int = 10,
        backoff: float | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(archive, interval=interval, max_attempts=max_attempts, backoff=backoff)
        self.sender = Sender(aet, timeout=timeout)

    def run_once(self, *, now: datetime | None = None) -> tuple[int, int]:
        """Try every note due at ``now`` once; returns (sent, failed attempts)."""
        sent = failed = 0
        for owed in self.archive.propagation.due(now=now):
            if self.stopping:
                break
            note_uid, error = self._send(owed)
            self.archive.propagation.mark(
                owed.number,
                sent=not error,
                error=error,
                note_uid=note_uid,
                # A destination no longer registered will not come back by waiting.
                max_attempts=1 if error == GONE else self.max_attempts,
                backoff=self.backoff,
            )
            if error:
                failed += 1
                log.warning("rejection note to %s not delivered: %s", owed.destination, error)
            else:
                sent += 1
        return sent, failed

    def _send(self, owed: PropagationInfo) -> tuple[str, str]:
        """(the note's SOP Instance UID, "") when sent, else ("", why not)."""
        node = self.archive.node(owed.destination)
        if node is None:
            return "", GONE
        try:
            note = self.archive.propagation.note(owed)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "note.dcm"
                note.save_as(path, enforce_file_format=True)
                result = self.sender.send(
                    [inspect(path)], Destination(node.ae_title, node.host, node.port)
                )
            if result.sent:
                return str(note.SOPInstanceUID), ""
            return "", "; ".join(f"0x{c:04X} {m}" for _, c, m in result.failed) or "not sent"
        except (SendError, OSError) as exc:
            return "", str(exc) or type(exc).__name__
        except Exception as exc:  # never let one note stop the others
            log.exception("propagation %d failed unexpectedly", owed.number)
            return "", f"internal error: {type(exc).__name__}"
