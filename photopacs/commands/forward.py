"""`photopacs forward ...` (auto-forwarding rules and their queue),
`photopacs commitment list` (storage-commitment reports owed to cameras) and
`photopacs commitment sent` (the commitment requests `photopacs send --commit`
made, and what their reports said)."""

from __future__ import annotations

import click

from archive import (
    ANY_SOURCE,
    Actor,
    CommitmentRequestInfo,
    JobInfo,
    ReportInfo,
    RuleInfo,
    valid_ae_title,
    valid_sop_class,
)
from photopacs.common import checked, echo_rows, json_option, open_archive, operator, with_archive


def _source(value: str) -> str:
    return ANY_SOURCE if value.strip() == ANY_SOURCE else valid_ae_title(value)


@click.group()
def forward() -> None:
    """Auto-forwarding: send what arrives from a node on to a peer or EPR, with retry.

    Only recordings the access policy lets a care requester see are sent: held
    ones wait for consent, quarantined and erased ones are dropped."""


@forward.command("add")
@click.option(
    "--from",
    "source",
    required=True,
    callback=checked(_source),
    help="Calling AE title whose objects are forwarded, or * for every source.",
)
@click.option(
    "--to",
    "destination",
    required=True,
    callback=checked(valid_ae_title),
    help="Registered node (role peer or epr) to send them to.",
)
@click.option(
    "--sop-class",
    default="",
    callback=checked(valid_sop_class),
    help="Only objects of this SOP Class UID.",
)
def add(source: str, destination: str, sop_class: str) -> None:
    """Forward every new object from --from to --to."""
    rule = with_archive(
        lambda a: a.forwarding.add_rule(
            source, destination, sop_class_uid=sop_class, requester=Actor.operator(operator())
        )
    )
    what = f" ({rule.sop_class_uid})" if rule.sop_class_uid else ""
    click.echo(f"rule {rule.number}: {rule.source_ae}{what} -> {rule.destination}")


def _rule(r: RuleInfo) -> dict[str, object]:
    return {
        "number": r.number,
        "from": r.source_ae,
        "to": r.destination,
        "sop_class_uid": r.sop_class_uid,
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(),
    }


@forward.command("list")
@json_option
def listing(as_json: bool) -> None:
    """The forwarding rules."""
    with open_archive() as archive:
        rules = archive.forwarding.rules()
    echo_rows(rules, as_json=as_json, record=_rule, line=_rule_line, counted="rule(s)")


def _rule_line(r: RuleInfo) -> str:
    return f"{r.number:>5} {r.source_ae:<16} -> {r.destination:<16} {r.sop_class_uid}"


@forward.command("remove")
@click.argument("number", type=int)
def remove(number: int) -> None:
    """Remove rule NUMBER (jobs it already queued are still sent)."""
    rule = with_archive(
        lambda a: a.forwarding.remove_rule(number, requester=Actor.operator(operator()))
    )
    click.echo(f"removed rule {rule.number}: {rule.source_ae} -> {rule.destination}")


def _delivery(item: JobInfo | ReportInfo) -> dict[str, object]:
    """Where a queued delivery (a forwarding job, a commitment report) stands."""
    return {
        "status": item.status,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "next_attempt_at": item.next_attempt_at.isoformat(),
        "created_at": item.created_at.isoformat(),
    }


def _job(j: JobInfo) -> dict[str, object]:
    return {
        "number": j.number,
        "rule": j.rule,
        "sop_instance_uid": j.sop_instance_uid,
        "destination": j.destination,
        **_delivery(j),
        "updated_at": j.updated_at.isoformat(),
    }


@forward.command("queue")
@click.option("--all", "show_all", is_flag=True, help="Include sent and dropped jobs.")
@json_option
def queue(show_all: bool, as_json: bool) -> None:
    """Forwarding jobs still pending (waiting for consent, or retrying) and failed ones."""
    with open_archive() as archive:
        jobs = archive.forwarding.jobs(statuses=None) if show_all else archive.forwarding.jobs()
    echo_rows(jobs, as_json=as_json, record=_job, line=_job_line, counted="job(s)")


def _job_line(j: JobInfo) -> str:
    error = f"  {j.last_error}" if j.last_error else ""
    return (
        f"{j.number:>6} {j.destination:<16} {j.status:<8} {j.attempts} attempt(s) "
        f"{j.sop_instance_uid}{error}"
    )


@forward.command("retry")
@click.argument("number", type=int, required=False)
def retry(number: int | None) -> None:
    """Queue failed job NUMBER (or every failed job) again with fresh attempts."""
    count = with_archive(lambda a: a.forwarding.retry(number, requester=Actor.operator(operator())))
    click.echo(f"{count} job(s) queued again")


@click.group()
def commitment() -> None:
    """Storage commitment: reports owed to cameras (list), requests we sent (sent)."""


def _report(r: ReportInfo) -> dict[str, object]:
    return {
        "number": r.number,
        "transaction_uid": r.transaction_uid,
        "requester": r.requester,
        "committed": [i for _, i in r.committed],
        "failed": [i for _, i in r.failed],
        **_delivery(r),
    }


@commitment.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include delivered reports.")
@json_option
def commitment_list(show_all: bool, as_json: bool) -> None:
    """Reports not delivered yet (retried) or given up; --all adds delivered ones."""
    with open_archive() as archive:
        reports = archive.commitments
        rows = reports.listing(statuses=None) if show_all else reports.listing()
    echo_rows(rows, as_json=as_json, record=_report, line=_report_line, counted="report(s)")


def _report_line(r: ReportInfo) -> str:
    error = f"  {r.last_error}" if r.last_error else ""
    return (
        f"{r.number:>6} {r.requester:<16} {r.status:<9} committed {len(r.committed)}, "
        f"failed {len(r.failed)}, {r.attempts} attempt(s) {r.transaction_uid}{error}"
    )


def _request(r: CommitmentRequestInfo) -> dict[str, object]:
    return {
        "number": r.number,
        "transaction_uid": r.transaction_uid,
        "destination": r.destination,
        "calling_aet": r.calling_aet,
        "requested_by": r.requested_by,
        "status": r.status,
        "committed": len(r.committed),
        "not_committed": len(r.not_committed),
        "instances": [
            {
                "sop_class_uid": i.sop_class_uid,
                "sop_instance_uid": i.sop_instance_uid,
                "result": i.result,
                "failure_reason": i.failure_reason,
            }
            for i in r.instances
        ],
        "reported_by": r.reported_by,
        "via": r.via,
        "detail": r.detail,
        "created_at": r.created_at.isoformat(),
        "reported_at": r.reported_at.isoformat() if r.reported_at else None,
    }


@commitment.command("sent")
@click.option("--all", "show_all", is_flag=True, help="Include fully committed requests.")
@json_option
def commitment_sent(show_all: bool, as_json: bool) -> None:
    """Storage-commitment requests photopacs sent (`photopacs send --commit`) that are
    not (yet) fully committed: pending, partly-failed, timed-out or refused, with
    every instance that was not committed; --all adds committed ones."""
    with open_archive() as archive:
        requests = archive.commitment_requests
        rows = requests.listing(statuses=None) if show_all else requests.listing()
    echo_rows(rows, as_json=as_json, record=_request, line=_request_lines, counted="request(s)")


def _request_lines(r: CommitmentRequestInfo) -> str:
    """The request, its detail, and each instance not committed with why."""
    via = f" via {r.via}" if r.via else ""
    lines = [
        f"{r.number:>6} {r.destination:<16} {r.status:<13} committed {len(r.committed)}, "
        f"not committed {len(r.not_committed)}{via} {r.transaction_uid}"
    ]
    if r.detail:
        lines.append(f"         {r.detail}")
    for i in r.not_committed:
        reason = f"0x{i.failure_reason:04X}" if i.failure_reason is not None else i.result
        lines.append(f"         {i.sop_instance_uid} {reason}")
    return "\n".join(lines)
