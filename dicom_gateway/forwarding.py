"""Auto-forwarding (:mod:`archive.exchange.forwarding`): send queued jobs to their
destination nodes with retry.

Each round asks the archive what is due: the access policy has already
decided there (held instances wait, quarantined and erased ones are dropped)
and each instance handed out is recorded as a delivery. Jobs for one
destination go over one association per round (more only if they need over
``MAX_CONTEXTS`` kinds of object; :class:`dicom_gateway.scu.Sender`, the
stored bytes as they are, decoded only when the destination cannot take the
stored syntax and transcoding is on for it, audited); each outcome is
recorded, failures retried with backoff and marked failed after
``max_attempts`` (`photopacs forward queue`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from archive import EXPLICIT_LE, Action, Archive, AuditEntry, Outcome
from dicom_gateway.scu import MAX_CONTEXTS, Destination, Item, Sender, SendError
from dicom_gateway.worker import OutboxWorker

log = logging.getLogger(__name__)


class Forwarder(OutboxWorker):
    """Sends due forwarding jobs as ``aet``; :meth:`run_once` is one round."""

    name = "forwarding"

    def __init__(
        self,
        archive: Archive,
        *,
        aet: str,
        interval: float = 10.0,
        max_attempts: int = 10,
        backoff: float | None = None,
        timeout: float = 30.0,
        batch: int = 500,
    ) -> None:
        super().__init__(archive, interval=interval, max_attempts=max_attempts, backoff=backoff)
        self.sender = Sender(aet, timeout=timeout)
        self.batch = batch

    def run_once(self, *, now: datetime | None = None) -> tuple[int, int]:
        """Try every job due at ``now`` once; returns (sent, failed attempts)."""
        sent = failed = 0
        for batch in self.archive.forwarding.due(limit=self.batch, now=now):
            node = batch.destination
            items = {
                number: Item(
                    path=loc.path,
                    sop_class_uid=loc.sop_class_uid,
                    sop_instance_uid=loc.sop_instance_uid,
                    transfer_syntax_uid=loc.transfer_syntax_uid,
                )
                for number, loc in batch.items
            }
            done: list[int] = []
            errors: dict[int, str] = {}
            destination = Destination(node.ae_title, node.host, node.port)
            for chunk in _chunks(items):
                self._send(node.ae_title, destination, chunk, done, errors, node.transcode)
            self.archive.forwarding.mark(
                node.ae_title,
                sent=done,
                failed=errors,
                max_attempts=self.max_attempts,
                backoff=self.backoff,
            )
            sent += len(done)
            failed += len(errors)
            if errors:
                log.warning(
                    "forwarding to %s: %d not delivered: %s",
                    node.ae_title,
                    len(errors),
                    next(iter(errors.values())),
                )
        return sent, failed

    def _send(
        self,
        title: str,
        destination: Destination,
        items: dict[int, Item],
        done: list[int],
        errors: dict[int, str],
        transcode: bool,
    ) -> None:
        """One association: record each job as done or with its error."""
        try:
            result = self.sender.send(list(items.values()), destination, transcode=transcode)
            if result.transcoded:
                self._audit_transcoded(title, result.transcoded)
            ok = {i.sop_instance_uid for i in result.sent}
            why = {
                i.sop_instance_uid: (f"0x{code:04X} {msg}" if code >= 0 else msg)
                for i, code, msg in result.failed
            }
            for number, item in items.items():
                if item.sop_instance_uid in ok:
                    done.append(number)
                else:
                    errors[number] = why.get(item.sop_instance_uid, "not sent")
        except (SendError, OSError) as exc:
            errors.update(dict.fromkeys(items, str(exc)))
        except Exception as exc:  # never let one destination stop the others
            log.exception("forwarding to %s failed unexpectedly", title)
            errors.update(dict.fromkeys(items, f"internal error: {type(exc).__name__}"))

    def _audit_transcoded(self, title: str, items: list[Item]) -> None:
        self.archive.record_event(
            AuditEntry(
                actor=self.sender.calling_aet,
                action=Action.RETRIEVE,
                outcome=Outcome.SUCCESS,
                object_uids=tuple(i.sop_instance_uid for i in items),
                detail={
                    "service": "forward",
                    "destination": title,
                    "transcoded": [i.sop_instance_uid for i in items],
                    "transcoded_to": EXPLICIT_LE,
                },
            )
        )


def _chunks(items: dict[int, Item]) -> list[dict[int, Item]]:
    """Split so that no association needs more presentation contexts than it may have."""
    chunks: list[dict[int, Item]] = [{}]
    pairs: set[tuple[str, str]] = set()
    for number, item in items.items():
        pair = (item.sop_class_uid, item.transfer_syntax_uid)
        if pair not in pairs and len(pairs) >= MAX_CONTEXTS:
            chunks.append({})
            pairs = set()
        pairs.add(pair)
        chunks[-1][number] = item
    return [c for c in chunks if c]
