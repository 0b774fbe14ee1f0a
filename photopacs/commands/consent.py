"""`photopacs consent ...`: record, withdraw, refuse and show consent to clinical
photography. Each decision becomes a consent SR in the study it covers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from archive import Actor, ConsentRequest
from consent_sr import ConsentStatus
from photopacs.common import json_option, operator, with_archive

LEVELS = {"1": "record", "2": "teaching", "3": "specified"}
BY = {
    "patient": "patient",
    "parent": "parent",
    "guardian": "legal-guardian",
    "fraser-child": "fraser-competent-child",
    "representative": "representative",  # lawful authority for an adult lacking capacity
    "personal-representative": "personal-representative",  # of a deceased patient
}
FORMS = {"written": "written", "verbal": "verbal-recorded"}


def _selectors(func: Any) -> Any:
    func = click.option(
        "--instances",
        multiple=True,
        help="SOP Instance UIDs (repeatable); default: every recording in the study.",
    )(func)
    return click.option("--study", required=True, help="Study Instance UID.")(func)


def _who(func: Any) -> Any:
    func = click.option(
        "--name", help="Name of the consenter when not the patient (Family^Given)."
    )(func)
    return click.option(
        "--by",
        type=click.Choice(list(BY)),
        default="patient",
        show_default=True,
        help="Who made the decision.",
    )(func)


def _recorded_by(func: Any) -> Any:
    return click.option(
        "--recorded-by",
        required=True,
        help="The person recording the decision, Family^Given (e.g. the photographer).",
    )(func)


@click.group()
def consent() -> None:
    """Consent to clinical photography, stored as DICOM SR beside the images."""


def _record(request: ConsentRequest) -> None:
    requester = Actor.operator(operator())
    outcome = with_archive(lambda a: a.record_consent(request, requester=requester))
    states: dict[str, int] = {}
    for state in outcome.availability.values():
        states[state] = states.get(state, 0) + 1
    click.echo(f"recorded consent document {outcome.document}")
    if outcome.signed_form:
        click.echo(f"signed form stored as {outcome.signed_form}")
    if outcome.superseded:
        click.echo(f"supersedes {', '.join(outcome.superseded)}")
    click.echo("covered instances: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))


@consent.command("record")
@_selectors
@click.option(
    "--level",
    type=click.Choice(list(LEVELS)),
    required=True,
    help="1 medical record only; 2 record and teaching; 3 a specified purpose.",
)
@click.option("--purpose", help="Level 3: the specific purpose, e.g. a named journal article.")
@click.option("--also-teaching", is_flag=True, help="Level 3: teaching is permitted too.")
@_who
@click.option(
    "--form", type=click.Choice(list(FORMS)), required=True, help="How consent was given."
)
@click.option(
    "--form-pdf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The scanned signed consent form (PDF).",
)
@click.option("--circumstances", help="Circumstances (required for a child).")
@click.option("--intimate-justification", help="Clinical justification for intimate areas.")
@_recorded_by
def record(
    study: str,
    instances: tuple[str, ...],
    level: str,
    purpose: str | None,
    also_teaching: bool,
    by: str,
    name: str | None,
    form: str,
    form_pdf: Path | None,
    circumstances: str | None,
    intimate_justification: str | None,
    recorded_by: str,
) -> None:
    """Record consent given at level 1, 2 or 3."""
    pdf = form_pdf.read_bytes() if form_pdf else None
    _record(
        ConsentRequest(
            study_instance_uid=study,
            instances=instances,
            status=ConsentStatus.GIVEN,
            level=LEVELS[level],
            purpose=purpose,
            also_teaching=also_teaching,
            consenter=BY[by],
            consenter_name=name,
            form=FORMS[form],
            form_pdf=pdf,
            circumstances=circumstances,
            intimate_justification=intimate_justification,
            recorded_by=recorded_by,
        )
    )


def _decision_against(command_name: str, status: ConsentStatus, help: str) -> None:
    """Register a decision against use (a withdrawal, a refusal): who decided and for
    which recordings, nothing more; the archive quarantines them at once."""

    @consent.command(command_name, help=help)
    @_selectors
    @_who
    @_recorded_by
    def command(
        study: str, instances: tuple[str, ...], by: str, name: str | None, recorded_by: str
    ) -> None:
        _record(
            ConsentRequest(
                study_instance_uid=study,
                instances=instances,
                status=status,
                consenter=BY[by],
                consenter_name=name,
                recorded_by=recorded_by,
            )
        )


_decision_against(
    "withdraw",
    ConsentStatus.WITHDRAWN,
    "Withdraw consent: the recordings are quarantined (kept, invisible) at once.",
)
_decision_against(
    "refuse",
    ConsentStatus.REFUSED,
    "Record a refusal (e.g. after recording an unconscious patient): quarantined.",
)


@consent.command("pending")
@_selectors
@_recorded_by
def pending(study: str, instances: tuple[str, ...], recorded_by: str) -> None:
    """Recorded without consent (e.g. unconscious patient): held until a decision."""
    _record(
        ConsentRequest(
            study_instance_uid=study,
            instances=instances,
            status=ConsentStatus.PENDING_RETROSPECTIVE,
            recorded_by=recorded_by,
        )
    )


@consent.command("vital-interests")
@_selectors
@click.option(
    "--authorised-by", required=True, help="The consultant who authorised recording (Family^Given)."
)
@click.option(
    "--intimate-justification", help="Clinical justification for recording intimate areas (R11)."
)
@_recorded_by
def vital_interests(
    study: str,
    instances: tuple[str, ...],
    authorised_by: str,
    intimate_justification: str | None,
    recorded_by: str,
) -> None:
    """Consultant-authorised recording without consent: medical-record use only (R9)."""
    _record(
        ConsentRequest(
            study_instance_uid=study,
            instances=instances,
            status=ConsentStatus.IMPLICIT,
            basis="vital-interests",
            authorised_by=authorised_by,
            intimate_justification=intimate_justification,
            recorded_by=recorded_by,
        )
    )


@consent.command("show")
@click.option("--patient", "patient_id", required=True, help="Patient ID.")
@json_option
def show(patient_id: str, as_json: bool) -> None:
    """A patient's consent history, and what each recording may be used for now."""
    requester = Actor.operator(operator())
    result = with_archive(lambda a: a.consent_overview(patient_id, requester=requester))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "patient_id": result.patient_id,
                    "history": result.history,
                    "instances": [vars(i) for i in result.instances],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"consent history of patient {patient_id}:")
    for h in result.history:
        level = f" level {h['level']}" if h["level"] else ""
        purpose = f" ({h['purpose']})" if h["purpose"] else ""
        click.echo(
            f"  {h['decided_at']}  {h['status']}{level}{purpose}  by {h['consenter'] or '-'}"
            f"  document {h['document']}"
        )
    click.echo("recordings:")
    for i in result.instances:
        uses = ", ".join(i.uses) or "no use"
        click.echo(f"  {i.sop_instance_uid}  {i.availability} ({i.reason})  {uses}")
