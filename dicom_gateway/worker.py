"""A background loop: :meth:`Worker.run_once` every ``interval`` seconds in a
daemon thread until :meth:`Worker.stop`. The senders of the archive's outboxes
(:mod:`archive.exchange`) are workers: ``Forwarder``, ``ReportSender`` and
``Propagator``."""

from __future__ import annotations

import logging
import threading

from archive import Archive

log = logging.getLogger(__name__)


class Worker:
    """Subclasses implement :meth:`run_once`; tests call it directly."""

    name = "worker"

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, int]:
        """One round; returns (done, failed attempts)."""
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("%s round failed", self.name)
            if self._stop.wait(self.interval):
                return

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 35.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


class OutboxWorker(Worker):
    """A worker that sends one of the archive's outboxes: a failed item is retried
    after ``backoff`` seconds (default: the interval), doubling, until ``max_attempts``."""

    def __init__(
        self, archive: Archive, *, interval: float, max_attempts: int, backoff: float | None
    ) -> None:
        super().__init__(interval=interval)
        self.archive = archive
        self.max_attempts = max_attempts
        self.backoff = interval if backoff is None else backoff
