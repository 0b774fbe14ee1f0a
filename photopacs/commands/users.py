"""`photopacs user ...`: web accounts. Passwords are prompted for, or read from
standard input with --password-stdin; never taken from the command line."""

from __future__ import annotations

import sys

import click

from archive import PEOPLE_ROLES, Actor
from photopacs.common import fail, open_archive, operator, with_archive


def _password(stdin: bool) -> str:
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail("no password on standard input", 2)
        return value
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def user() -> None:
    """Web viewer accounts (there are no default accounts)."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([str(r) for r in PEOPLE_ROLES]), required=True)
@click.option("--full-name", default="", help="Shown in the viewer and the audit view.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add(username: str, role: str, full_name: str, password_stdin: bool) -> None:
    """Create an account. The first admin is created this way."""
    password = _password(password_stdin)
    info = with_archive(
        lambda a: a.accounts.add(
            username,
            role=role,
            password=password,
            full_name=full_name,
            requester=Actor.operator(operator()),
        )
    )
    click.echo(f"added {info.username} ({info.role})")


def _switch(command_name: str, *, disabled: bool, help: str) -> None:
    """Register ``disable`` or ``enable``: one account's disabled flag, set by the operator."""

    @user.command(command_name, help=help)
    @click.argument("username")
    def command(username: str) -> None:
        with_archive(
            lambda a: a.accounts.set_disabled(
                username, disabled, requester=Actor.operator(operator())
            )
        )
        click.echo(f"{command_name}d {username}")


_switch(
    "disable",
    disabled=True,
    help="Disable an account and end its sessions (not the last active administrator).",
)
_switch("enable", disabled=False, help="Enable a disabled account.")


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice([str(r) for r in PEOPLE_ROLES]))
def role(username: str, role: str) -> None:
    """Give an account another role; ends its sessions. The last active administrator
    cannot be demoted."""
    info = with_archive(
        lambda a: a.accounts.set_role(username, role, requester=Actor.operator(operator()))
    )
    click.echo(f"{info.username} is now a {info.role}")


@user.command("reset")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def reset(username: str, password_stdin: bool) -> None:
    """Set a new password; ends the sign-in back-off and the account's sessions."""
    password = _password(password_stdin)
    with_archive(
        lambda a: a.accounts.reset_password(
            username, password, requester=Actor.operator(operator())
        )
    )
    click.echo(f"password of {username} reset")


@user.command("list")
def list_() -> None:
    """List accounts."""
    with open_archive() as archive:
        for info in archive.accounts.list():
            flags = " disabled" if info.disabled else ""
            flags += " backing-off" if info.locked else ""
            click.echo(f"{info.username:<24} {info.role!s:<13}{flags}  {info.full_name}")
