"""Governance of what the archive holds: `photopacs quarantine`, `hold`, `erase`,
`release`, `legal-hold`, and `propagation` (rejection notes owed to peers)."""

from __future__ import annotations

from typing import Any

import click

from archive import Actor, Availability, Level, ReasonCode
from photopacs.common import LEVELS, open_archive, operator

REASON_CODES = click.Choice([c.value for c in ReasonCode])


def _transition(level: str, uid: str, target: Availability, reason: str, code: str = "") -> None:
    with open_archive() as archive:
        result = archive.govern(
            Level.parse(level),
            uid,
            target,
            reason=reason,
            requester=Actor.operator(operator()),
            reason_code=code,
        )
    click.echo(
        f"{len(result.changed)} instance(s) now {target}; {len(result.unchanged)} left as they were"
    )
    if result.held_by_consent:
        click.echo(
            f"{len(result.held_by_consent)} instance(s) not released: their consent does "
            "not allow use (see `photopacs consent show`)"
        )


def _governance_options(func: Any) -> Any:
    func = click.argument("uid")(func)
    func = click.option(
        "--reason", required=True, help="Why, in words (recorded in the audit trail)."
    )(func)
    func = click.option("--code", type=REASON_CODES, required=True, help="Reason code.")(func)
    return click.option("--level", type=LEVELS, required=True)(func)


@click.command()
@_governance_options
def quarantine(level: str, code: str, reason: str, uid: str) -> None:
    """Quarantine a patient (by PatientID), study, series or instance: kept, invisible."""
    _transition(level, uid, Availability.QUARANTINED, reason, code)


@click.command()
@_governance_options
def hold(level: str, code: str, reason: str, uid: str) -> None:
    """Hold objects for governance review: kept, invisible until released."""
    _transition(level, uid, Availability.HELD, reason, code)


@click.command()
@_governance_options
def erase(level: str, code: str, reason: str, uid: str) -> None:
    """Erase content not needed clinically (R16): bytes deleted, tombstone and audit kept.
    Refused under a legal hold; cannot be undone."""
    _transition(level, uid, Availability.ERASED, reason, code)


@click.command()
@click.option("--level", type=LEVELS, required=True)
@click.option("--reason", default="released by operator", help="Why (recorded in the audit).")
@click.argument("uid")
def release(level: str, reason: str, uid: str) -> None:
    """End a governance hold or quarantine: the objects follow their consent again."""
    _transition(level, uid, Availability.ACTIVE, reason)


@click.command("legal-hold")
@click.argument("action", type=click.Choice(["set", "clear"]))
@click.option("--level", type=LEVELS, required=True)
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@click.argument("uid")
def legal_hold(action: str, level: str, reason: str, uid: str) -> None:
    """Place or lift a legal hold: held objects may not be erased."""
    with open_archive() as archive:
        n = archive.set_legal_hold(
            Level.parse(level),
            uid,
            on=action == "set",
            reason=reason,
            requester=Actor.operator(operator()),
        )
    click.echo(f"legal hold {'placed on' if action == 'set' else 'lifted from'} {n} instance(s)")


@click.command("propagation")
@click.option("--all", "show_all", is_flag=True, help="Include sent and failed ones.")
def propagation(show_all: bool) -> None:
    """Rejection notes owed to peers holding copies of quarantined objects."""
    with open_archive() as archive:
        rows = archive.propagations(status=None if show_all else "pending")
    for row in rows:
        count = len(row.sop_instance_uids)
        error = f"  last error: {row.last_error}" if row.last_error else ""
        click.echo(
            f"{row.number:>6} {row.destination:<16} {row.title_code} {row.status:<8} "
            f"{count} instance(s), {row.attempts} attempt(s){error}"
        )
    click.echo(f"{len(rows)} propagation(s)", err=True)
