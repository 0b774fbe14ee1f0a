"""The FastAPI application: server-rendered pages, the JSON API under ``/api``
(OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``), ``/healthz``.

Built by :func:`create_app` from an open :class:`Archive` and (optionally)
:class:`WebSettings`; nothing is configured at import time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive import Action, Archive, AuditEntry, Outcome, acts_for_purposes
from archive.convert import MemoryBudget
from web_viewer import dicomweb, errors
from web_viewer.deps import Context, client_source, optional_viewer
from web_viewer.media import MediaCache
from web_viewer.routes import admin, auth, consent, governance, images, patients, uploads
from web_viewer.settings import WebSettings
from web_viewer.templating import make_environment, render

STATIC = Path(__file__).parent / "static"
# The path parameters naming recordings, most specific first (a refused look names them).
NAMED_UIDS = ("uid", "instance", "series", "study")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        b"script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; "
        b"base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds security headers, and ``Cache-Control: no-store`` to anything that
    did not set its own (pages and API answers hold patient data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"cache-control" not in present:
                    value = b"public, max-age=3600" if static else b"private, no-store"
                    headers.append((b"cache-control", value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


def create_app(archive: Archive, settings: WebSettings | None = None) -> FastAPI:
    """The viewer over ``archive``; settings from the environment when not given."""
    if settings is None:
        settings = WebSettings()
    # Derived copies live where the archive erases them with their object.
    cache_dir = archive.derived_folder
    app = FastAPI(
        title="photopacs",
        summary="Consent-aware archive of clinical photographs and video: JSON API",
        description=(
            "Authenticate with `POST /api/session`; then send the session cookie and, on "
            "every write, the `X-CSRF-Token` header — or send `Authorization: Bearer "
            "<token>` (no CSRF header needed). Errors are "
            '`{"error": {"code": ..., "message": ...}}`; anything you may not see is 404.'
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.ctx = Context(
        archive=archive,
        settings=settings,
        cache_dir=cache_dir,
        conversions=MemoryBudget(settings.conversion_memory_bytes),
    )
    app.state.media = MediaCache(
        cache_dir,
        thumbnail_pixels=settings.thumbnail_pixels,
        max_pixels=settings.max_image_pixels,
    )
    app.state.templates = make_environment()

    def error_page(request: Request, status: int, code: str, message: str) -> Response:
        try:
            viewer = optional_viewer(request, app.state.ctx)
        except Exception:
            viewer = None
        return render(request, "error.html", viewer, status=status, code=code, message=message)

    def refused(request: Request, exc: Exception) -> None:
        """Audit a refused look or action on patient data (R14), against the patient."""
        try:
            viewer = optional_viewer(request, app.state.ctx)
        except Exception:
            viewer = None
        params = request.path_params
        uid = str(params.get("uid") or params.get("instance") or "")[:64]
        named = str(params.get("patient_id", ""))[:64]
        patient = archive.patient_of(uid) if uid else ""
        if named and archive.holds_patient(named):
            patient = named  # a refused look at a patient the archive holds
        session = viewer.session if viewer else None
        route = getattr(request.scope.get("route"), "path", request.url.path)
        archive.record_event(
            AuditEntry(
                actor=viewer.username if viewer else "anonymous",
                role=str(viewer.role) if viewer else "",
                purpose=str(session.purpose or "") if session else "",
                action=Action.VIEW if request.method in ("GET", "HEAD") else Action.CONSENT,
                outcome=Outcome.REFUSED,
                patient_id=patient,
                object_uids=tuple(str(params[p])[:64] for p in NAMED_UIDS if p in params),
                source=client_source(request),
                detail={"what": f"{request.method} {route}", "reason": type(exc).__name__},
            )
        )

    errors.install(app, error_page, refused)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, patients, images, consent, uploads, governance, admin):
        app.include_router(module.pages)
        app.include_router(module.api)
    app.include_router(dicomweb.api)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness and readiness: the index answers and the data folder is there."""
        health = archive.health()
        return JSONResponse(
            {
                "status": "ok" if health.ok else "unhealthy",
                "database": health.database,
                "storage": health.storage,
            },
            status_code=200 if health.ok else 503,
        )

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        viewer = optional_viewer(request, app.state.ctx)
        if viewer is None:
            return RedirectResponse("/login", status_code=303)
        if not acts_for_purposes(viewer.role):
            return RedirectResponse("/admin/users", status_code=303)
        if viewer.session.purpose is None:
            return RedirectResponse("/purpose", status_code=303)
        return RedirectResponse("/patients", status_code=303)

    return app
