"""Helpers shared by the command-line modules."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from archive import Archive, ArchiveError, ArchiveSettings, InvalidArgument

T = TypeVar("T")

EXIT_PROBLEMS = 1
EXIT_ARCHIVE = 3

LEVELS = click.Choice(["patient", "study", "series", "instance"], case_sensitive=False)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return f"cli:uid{os.getuid()}"


def fail(message: str, code: int = EXIT_ARCHIVE) -> NoReturn:
    click.echo(f"photopacs: {message}", err=True)
    sys.exit(code)


class ArchiveGroup(click.Group):
    """The `photopacs` group: an :class:`ArchiveError` that leaves any command
    under it, nested groups' included, becomes ``photopacs: <message>`` on
    standard error and exit code 3, here and nowhere else. A command catches an
    archive error itself only to say something else or to go on."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchiveError as exc:
            fail(str(exc))


def archive_settings() -> ArchiveSettings:
    try:
        return ArchiveSettings()
    except ValueError as exc:  # pydantic validation of PHOTOPACS_* settings
        fail(f"invalid setting: {exc}")


def open_archive() -> Archive:
    """The archive, its schema checked (:meth:`Archive.open`)."""
    return Archive.open(archive_settings())


def with_archive(action: Callable[[Archive], T]) -> T:
    """Open the archive, run ``action`` on it, and close it again."""
    with open_archive() as archive:
        return action(archive)


def echo_rows(
    rows: Sequence[T],
    *,
    as_json: bool,
    record: Callable[[T], object],
    line: Callable[[T], str],
    counted: str,
) -> None:
    """A listing: with --json one JSON array of ``record(row)`` for scripts;
    otherwise ``line(row)`` for each row, then how many (``counted``, e.g.
    "job(s)") on standard error, so that the count never mixes with the rows."""
    if as_json:
        click.echo(json.dumps([record(row) for row in rows], indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(line(row))
    click.echo(f"{len(rows)} {counted}", err=True)


def checked(
    validate: Callable[[str], str],
) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback: the value as ``validate`` returns it (an absent option stays
    None), or a usage error (exit 2) with the archive's reason."""

    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate(value)
        except InvalidArgument as exc:
            raise click.BadParameter(str(exc)) from None

    return check


def files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and every file below the folders named, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            found.append(path)
    return found
