"""``multipart/related`` bodies (PS3.18 8.6.1.2), streamed part by part."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.responses import StreamingResponse

CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One part: its Content-Type, and its bytes or the file holding them."""

    content_type: str
    data: bytes | None = None
    path: Path | None = None


def _body(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    for part in parts:
        size = len(part.data) if part.data is not None else (part.path or Path()).stat().st_size
        yield (
            f"--{boundary}\r\nContent-Type: {part.content_type}\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        if part.data is not None:
            yield part.data
        else:
            assert part.path is not None
            with part.path.open("rb") as f:  # the stored bytes, unchanged
                while chunk := f.read(CHUNK):
                    yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def response(parts: Iterable[Part], media_type: str, syntax: str = "") -> StreamingResponse:
    """A ``multipart/related; type=...`` answer; ``parts`` is read as it is sent."""
    boundary = secrets.token_hex(16)
    params = f"; transfer-syntax={syntax}" if syntax else ""
    return StreamingResponse(
        _body(parts, boundary),
        media_type=f'multipart/related; type="{media_type}"{params}; boundary={boundary}',
    )
