"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from archive import Archive, ArchiveSettings
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


def test_upgrade_reports_the_revision_and_readies_an_empty_archive(
    settings: ArchiveSettings,
) -> None:
    with Archive(settings) as fresh:
        current, head = fresh.schema_status()
        assert current is None and head is not None
        assert not (settings.data_dir / "objects").exists()
        assert fresh.upgrade() == head
        assert fresh.schema_status() == (head, head)
        assert (settings.data_dir / "objects").is_dir()
