"""Reading request bodies: URL-encoded forms and multipart uploads, with a
hard size limit enforced while the body streams in.

Multipart bodies are parsed by ``python-multipart`` (the parser FastAPI and
Starlette use) as they arrive: each file goes straight to an anonymous
temporary file (in the archive's ``tmp/`` folder, unlinked from the start, so
nothing is left behind even by a crash), and the body is refused with 413 the
moment it passes the limit — with or without a Content-Length — so the server
never holds more than one chunk of it in memory and nothing is converted or
stored.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from web_viewer.errors import BadRequest, TooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FORM_LIMIT = 1024 * 1024  # a plain form, and all the text fields of a multipart form
MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries beyond the files' own bytes
MAX_PARTS = 1000
HEAD_BYTES = 64


@dataclass
class Upload:
    """One uploaded file, held in a temporary file rather than in memory."""

    filename: str
    content_type: str
    file: IO[bytes]
    size: int = 0

    def head(self, n: int = HEAD_BYTES) -> bytes:
        """The file's first ``n`` bytes (to judge its kind by content)."""
        self.file.seek(0)
        return self.file.read(n)

    @property
    def data(self) -> bytes:
        """The whole file (read it off the event loop when it may be large)."""
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


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

    def close(self) -> None:
        """Release the uploads' temporary files (also done when the form is collected)."""
        for uploads in self.files.values():
            for upload in uploads:
                upload.close()

    def __enter__(self) -> Form:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the request is larger than the {limit}-byte limit")


def _check_declared(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise BadRequest("bad Content-Length") from None
    if size > limit:
        raise _too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """A small body, whole; refused once it passes ``limit`` bytes."""
    _check_declared(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _spool_dir(request: Request) -> Path | None:
    """The archive's own temporary folder (on the data folder's disk, not a RAM /tmp)."""
    try:
        folder: Path = request.app.state.ctx.archive.scratch_folder
    except AttributeError:
        return None
    return folder if folder.is_dir() else None


class _Collector:
    """python-multipart callbacks that build a :class:`Form` part by part."""

    def __init__(self, form: Form, *, limit: int, spool: Path | None) -> None:
        self.form = form
        self.limit = limit
        self.spool = spool
        self.parts = 0
        self.field_bytes = 0
        self.ended = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._name = ""
        self._upload: Upload | None = None
        self._value: bytearray | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"the form has more than {MAX_PARTS} parts")
        self._headers = {}
        self._name = ""
        self._upload = None
        self._value = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("utf-8", "replace").strip()
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if not self._name:
            return  # a part without a name is skipped, as before
        if b"filename" in params:
            filename = params[b"filename"].decode("utf-8", "replace")[:255]
            upload = Upload(
                filename=filename,
                content_type=self._headers.get("content-type", ""),
                file=tempfile.TemporaryFile(dir=self.spool),  # noqa: SIM115 (closed with the form)
            )
            self.form.files.setdefault(self._name, []).append(upload)
            self._upload = upload
        else:
            self._value = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._upload is not None:
            self._upload.size += end - start
            if self._upload.size > self.limit:
                raise _too_large(self.limit)
            self._upload.file.write(data[start:end])
        elif self._value is not None:
            self.field_bytes += end - start
            if self.field_bytes > FORM_LIMIT:
                raise TooLarge(f"the form's fields are larger than the {FORM_LIMIT}-byte limit")
            self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._upload is not None:
            self._upload.file.flush()
        elif self._value is not None:
            value = self._value.decode("utf-8", "replace")
            self.form.fields.setdefault(self._name, []).append(value)
        self._upload = None
        self._value = None

    def on_end(self) -> None:
        self.ended = True


async def read_multipart(request: Request, content_type: str, limit: int) -> Form:
    """Stream a multipart/form-data body (RFC 7578) into a :class:`Form`: files
    to temporary files, at most ``limit`` bytes each and in all (plus part headers)."""
    total_limit = limit + MULTIPART_OVERHEAD
    _check_declared(request, total_limit)
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if not boundary or len(boundary) > 200:
        raise BadRequest("multipart form without a boundary")
    form = Form()
    collector = _Collector(form, limit=limit, spool=_spool_dir(request))
    parser = MultipartParser(boundary, collector.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > total_limit:
                raise _too_large(total_limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        form.close()
        raise BadRequest("malformed multipart body") from None
    except BaseException:
        form.close()
        raise
    if not collector.ended:
        form.close()
        raise BadRequest("the upload was cut short (incomplete multipart body)")
    return form


async def read_form(request: Request, *, limit: int = FORM_LIMIT) -> Form:
    """Parse a form body; multipart bodies may carry up to ``limit`` bytes of files.

    Close the form (or use it as a context manager) when done with its files."""
    ctype = request.headers.get("content-type", "")
    kind = ctype.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await read_multipart(request, ctype, limit)
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
