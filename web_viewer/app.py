"""The FastAPI application. For now: the health endpoint the server and its
container health check rely on; the viewer lands here (issue 7)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from archive import Archive


def create_app(archive: Archive) -> FastAPI:
    app = FastAPI(title="photopacs", docs_url=None, redoc_url=None)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness and readiness: the index answers and the data folder is there."""
        try:
            with archive.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "unreachable"
        storage = "ok" if archive.store.objects.is_dir() else "missing"
        healthy = database == "ok" and storage == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "database": database, "storage": storage},
            status_code=200 if healthy else 503,
        )

    return app
