"""Reading request bodies: URL-encoded forms and multipart uploads, with a
hard size limit enforced while the body streams in (so an oversized upload
is refused before anything is converted or stored)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request

from web_viewer.errors import BadRequest, TooLarge

FORM_LIMIT = 1024 * 1024  # a plain form (no files)
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def flag(self, name: str) -> bool:
        return self.get(name).lower() in {"1", "on", "yes", "true"}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge(f"the request is larger than the {limit}-byte limit")
        except ValueError:
            raise BadRequest("bad Content-Length") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the request is larger than the {limit}-byte limit")
    return bytes(body)


async def read_form(request: Request, *, limit: int = FORM_LIMIT) -> Form:
    """Parse a form body; multipart bodies may be up to ``limit`` bytes."""
    ctype = request.headers.get("content-type", "")
    kind = ctype.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        body = await read_body(request, limit + MULTIPART_OVERHEAD)
        return parse_multipart(ctype, body)
    if kind in ("application/x-www-form-urlencoded", ""):
        body = await read_body(request, FORM_LIMIT)
        form = Form()
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the form could not be read") from None
        for key, value in pairs:
            form.fields.setdefault(key, []).append(value)
        return form
    raise BadRequest("expected a form (application/x-www-form-urlencoded or multipart/form-data)")


def _params(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        out[key.strip().lower()] = value
    return out


def parse_multipart(content_type: str, body: bytes) -> Form:
    """A multipart/form-data body (RFC 7578) split into fields and files."""
    boundary = _params(content_type).get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise BadRequest("multipart form without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    form = Form()
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise BadRequest("the upload was cut short (incomplete multipart body)")
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise BadRequest("malformed multipart body")
        head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("malformed multipart body")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = _params(headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        if not name:
            continue
        if "filename" in disposition:
            form.files.setdefault(name, []).append(
                Upload(
                    filename=disposition["filename"][:255],
                    content_type=headers.get("content-type", ""),
                    data=content,
                )
            )
        else:
            form.fields.setdefault(name, []).append(content.decode("utf-8", "replace"))
    return form
