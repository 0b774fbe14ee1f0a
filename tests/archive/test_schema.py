"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from archive import Archive
from archive.db import schema_revision
from archive.models import Base


def test_migrations_match_the_models(archive: Archive) -> None:
    with archive.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    current, head = schema_revision(archive.engine)
    assert current == head


def test_upgrade_is_idempotent(archive: Archive) -> None:
    archive.migrate()
    archive.migrate()
    assert schema_revision(archive.engine)[0] == schema_revision(archive.engine)[1]
