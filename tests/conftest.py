"""Fixtures shared by the whole suite.

``backend`` runs a test on SQLite and on PostgreSQL. The PostgreSQL server is
``PHOTOPACS_TEST_POSTGRES_URL`` (default: the local server on 127.0.0.1:5432,
user postgres, database test); each test gets a schema of its own, dropped
afterwards. Locally a missing server skips; in CI it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from archive import Archive, ArchiveSettings
from tests.support import require

PG_URL = os.environ.get(
    "PHOTOPACS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("PHOTOPACS_TEST_BACKENDS", "sqlite,postgresql").split(",")]

_pg_ok: bool | None = None


def postgres_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


def property_settings(backend: str, examples: dict[str, int]) -> hypothesis.settings:
    """Hypothesis settings for a property test on ``backend``: ``examples[backend]``
    examples, no deadline; on PostgreSQL, skipped unless a server answers."""
    if backend == "postgresql":
        require(postgres_available(), "PostgreSQL server")
    return hypothesis.settings(
        max_examples=examples[backend],
        deadline=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )


class PgSchema:
    """A throw-away schema on the test server, and a URL that lands in it."""

    def __init__(self) -> None:
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(PG_URL)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        url = make_url(PG_URL)
        self.url = url.update_query_dict(
            {"options": f"-csearch_path={self.name}"}
        ).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    require(postgres_available(), f"PostgreSQL at {PG_URL}")
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> ArchiveSettings:
    return ArchiveSettings(data_dir=tmp_path / "data", database_url=database_url, min_free_bytes=0)


@pytest.fixture
def archive(settings: ArchiveSettings) -> Iterator[Archive]:
    arc = Archive(settings)
    arc.migrate()
    arc.close()
    with Archive.open(settings) as opened:
        yield opened
