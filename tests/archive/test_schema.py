"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from archive import Archive, ArchiveSettings
from archive.db import _alembic_config, schema_revision
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


def test_0013_makes_queued_propagations_due_at_once(settings: ArchiveSettings) -> None:
    archive = Archive(settings)
    try:
        cfg = _alembic_config(archive.engine)
        with archive.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
        queued = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
        with archive.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO propagations (destination, title_code, sop_instance_uids, "
                    "status, attempts, last_error, note_uid, created_at, updated_at) VALUES "
                    "('PEER1', '113037', '[\"1.2.3\"]', 'pending', 1, 'refused', '', :t, :t)"
                ),
                {"t": queued},
            )
        archive.migrate()
        [owed] = archive.propagation.due()
        assert (owed.destination, owed.sop_instance_uids, owed.attempts) == ("PEER1", ("1.2.3",), 1)
        assert owed.next_attempt_at == queued
    finally:
        archive.close()


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
