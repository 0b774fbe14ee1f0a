"""`photopacs query`: C-FIND-style matching from the command line, as care or,
with --review, as a governance review of hidden objects."""

from __future__ import annotations

import click

from archive import Actor, ArchiveError, Level, Match, Purpose, Role, valid_reason
from photopacs.common import LEVELS, echo_rows, fail, json_option, open_archive, operator


def _parse_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    identifier: dict[str, str] = {}
    for pair in pairs:
        keyword, sep, value = pair.partition("=")
        if not sep or not keyword:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="KEYS")
        identifier[keyword.strip()] = value
    return identifier


@click.command()
@click.option("--level", type=LEVELS, required=True, help="Query/retrieve level.")
@json_option
@click.option(
    "--review", is_flag=True, help="Governance review: show held and quarantined objects only."
)
@click.option("--reason", default="", help="With --review: why (audited with every match).")
@click.argument("keys", nargs=-1)
def query(level: str, as_json: bool, review: bool, reason: str, keys: tuple[str, ...]) -> None:
    """Find patients, studies, series or instances: KEY=VALUE with DICOM matching
    (wildcards * ?, ranges A-B, UID lists U1\\U2; KEY= returns the key)."""
    identifier = _parse_keys(keys)
    if review:
        try:
            reason = valid_reason(reason)
        except ArchiveError as exc:
            fail(f"--review needs --reason: {exc}", 2)
    elif reason:
        fail("--reason goes with --review", 2)
    requester = Actor(
        actor=operator(),
        role=Role.OPERATOR,
        purpose=Purpose.GOVERNANCE if review else Purpose.CARE,
        review=review,
        review_reason=reason,
    )
    with open_archive() as archive:
        matches = archive.find(Level.parse(level), identifier, requester=requester)
    echo_rows(matches, as_json=as_json, record=lambda m: m, line=_line, counted="match(es)")


def _line(match: Match) -> str:
    return "  ".join(f"{k}={_show(v)}" for k, v in match.items())


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value)
