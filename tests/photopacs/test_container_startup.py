"""The container's start-up, run without Docker: the same entrypoint script,
against PostgreSQL, as compose.yml starts it; plus checks that the Dockerfile
and compose file say what the script and the server expect."""

from __future__ import annotations

import signal
from pathlib import Path

import yaml

from tests.conftest import PgSchema, postgres_available
from tests.serving import free_port, photopacs_bin, running
from tests.support import REPO, require

DOCKER = REPO / "docker"


def test_entrypoint_migrates_serves_and_stops_cleanly_on_postgres(tmp_path: Path) -> None:
    require(postgres_available(), "PostgreSQL server")
    schema = PgSchema()
    try:
        http, dicom = free_port(), free_port()
        env = {
            "PHOTOPACS_BIN": photopacs_bin(),
            "PHOTOPACS_DATABASE_URL": schema.url,
            "PHOTOPACS_DATA_DIR": str(tmp_path / "data"),
            "PHOTOPACS_HTTP_PORT": str(http),
            "PHOTOPACS_DICOM_PORT": str(dicom),
        }
        with running(
            [str(DOCKER / "entrypoint.sh")], env, tmp_path / "log", http_port=http, dicom_port=dicom
        ) as server:
            status, body = server.get("/healthz")
            assert status == 200 and b'"database":"ok"' in body
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(timeout=30) == 0
        with schema.admin.connect() as conn:
            from sqlalchemy import text

            tables = set(
                conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": schema.name},
                ).scalars()
            )
        assert {
            "patients",
            "studies",
            "series",
            "instances",
            "audit_events",
            "alembic_version",
        } <= tables
        assert (tmp_path / "data" / "objects").is_dir()
    finally:
        schema.drop()


def test_compose_runs_the_entrypoint_against_postgres_with_health_checks() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    app, db = compose["services"]["photopacs"], compose["services"]["db"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["PHOTOPACS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert set(compose["volumes"]) == {"pgdata", "objects"}
    assert "${POSTGRES_PASSWORD:?" in db["environment"]["POSTGRES_PASSWORD"]  # no default


def test_dockerfile_is_multi_stage_non_root_and_uses_the_entrypoint() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "USER photopacs" in text
    assert "COPY docker/entrypoint.sh /usr/local/bin/photopacs-entrypoint" in text
    assert 'ENTRYPOINT ["photopacs-entrypoint"]' in text
    assert "/healthz" in text
    for package in ("archive", "consent_sr", "dicom_gateway", "web_viewer", "photopacs"):
        assert f"COPY {package} ./{package}" in text
