"""The viewer's errors and its one exception-handler table.

Every error answers in one shape: ``{"error": {"code": ..., "message": ...}}``
under ``/api``, an error page (same status) elsewhere. An instance the caller
may not see is a 404, exactly like one that does not exist; a 500 never
echoes the exception text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from archive import (
    AlreadyExists,
    ArchiveError,
    InvalidArgument,
    InvalidObject,
    InvalidQuery,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    StorageFull,
)
from archive.convert import ConversionError, ImageTooLarge

log = logging.getLogger(__name__)


class ViewerError(Exception):
    """An error the viewer raises on purpose, with its HTTP status and code; a
    subclass names its own: ``class Gone(ViewerError, status=410, code="gone")``."""

    status = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthRequired(ViewerError, status=401, code="not_signed_in"): ...


class CsrfRejected(ViewerError, status=403, code="csrf_rejected"): ...


class PurposeRequired(ViewerError, status=403, code="purpose_required"): ...


class ReviewRequired(ViewerError, status=403, code="review_required"):
    """Held and quarantined objects are shown only under an open review with a reason."""


class UploadRejected(ViewerError, status=415, code="unsupported_upload"): ...


class TooLarge(ViewerError, status=413, code="too_large"): ...


class TooManyPixels(ViewerError, status=413, code="image_too_large"):
    """A picture whose header declares more pixels than the viewer decodes."""


class BadRequest(ViewerError, status=400, code="bad_request"): ...


# archive error class -> (status, code, whether its message may be shown)
ARCHIVE_ERRORS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "not_found"),
    (NotAuthorised, 403, "forbidden"),
    (AlreadyExists, 409, "already_exists"),
    (InvalidTransition, 409, "invalid_transition"),
    (InvalidQuery, 400, "invalid_query"),
    (InvalidArgument, 400, "invalid_argument"),
    (InvalidObject, 400, "invalid_object"),
    (ImageTooLarge, 413, "image_too_large"),
    (ConversionError, 415, "unsupported_upload"),
    (StorageFull, 507, "storage_full"),
]

Renderer = Callable[[Request, int, str, str], Response]


def wants_json(request: Request) -> bool:
    path = request.url.path
    return any(path == root or path.startswith(root + "/") for root in ("/api", "/dicomweb"))


def json_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# Path parameters that name patient data: a 404 on a route carrying one is a
# refused look (or action), and every refused look is evidence (R14).
# (DICOMweb names its study, series and instance.)
PATIENT_DATA_PARAMS = ("uid", "patient_id", "study", "series", "instance")


def install(
    app: FastAPI, page: Renderer, refused: Callable[[Request, Exception], None] | None = None
) -> None:
    """Register the handler table; ``page`` renders an HTML error page; ``refused``
    audits a 404 on a route naming patient data that the archive has not already
    recorded as refused."""

    def answer(request: Request, status: int, code: str, message: str) -> Response:
        if wants_json(request):
            return json_error(status, code, message)
        if status == 401:
            return RedirectResponse("/login", status_code=303)
        if code == "purpose_required":
            return RedirectResponse("/purpose", status_code=303)
        if code == "review_required":
            return RedirectResponse("/review", status_code=303)
        return page(request, status, code, message)

    def on_viewer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ViewerError)
        return answer(request, exc.status, exc.code, exc.message)

    def on_archive(request: Request, exc: Exception) -> Response:
        if (
            refused is not None
            and isinstance(exc, NotFound | NotAuthorised)
            and not exc.audited
            and any(p in request.path_params for p in PATIENT_DATA_PARAMS)
        ):
            try:
                refused(request, exc)
            except Exception:
                log.exception("could not audit a refused request")
        for cls, status, code in ARCHIVE_ERRORS:
            if isinstance(exc, cls):
                message = "not found" if status == 404 else str(exc)
                return answer(request, status, code, message)
        log.error("archive error %s answered 500", type(exc).__name__)
        return answer(request, 500, "internal_error", "the archive could not do that")

    def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "not_signed_in"}
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return answer(request, exc.status_code, codes.get(exc.status_code, "http_error"), message)

    def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return answer(request, 422, "invalid_request", "; ".join(problems) or "invalid request")

    def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return answer(request, 500, "internal_error", "internal error")

    handlers: dict[type[Exception], Callable[[Request, Exception], Response]] = {
        ViewerError: on_viewer,
        ArchiveError: on_archive,
        ConversionError: on_archive,
        StarletteHTTPException: on_http,
        RequestValidationError: on_validation,
        Exception: on_unexpected,
    }
    for cls, handler in handlers.items():
        app.add_exception_handler(cls, _async(handler))


def _async(
    handler: Callable[[Request, Exception], Response],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def wrapped(request: Request, exc: Exception) -> Response:
        return handler(request, exc)

    return wrapped
