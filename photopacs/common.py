"""Helpers shared by the command-line modules."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from archive import Archive, ArchiveError, ArchiveSettings

T = TypeVar("T")

EXIT_PROBLEMS = 1
EXIT_ARCHIVE = 3

LEVELS = click.Choice(["patient", "study", "series", "instance"], case_sensitive=False)


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return f"cli:uid{os.getuid()}"


def fail(message: str, code: int = EXIT_ARCHIVE) -> NoReturn:
    click.echo(f"photopacs: {message}", err=True)
    sys.exit(code)


def open_archive() -> Archive:
    try:
        return Archive.open(ArchiveSettings())
    except ArchiveError as exc:
        fail(str(exc))
    except ValueError as exc:  # pydantic validation of PHOTOPACS_* settings
        fail(f"invalid setting: {exc}")


def with_archive(action: Callable[[Archive], T]) -> T:
    """Open the archive, run ``action`` on it, and turn an archive error into a
    CLI message with exit code 3."""
    with open_archive() as archive:
        try:
            return action(archive)
        except ArchiveError as exc:
            fail(str(exc))
