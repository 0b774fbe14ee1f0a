"""Content-addressed blob store.

Objects live under ``objects/<aa>/<bb>/<sha256>.dcm``: the path derives from
the SHA-256 of the content only, never from names or identifiers (R13).
Copies derived from an object (thumbnails, renders, video remuxes) live under
``derived/<kind>/<aa>/<sha256><suffix>``, named by the object's hash, so that
erasing the object erases them too.
Writes go to ``tmp/`` first, are fsynced, renamed into place, and the
directory is fsynced, so a crash at any point leaves either no object or a
complete one. Temporary files carry the writer's host and process id, so a
starting process removes only the leftovers of writers that are gone.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archive.errors import ObjectTooLarge, StorageError, StorageFull

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StagedBlob:
    """A fully written, fsynced temporary file and what we know of its content."""

    path: Path
    sha256: str
    size: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BlobStore:
    """Durable storage of object bytes under a data folder."""

    def __init__(self, root: Path, *, max_object_bytes: int, min_free_bytes: int) -> None:
        self.root = root
        self.objects = root / "objects"
        self.derived = root / "derived"
        self.tmp = root / "tmp"
        self.max_object_bytes = max_object_bytes
        self.min_free_bytes = min_free_bytes
        self._host = socket.gethostname().replace("-", "_")

    def initialise(self) -> int:
        """Create the folders and remove temporary files of dead writers.

        Returns how many stray temporary files were removed.
        """
        try:
            self.objects.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {self.root}: {exc}") from exc
        removed = 0
        for entry in self.tmp.iterdir():
            parts = entry.name.split("-")
            ours = len(parts) >= 3 and parts[0] == self._host and parts[1].isdigit()
            if ours and _pid_alive(int(parts[1])):
                continue
            entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.warning("removed %d stray temporary file(s) from %s", removed, self.tmp)
        return removed

    def path_for(self, key: str) -> Path:
        return self.objects / key

    def derived_path(self, sha256: str, kind: str, suffix: str) -> Path:
        """Where a copy derived from the object with this hash is kept."""
        return self.derived / kind / sha256[:2] / f"{sha256}{suffix}"

    def derived_copies(self, sha256: str) -> list[Path]:
        """Every derived copy of the object with this hash that exists."""
        if not self.derived.is_dir():
            return []
        return sorted(self.derived.glob(f"*/{sha256[:2]}/{sha256}*"))

    @staticmethod
    def key_for(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.dcm"

    def _check_space(self, incoming: int) -> None:
        try:
            free = shutil.disk_usage(self.tmp).free
        except OSError as exc:
            raise StorageError(f"cannot read free space of {self.tmp}: {exc}") from exc
        if free - incoming < self.min_free_bytes:
            raise StorageFull(
                f"data folder would have {max(free - incoming, 0)} bytes free, "
                f"below the {self.min_free_bytes} byte reserve"
            )

    def _temp_path(self) -> Path:
        return self.tmp / f"{self._host}-{os.getpid()}-{uuid.uuid4().hex}"

    def stage(self, source: BinaryIO | bytes, *, size_hint: int | None = None) -> StagedBlob:
        """Copy the content into a fsynced temporary file, hashing as it goes."""
        if size_hint is not None and size_hint > self.max_object_bytes:
            raise ObjectTooLarge(
                f"object of {size_hint} bytes exceeds the {self.max_object_bytes} byte limit"
            )
        self._check_space(size_hint or 0)
        path = self._temp_path()
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "xb") as out:
                for chunk in _chunks(source):
                    size += len(chunk)
                    if size > self.max_object_bytes:
                        raise ObjectTooLarge(
                            f"object exceeds the {self.max_object_bytes} byte limit"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left in the data folder: {exc.strerror}") from exc
            raise StorageError(f"cannot write to the data folder: {exc.strerror}") from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedBlob(path=path, sha256=digest.hexdigest(), size=size)

    def discard(self, staged: StagedBlob) -> None:
        staged.path.unlink(missing_ok=True)

    def commit(self, staged: StagedBlob) -> str:
        """Move a staged blob to its content address, durably. Returns the key."""
        key = self.key_for(staged.sha256)
        final = self.path_for(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            staged.path.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left in the data folder: {exc.strerror}") from exc
            raise StorageError(f"cannot store object: {exc.strerror}") from exc
        return key

    def delete(self, key: str) -> bool:
        """Remove an object's bytes and every copy derived from them (erasure).
        True if anything was removed."""
        removed = False
        for path in [self.path_for(key), *self.derived_copies(Path(key).stem)]:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(f"cannot erase object: {exc.strerror}") from exc
            _fsync_dir(path.parent)
            removed = True
        return removed

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            fh = open(self.path_for(key), "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise StorageError(f"stored object {key} is missing from the data folder") from exc
        try:
            yield fh
        finally:
            fh.close()

    def hash_of(self, key: str) -> str | None:
        """SHA-256 of a stored object, or None when the file is missing."""
        return self.hash_file(self.path_for(key))

    @staticmethod
    def hash_file(path: Path) -> str | None:
        """SHA-256 of any file, or None when it is missing."""
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()


def _chunks(source: BinaryIO | bytes) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    while chunk := source.read(CHUNK):
        yield chunk
