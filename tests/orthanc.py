"""Orthanc (Debian package ``orthanc``, 1.10) as a real peer PACS in the tests.

:func:`orthanc` starts ``/usr/sbin/Orthanc`` as a plain child process (never
the system service) with a JSON configuration of its own in a temporary
folder: storage and index there, free ports on 127.0.0.1 for HTTP and DICOM,
AE title ``ORTHANC``, no plugins, no authentication. Orthanc 1.10 has no
setting for the HTTP bind address; ``RemoteAccessAllowed: false`` makes it
refuse every HTTP client that is not on the loopback interface. photopacs is
its one DICOM modality (AE title, host and port given by the caller), with
storage commitment allowed, so Orthanc sends its commitment reports there.

It waits until the REST API answers ``/system`` (polled, no fixed sleeps;
Orthanc's log in the error if it exits or never answers) and always stops
the process afterwards (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.serving import free_port
from tests.support import require_tool

AET = "ORTHANC"
PHOTOPACS_MODALITY = "photopacs"  # Orthanc's name for photopacs in DicomModalities


@dataclass
class Orthanc:
    """A running Orthanc and its REST API."""

    proc: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    photopacs_port: int  # where Orthanc expects photopacs's DICOM listener
    log: Path
    aet: str = AET

    def _request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AssertionError(f"Orthanc {method} {path}: HTTP {exc.code} {detail}") from None

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path))

    def get_bytes(self, path: str) -> bytes:
        return self._request("GET", path)

    def post(self, path: str, body: Any, timeout: float = 60) -> Any:
        return json.loads(self._request("POST", path, body, timeout=timeout) or b"null")

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def clear(self) -> None:
        """Forget every stored patient (tests share one Orthanc per module)."""
        for patient in self.get("/patients"):
            self.delete(f"/patients/{patient}")

    def instances(self) -> dict[str, str]:
        """SOP Instance UID -> Orthanc instance ID of everything it holds."""
        found = {}
        for instance in self.get("/instances?expand"):
            found[instance["MainDicomTags"]["SOPInstanceUID"]] = instance["ID"]
        return found

    def wait_for(
        self, check: Callable[[], bool], what: str, timeout: float = 30.0, poll: float = 0.1
    ) -> None:
        """Poll ``check`` until true; fail with Orthanc's log after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"Orthanc: {what} not reached in {timeout:g} s\n{self.tail()}")
            time.sleep(poll)  # poll interval

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def configuration(
    folder: Path, *, http_port: int, dicom_port: int, photopacs_aet: str, photopacs_port: int
) -> dict[str, Any]:
    return {
        "Name": "photopacs-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "StorageCompression": False,  # /instances/{id}/file is the file as stored
        "Plugins": [],
        "LuaScripts": [],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,  # loopback clients only (1.10 has no bind address)
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": AET,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": False,  # only the modalities below may store
        "DicomModalities": {
            PHOTOPACS_MODALITY: {
                "AET": photopacs_aet,
                "Host": "127.0.0.1",
                "Port": photopacs_port,
                "AllowEcho": True,
                "AllowStore": True,
                "AllowFind": False,
                "AllowMove": False,
                "AllowGet": False,
                "AllowStorageCommitment": True,  # N-ACTION in, N-EVENT-REPORT back out
            }
        },
        "DicomModalitiesInDatabase": False,
        "DicomScuTimeout": 30,
        "DicomAssociationCloseDelay": 0,  # release its associations to photopacs at once
        "DefaultEncoding": "Utf8",
        "SaveJobs": False,
        "ConcurrentJobs": 2,
        "StableAge": 60,
        "HttpRequestTimeout": 60,
    }


def executable() -> str:
    """``Orthanc`` (Debian puts it in /usr/sbin, not always on a user's PATH);
    skipped when missing, or failed under CI=true (:func:`require_tool`)."""
    return (
        shutil.which("Orthanc")
        or shutil.which("Orthanc", path="/usr/sbin")
        or require_tool("Orthanc", "orthanc")
    )


@contextmanager
def orthanc(
    folder: Path, *, photopacs_aet: str, photopacs_port: int, start_timeout: float = 60.0
) -> Iterator[Orthanc]:
    """Orthanc with its own configuration in ``folder``; stopped afterwards."""
    exe = executable()
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = folder / "orthanc.json"
    config.write_text(
        json.dumps(
            configuration(
                folder,
                http_port=http_port,
                dicom_port=dicom_port,
                photopacs_aet=photopacs_aet,
                photopacs_port=photopacs_port,
            ),
            indent=2,
        )
    )
    log = folder / "orthanc.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, str(config)], stdout=out, stderr=subprocess.STDOUT, cwd=folder
        )
    server = Orthanc(proc, http_port, dicom_port, photopacs_port, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {proc.returncode}:\n{server.tail()}")
            try:
                if server.get("/system").get("DicomAet") == AET:
                    break
            except (OSError, AssertionError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Orthanc did not answer in {start_timeout:g} s:\n{server.tail()}"
                )
            time.sleep(0.1)  # poll interval
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
