"""Engine and sessions. Nothing connects at import time.

SQLite gets the settings a durable, multi-process archive needs: WAL journal,
``synchronous=FULL`` (a committed ingest survives power loss), foreign keys,
case-sensitive LIKE (DICOM matching is case-sensitive except for person
names, which are matched on case-folded columns), a busy timeout, and
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing late.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.errors import ConfigurationError, SchemaOutOfDate
from archive.settings import ArchiveSettings


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the archive stores every one in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def make_engine(settings: ArchiveSettings) -> Engine:
    """Create the engine for the configured index database."""
    url_text = settings.resolved_database_url()
    try:
        url = make_url(url_text)
    except ArgumentError as exc:
        raise ConfigurationError(f"PHOTOPACS_DATABASE_URL is not a database URL: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise ConfigurationError(
        f"unsupported database backend {url.get_backend_name()!r}: use sqlite or postgresql"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            "case_sensitive_like=ON",
            "busy_timeout=60000",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together, or not at all."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    location = Path(__file__).resolve().parent / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_revision(engine: Engine) -> tuple[str | None, str | None]:
    """(current revision in the database, newest revision in the code)."""
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise ConfigurationError(f"cannot reach the index database: {exc.orig}") from exc
    return current, head


def check_schema(engine: Engine) -> None:
    """Refuse to run against a database that is not migrated to this code's head."""
    current, head = schema_revision(engine)
    if current != head:
        raise SchemaOutOfDate(
            f"index database is at revision {current or 'none'}, this photopacs needs {head}: "
            "run `photopacs db upgrade`"
        )
