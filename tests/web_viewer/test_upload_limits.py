"""Uploads against a real `photopacs serve`: a decompression bomb is refused from
its header and never decoded, conversion never stalls the event loop (/healthz
keeps answering), and a body over the upload limit is refused with 413 while it
streams in, without the server holding it in memory. Nothing is stored in
either case."""

from __future__ import annotations

import inspect
import io
import json
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from archive import Archive
from archive.models import Instance
from tests.serving import Server, free_port, photopacs_bin, running
from tests.web_viewer.helpers import PASSWORD, add_user, choose, make_client, sign_in
from web_viewer.routes import images, uploads

MiB = 1024 * 1024
UPLOAD_LIMIT = 64 * MiB


@dataclass
class Served:
    server: Server
    base: str
    token: str
    data: Path

    def stored(self) -> int:
        """Object files in the data folder (anything stored, indexed or not)."""
        objects = self.data / "objects"
        return sum(1 for p in objects.rglob("*") if p.is_file()) if objects.is_dir() else 0

    def rss(self) -> tuple[int, int]:
        """The server's resident memory now and at its peak, in bytes."""
        fields = {}
        for line in Path(f"/proc/{self.server.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

    def reset_peak(self) -> None:
        """Start the peak (VmHWM) afresh from the resident memory now (Linux)."""
        Path(f"/proc/{self.server.proc.pid}/clear_refs").write_text("5")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    tmp = tmp_path
    http, dicom = free_port(), free_port()
    env = {
        "PHOTOPACS_DATA_DIR": str(tmp / "data"),
        "PHOTOPACS_DATABASE_URL": f"sqlite:///{tmp / 'index.sqlite3'}",
        "PHOTOPACS_HTTP_PORT": str(http),
        "PHOTOPACS_DICOM_PORT": str(dicom),
        "PHOTOPACS_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "PHOTOPACS_MIN_FREE_BYTES": "0",
    }
    full = {**os.environ, **env}
    exe = photopacs_bin()
    subprocess.run([exe, "db", "upgrade"], env=full, check=True, capture_output=True)
    subprocess.run(
        [exe, "user", "add", "phot", "--role", "photographer", "--password-stdin"],
        env=full,
        input=f"{PASSWORD}\n".encode(),
        check=True,
        capture_output=True,
    )
    with running([exe, "serve"], env, tmp / "serve.log", http_port=http, dicom_port=dicom) as s:
        base = f"http://127.0.0.1:{http}"
        r = httpx.post(f"{base}/api/session", json={"username": "phot", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        r = httpx.put(
            f"{base}/api/session/purpose",
            json={"purpose": "care"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        yield Served(s, base, token, tmp / "data")


def _png(width: int, height: int, mode: str) -> bytes:
    """A picture that compresses to little: a few shapes on a plain ground."""
    im = Image.new(mode, (width, height), "white" if mode != "1" else 1)
    draw = ImageDraw.Draw(im)
    for i in range(8):
        box = (i * width // 10, i * height // 12, (i + 2) * width // 10, (i + 3) * height // 12)
        draw.ellipse(box, fill=0 if mode == "1" else (40 * i, 90, 200 - 20 * i))
    out = io.BytesIO()
    im.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _upload(served: Served, name: str, data: bytes, patient: str) -> httpx.Response:
    return httpx.post(
        f"{served.base}/api/uploads",
        headers={"Authorization": f"Bearer {served.token}"},
        data={"patient_id": patient, "family_name": "Bomb", "given_name": "Bea"},
        files={"files": (name, data, "image/png")},
        timeout=120,
    )


def _healthz_while(served: Served, work: threading.Thread) -> list[float]:
    """Ask /healthz over and over while ``work`` runs; the answer times in seconds."""
    times = []
    with httpx.Client(timeout=60) as client:
        while work.is_alive():
            start = time.monotonic()
            r = client.get(f"{served.base}/healthz")
            times.append(time.monotonic() - start)
            assert r.status_code == 200
            time.sleep(0.05)
    return times


def test_a_pixel_bomb_is_refused_from_its_header_and_healthz_keeps_answering(
    served: Served,
) -> None:
    bomb = _png(11000, 12000, "1")  # 132 megapixels, a few hundred bytes to a few kB
    assert len(bomb) < 1024 * 1024
    before = served.stored()
    rss_before, _ = served.rss()
    answer: list[httpx.Response] = []
    work = threading.Thread(target=lambda: answer.append(_upload(served, "bomb.png", bomb, "B1")))
    work.start()
    times = _healthz_while(served, work)
    work.join()
    r = answer[0]
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "image_too_large"
    assert "11000x12000" in error["message"] and "100000000" in error["message"]
    assert max(times, default=0) < 1.0, times
    assert served.stored() == before
    rss_after, _ = served.rss()
    assert rss_after - rss_before < 100 * MiB  # never decoded (it would take 130 MB or more)

    # An ordinary 24-megapixel photo is converted off the event loop: /healthz
    # answers while it is decoded, converted and stored.
    photo = _png(6000, 4000, "RGB")
    answer.clear()
    work = threading.Thread(target=lambda: answer.append(_upload(served, "big.png", photo, "B2")))
    start = time.monotonic()
    work.start()
    times = _healthz_while(served, work)
    work.join()
    took = time.monotonic() - start
    assert answer[0].status_code == 200, answer[0].text
    assert len(times) >= 2, (took, times)
    assert max(times) < 1.0, (took, times)
    assert served.stored() == before + 1


def _chunked_upload(served: Served, total: int) -> tuple[int, bytes]:
    """Send a multipart upload of ``total`` bytes with chunked transfer coding
    (no Content-Length), stopping as soon as the server answers; returns the
    number of body bytes sent and the response."""
    boundary = "bOuNdArY7c3f"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="patient_id"\r\n\r\nC1\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="huge.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + b"\x89PNG\r\n\x1a\n"
    block = b"\0" * (256 * 1024)
    sock = socket.create_connection(("127.0.0.1", served.server.http_port), timeout=60)
    sent = 0
    response = b""
    with sock:
        sock.sendall(
            (
                "POST /api/uploads HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{served.server.http_port}\r\n"
                f"Authorization: Bearer {served.token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        pieces = [head] + [block] * ((total - len(head)) // len(block))
        try:
            for piece in pieces:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                response += chunk
                if b"\r\n\r\n" in response and b"}}" in response:
                    break
        except ConnectionResetError:
            pass
    return sent, response


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(served: Served) -> None:
    before = served.stored()
    served.reset_peak()
    rss_before, _ = served.rss()
    sent, response = _chunked_upload(served, 600 * MiB)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), response[:500]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "too_large" and "limit" in body["error"]["message"]
    # Refused once the limit was passed, not after the whole body.
    assert UPLOAD_LIMIT <= sent < UPLOAD_LIMIT + 32 * MiB, sent
    # The server did not hold the body: neither its peak nor its resident memory
    # grew by anything near the limit (the old parser held all of it).
    rss_after, peak_after = served.rss()
    assert peak_after - rss_before < UPLOAD_LIMIT // 2, (rss_before, peak_after)
    assert rss_after - rss_before < UPLOAD_LIMIT // 2
    assert served.stored() == before
    tmp = served.data / "tmp"
    assert not tmp.is_dir() or not any(tmp.iterdir())
    assert served.server.get("/healthz")[0] == 200


# --- the same rules in-process, on every database backend -------------------------------


def _instances(archive: Archive) -> int:
    with archive.sessions() as session:
        return int(session.scalar(sa.select(sa.func.count(Instance.pk))) or 0)


def _photographer(archive: Archive, tmp_path: Path, **settings: object) -> TestClient:
    if all(u.username != "phot" for u in archive.accounts.list()):
        add_user(archive, "phot", "photographer")
    client = make_client(archive, tmp_path, **settings)
    sign_in(client, "phot")
    choose(client, "care")
    return client


def test_pixel_limit_on_upload_and_render(archive: Archive, tmp_path: Path) -> None:
    client = _photographer(archive, tmp_path, max_image_pixels=1_000_000)
    before = _instances(archive)
    fields = {"patient_id": "PX1", "family_name": "Pixel"}
    big = _png(1250, 1000, "RGB")
    r = client.post("/api/uploads", data=fields, files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "image_too_large"
    assert "1250x1000" in error["message"] and "1000000 pixels" in error["message"]
    # The HTML form says the same, on its page.
    r = client.post(
        "/upload",
        data={**fields, "csrf_token": client.headers["X-CSRF-Token"]},
        files={"files": ("big.png", big, "image/png")},
    )
    assert r.status_code == 413 and "1250x1000" in r.text
    assert _instances(archive) == before

    small = _png(1000, 1000, "RGB")
    r = client.post("/api/uploads", data=fields, files={"files": ("ok.png", small, "image/png")})
    assert r.status_code == 200, r.text
    uid = r.json()["stored"][0]
    assert client.get(f"/api/images/{uid}/thumbnail").status_code == 200

    # A viewer with a lower limit does not decode the stored million-pixel object.
    low = _photographer(archive, tmp_path, max_image_pixels=500_000)
    renders = archive.store.derived / "render"
    assert low.get(f"/api/images/{uid}/picture").status_code == 404
    assert not renders.exists() or not any(renders.rglob("*.png"))
    assert client.get(f"/api/images/{uid}/picture").status_code == 200
    assert any(renders.rglob("*.png"))


def test_a_picture_that_needs_more_memory_than_the_ceiling_is_refused(
    archive: Archive, tmp_path: Path
) -> None:
    """PHOTOPACS_CONVERSION_MEMORY_BYTES: 1000x1000 pixels need about 23 MiB to
    convert; under a 16 MiB ceiling the upload is refused from its header, stores
    nothing, and a smaller picture still converts."""
    client = _photographer(archive, tmp_path, conversion_memory_bytes=16 * 1024 * 1024)
    before = _instances(archive)
    fields = {"patient_id": "PM1", "family_name": "Memory"}
    big = _png(1000, 1000, "RGB")
    r = client.post("/api/uploads", data=fields, files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "image_too_large"
    assert "needs about 23 MiB" in error["message"] and "allows 16 MiB" in error["message"]
    assert _instances(archive) == before
    small = _png(500, 500, "RGB")
    r = client.post("/api/uploads", data=fields, files={"files": ("ok.png", small, "image/png")})
    assert r.status_code == 200, r.text


def test_a_chunked_body_over_the_limit_stores_nothing(archive: Archive, tmp_path: Path) -> None:
    client = _photographer(archive, tmp_path, max_upload_bytes=1024 * 1024)
    before = _instances(archive)
    boundary = "xYz123"
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="patient_id"\r\n\r\nC2\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        for _ in range(64):  # 16 MiB, far over the 1 MiB limit
            sent += 256 * 1024
            yield b"\x89PNG\r\n\x1a\n" + b"\0" * (256 * 1024 - 8)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(
        "/api/uploads",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert _instances(archive) == before
    assert not any(archive.store.tmp.iterdir())
    # A declared Content-Length over the limit is refused before the body is read.
    r = client.post(
        "/api/uploads",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert _instances(archive) == before


def test_pictures_are_decoded_off_the_event_loop() -> None:
    """The image routes are plain functions (FastAPI runs them in its thread pool);
    the upload routes hand conversion to a worker thread themselves."""
    routes = [r for r in (*images.pages.routes, *images.api.routes) if isinstance(r, APIRoute)]
    assert len(routes) >= 5 and not any(inspect.iscoroutinefunction(r.endpoint) for r in routes)
    source = inspect.getsource(uploads)
    assert source.count("await run_in_threadpool(store,") == 2
