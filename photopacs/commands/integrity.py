"""Checks that what the archive holds is what it recorded: `photopacs audit
verify`, `photopacs fixity check` and `photopacs verify-erasure`."""

from __future__ import annotations

import sys

import click

from archive import Actor
from photopacs.common import EXIT_PROBLEMS, open_archive, operator


@click.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 if any event was edited, inserted or deleted."""
    with open_archive() as archive:
        report = archive.verify_audit(requester=Actor.operator(operator()))
    click.echo(f"{report.events} audit event(s) checked")
    for problem in report.problems:
        click.echo(f"  {problem}")
    if not report.ok:
        click.echo("audit chain BROKEN", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo("audit chain intact")


@click.group()
def fixity() -> None:
    """Integrity of the stored objects."""


@fixity.command("check")
def fixity_check() -> None:
    """Re-hash every stored object; exit 1 on any mismatch or missing file."""
    with open_archive() as archive:
        report = archive.fixity_check(requester=Actor.operator(operator()))
    click.echo(
        f"checked {report.checked}, mismatched {len(report.mismatched)}, "
        f"missing {len(report.missing)}, erased {report.erased}, "
        f"unreferenced files {len(report.unreferenced)}"
    )
    for uid in report.mismatched:
        click.echo(f"  MISMATCH {uid}")
    for uid in report.missing:
        click.echo(f"  MISSING  {uid}")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@click.command("verify-erasure")
def verify_erasure() -> None:
    """Search the data folder for any copy of an erased recording (the object, its
    thumbnails, renders, remuxes, or a file with its content); exit 1 if one is found."""
    with open_archive() as archive:
        report = archive.verify_erasure(requester=Actor.operator(operator()))
    click.echo(
        f"erased {report.erased}, files checked {report.files_checked}, "
        f"copies found {len(report.leftovers)}"
    )
    for uid, path in report.leftovers:
        click.echo(f"  LEFT {uid}: {path}")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)
