"""`photopacs review ...`: governance reviews of held and quarantined objects.

A governance DICOM node may call the review AE title only while it has an
open review; the reason stated here goes into the audit event of every look
it takes (:mod:`archive.reviews`).
"""

from __future__ import annotations

import click

from archive import DEFAULT_REVIEW_HOURS, Actor, ReviewInfo, node_subject
from photopacs.common import echo_rows, fail, json_option, open_archive, operator, with_archive


@click.group()
def review() -> None:
    """Governance reviews: the stated reason behind every look at hidden objects."""


@review.command("open")
@click.argument("ae_title")
@click.option("--reason", required=True, help="Why hidden objects must be looked at (case ref).")
@click.option(
    "--hours",
    type=float,
    default=DEFAULT_REVIEW_HOURS,
    show_default=True,
    help="The review closes itself after this long.",
)
def open_(ae_title: str, reason: str, hours: float) -> None:
    """Let governance node AE_TITLE use the review AE title, for REASON."""
    info = with_archive(
        lambda a: a.open_review(
            node_subject(ae_title), reason=reason, requester=Actor.operator(operator()), hours=hours
        )
    )
    click.echo(f"review {info.number} open for {ae_title.strip()} until {info.expires_at:%c %Z}")


@review.command("close")
@click.argument("ae_title")
def close(ae_title: str) -> None:
    """End the open review of AE_TITLE now."""
    closed = with_archive(
        lambda a: a.close_review(node_subject(ae_title), requester=Actor.operator(operator()))
    )
    if not closed:
        fail(f"{ae_title.strip()} has no open review")
    click.echo(f"closed review {', '.join(str(n) for n in closed)}")


def _row(r: ReviewInfo) -> dict[str, object]:
    return {
        "number": r.number,
        "subject": r.subject,
        "reason": r.reason,
        "opened_by": r.opened_by,
        "opened_at": r.opened_at.isoformat(),
        "expires_at": r.expires_at.isoformat(),
        "closed_at": r.closed_at.isoformat() if r.closed_at else None,
        "closed_by": r.closed_by,
    }


@review.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only the reviews open now.")
@json_option
def listing(open_only: bool, as_json: bool) -> None:
    """Every review (web and DICOM): who opened it, why, and when it ended."""
    with open_archive() as archive:
        rows = archive.reviews(open_only=open_only)
    echo_rows(rows, as_json=as_json, record=_row, line=_line, counted="review(s)")


def _line(r: ReviewInfo) -> str:
    ended = (
        f"closed {r.closed_at:%Y-%m-%d %H:%M}"
        if r.closed_at
        else f"until {r.expires_at:%Y-%m-%d %H:%M}"
    )
    return f"{r.number:>5} {r.subject:<24} {r.opened_by:<16} {ended}  {r.reason}"
