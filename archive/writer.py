"""The group-commit writer: one thread that indexes concurrent arrivals in one
transaction (docs/adr/0003-group-commit.md). Each arrival is staged and read
by :func:`archive.ingest.ingest` in its caller's thread; the writer runs
:func:`archive.ingest.index_once` for the batch and answers every caller after
the commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from archive.dicomfile import ObjectAttributes
from archive.errors import DuplicateInstance, StorageError
from archive.ingest import IngestResult, Origin, index, index_once, unlink_unreferenced
from archive.store import BlobStore, StagedBlob

log = logging.getLogger(__name__)


@dataclass
class _Arrival:
    staged: StagedBlob
    attrs: ObjectAttributes
    origin: Origin
    done: threading.Event = field(default_factory=threading.Event)
    result: IngestResult | None = None
    error: BaseException | None = None

    def finish(self, result: IngestResult | None, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.set()


class GroupCommit:
    """The archive's one writer of new objects in this process (group commit).

    Callers stage and parse their objects in their own threads, then hand
    them here and wait. The writer indexes whatever has arrived meanwhile in
    one transaction: one lock, one audit-chain append sequence and one
    durable commit for many concurrent C-STOREs, instead of each waiting for
    the others' locks and fsyncs. Every caller still returns only after its
    object is durable and indexed. When anything in a batch fails, the batch
    is rolled back and each object goes through the single-object path
    (:func:`archive.ingest.index`, with its retries and refusals), so one bad object never
    affects another.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        store: BlobStore,
        *,
        max_batch: int = 64,
        hold_mismatch: bool = False,
    ) -> None:
        self.factory = factory
        self.store = store
        self.hold_mismatch = hold_mismatch
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Arrival | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # how many transactions, for tests and benchmarks
        self.largest = 0

    def submit(self, staged: StagedBlob, attrs: ObjectAttributes, origin: Origin) -> IngestResult:
        arrival = _Arrival(staged, attrs, origin)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
                self._thread.start()
            self._queue.put(arrival)
        arrival.done.wait()
        if arrival.error is not None:
            raise arrival.error
        assert arrival.result is not None
        return arrival.result

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("ingest writer failed")
                for arrival in batch:
                    if not arrival.done.is_set():
                        arrival.finish(None, StorageError(f"ingest failed: {exc}"))
            if stop:
                return

    def _single(self, arrival: _Arrival) -> None:
        try:
            result = index(
                self.factory,
                self.store,
                arrival.staged,
                arrival.attrs,
                arrival.origin,
                hold_mismatch=self.hold_mismatch,
            )
        except BaseException as exc:
            arrival.finish(None, exc)
        else:
            arrival.finish(result, None)

    def _write(self, batch: list[_Arrival]) -> None:
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        uids = {a.attrs.sop_instance_uid for a in batch}
        if len(batch) == 1 or len(uids) != len(batch):
            for arrival in batch:
                self._single(arrival)
            return
        moved: list[str] = []
        outcomes: list[IngestResult | DuplicateInstance] = []
        try:
            with self.factory() as session, session.begin():
                for arrival in batch:
                    outcomes.append(
                        index_once(
                            session,
                            self.store,
                            arrival.staged,
                            arrival.attrs,
                            arrival.origin,
                            self.hold_mismatch,
                        )
                    )
                session.flush()
                for arrival, outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, IngestResult) and outcome.status == "stored":
                        moved.append(self.store.commit(arrival.staged))
        except Exception as exc:
            if moved:  # the index did not commit after bytes were placed: nothing stored
                for key in moved:
                    unlink_unreferenced(self.factory, self.store, key)
                for arrival in batch:
                    arrival.finish(
                        None,
                        StorageError(
                            f"index commit failed for {arrival.attrs.sop_instance_uid}; "
                            "nothing was stored"
                        ),
                    )
                log.warning("group commit of %d objects failed: %s", len(batch), exc)
                return
            for arrival in batch:  # undone: each object on its own, with the usual checks
                self._single(arrival)
            return
        for arrival, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, DuplicateInstance):
                arrival.finish(None, outcome)
                continue
            if outcome.status == "stored":
                log.info(
                    "stored %s (%d bytes) from %s",
                    arrival.attrs.sop_instance_uid,
                    arrival.staged.size,
                    arrival.origin.received_from or arrival.origin.actor,
                )
            arrival.finish(outcome, None)
