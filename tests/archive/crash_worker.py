"""Run in a child process by test_crash.py: ingest, and die where told to.

usage: python -m tests.archive.crash_worker DATABASE_URL DATA_DIR MODE [COUNT]
MODE: loop (ingest COUNT objects, print "ACK uid" after each), after-stage
(die with a staged temp file), after-move (die after the object is in place,
before the index commits).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from archive import Actor, Archive, ArchiveSettings, Origin
from archive.store import BlobStore, StagedBlob
from tests.factory import encode, make_dataset


def main() -> None:
    url, data_dir, mode = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    settings = ArchiveSettings(data_dir=Path(data_dir), database_url=url, min_free_bytes=0)
    archive = Archive.open(settings)
    origin = Origin(Actor.operator("crash-worker"))
    if mode == "after-stage":
        archive.store.stage(encode(make_dataset()))
        print("STAGED", flush=True)
        os._exit(9)
    if mode == "after-move":
        real_commit = BlobStore.commit

        def commit_then_die(self: BlobStore, staged: StagedBlob) -> str:
            real_commit(self, staged)
            print("MOVED", flush=True)
            os._exit(9)

        BlobStore.commit = commit_then_die  # type: ignore[method-assign]
        archive.ingest(encode(make_dataset()), origin=origin)
        return
    for i in range(count):
        ds = make_dataset(patient_id=f"K{i % 7}", instance_number=i, pixel_bytes=2048)
        archive.ingest(encode(ds), origin=origin)
        print(f"ACK {ds.SOPInstanceUID}", flush=True)


if __name__ == "__main__":
    main()
