"""`photopacs db ...`: the index database's schema, and waiting for the
database at container start-up."""

from __future__ import annotations

import sys

import click

from archive import Archive, ArchiveError
from photopacs.common import EXIT_PROBLEMS, archive_settings, fail


@click.group()
def db() -> None:
    """Index database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the index database to this version's schema."""
    with Archive(archive_settings()) as archive:
        current = archive.upgrade()
    click.echo(f"index database at revision {current}")


@db.command("status")
def db_status() -> None:
    """Show the schema revision of the database and of this code."""
    with Archive(archive_settings()) as archive:
        current, head = archive.schema_status()
    click.echo(f"database: {current or 'empty'}\ncode:     {head}")
    if current != head:
        sys.exit(EXIT_PROBLEMS)


@db.command("wait")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
def db_wait(timeout: float) -> None:
    """Wait until the index database accepts connections (for container start-up)."""
    import time

    deadline = time.monotonic() + timeout
    with Archive(archive_settings()) as archive:
        while True:
            try:
                archive.schema_status()
                return
            except ArchiveError as exc:
                if time.monotonic() > deadline:
                    fail(f"database not reachable after {timeout:.0f}s: {exc}")
                time.sleep(0.5)
