"""The consent panel: history, what each recording may be used for, and the
forms that record consent, refusal, pending consent, vital interests and
withdrawal (pages and API). The rules are enforced by the archive (consent_sr
validation and the consent decision table); the form adds what a person must
be told up front: a child needs written consent and the circumstances.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from archive import (
    ADULT_AGE,
    ArchiveError,
    ConsentRequest,
    Level,
    NotFound,
    Overview,
    age_on,
    may_oversee,
    may_record_consent,
)
from consent_sr import ConsentStatus
from web_viewer.deps import Ctx, Viewer, Working, WorkingWriter, check_csrf, staff_name
from web_viewer.errors import BadRequest, UploadRejected
from web_viewer.forms import Form, read_form
from web_viewer.routes.common import patient_id_or_404, uid_or_400
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["consent"])

PDF_LIMIT = 20 * 1024 * 1024


class ConsentBody(BaseModel):
    """A consent decision. ``decision`` ``given`` needs ``level``, ``consenter`` and
    ``form``; level ``specified`` needs a specific ``purpose``; a child needs
    ``form`` ``written`` and ``circumstances``; ``vital-interests`` needs
    ``authorised_by`` (``Family^Given``)."""

    study_instance_uid: str = Field(max_length=64)
    instances: list[str] = Field(default_factory=list, max_length=1000)
    decision: Literal["given", "refused", "pending-retrospective", "vital-interests"]
    level: Literal["record", "teaching", "specified"] | None = None
    purpose: str | None = Field(default=None, max_length=1000)
    also_teaching: bool = False
    consenter: str | None = Field(default=None, max_length=32)
    consenter_name: str | None = Field(default=None, max_length=200)
    form: Literal["written", "verbal-recorded"] | None = None
    circumstances: str | None = Field(default=None, max_length=2000)
    intimate_justification: str | None = Field(default=None, max_length=2000)
    authorised_by: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=2000)
    form_pdf_base64: str | None = Field(default=None, max_length=PDF_LIMIT * 2)


class WithdrawBody(BaseModel):
    study_instance_uid: str = Field(max_length=64)
    instances: list[str] = Field(default_factory=list, max_length=1000)
    consenter: str | None = Field(default=None, max_length=32)
    consenter_name: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=2000)


def _requesters(viewer: Viewer) -> list[Any]:
    """The looks that find the study: oversight decides within an open review only
    (until one is open, ``review_required``)."""
    base = viewer.requester()
    if may_oversee(viewer.role, base.purpose):
        return [base, viewer.requester(review=True)]
    return [base]


def _may_record(viewer: Viewer) -> bool:
    return may_record_consent(viewer.role, viewer.session.purpose)


def overview(
    ctx: Ctx, viewer: Viewer, patient_id: str, *, review: bool = False
) -> tuple[Overview, set[str]]:
    """The patient's consent overview as the archive's access policy lets the viewer
    see it (``review``: the governance review path's held and quarantined
    recordings), with the studies it shows."""
    result = ctx.archive.consent_overview(patient_id, requester=viewer.requester(review=review))
    return result, {i.study_instance_uid for i in result.instances}


def _check_study(ctx: Ctx, viewer: Viewer, patient_id: str, study: str) -> None:
    uid_or_400(study, "study")
    for requester in _requesters(viewer):
        try:
            if ctx.archive.patient_of_study(study, requester=requester) == patient_id:
                return
        except NotFound:
            continue
    raise NotFound("no such study")


def _is_child(ctx: Ctx, viewer: Viewer, patient_id: str) -> bool:
    found = ctx.archive.find(
        Level.PATIENT,
        {"PatientID": patient_id, "PatientBirthDate": ""},
        requester=viewer.requester(),
        limit=1,
    )
    birth = str(found[0].get("PatientBirthDate") or "") if found else ""
    age = age_on(birth, datetime.now(UTC).strftime("%Y%m%d"))
    return age is not None and age < ADULT_AGE


def record(ctx: Ctx, viewer: Viewer, patient_id: str, body: ConsentBody, pdf: bytes | None) -> Any:
    if not _may_record(viewer):
        raise NotFound("not found")
    _check_study(ctx, viewer, patient_id, body.study_instance_uid)
    if pdf is not None and not pdf.startswith(b"%PDF-"):
        raise UploadRejected("the signed form must be a PDF file")
    decision = body.decision
    fields: dict[str, Any] = {}
    if decision == "given":
        if body.level is None:
            raise BadRequest("choose the consent level")
        if body.level == "specified" and not (body.purpose or "").strip():
            raise BadRequest("level 3 needs the specific purpose (e.g. the named journal)")
        if _is_child(ctx, viewer, patient_id) and (
            body.form != "written" or not (body.circumstances or "").strip()
        ):
            raise BadRequest(
                "the patient is a child: consent must be written and the circumstances recorded"
            )
        status = ConsentStatus.GIVEN
        fields = {
            "level": body.level,
            "purpose": (body.purpose or "").strip() or None if body.level == "specified" else None,
            "also_teaching": body.also_teaching and body.level == "specified",
            "consenter": body.consenter,
            "consenter_name": body.consenter_name or None,
            "form": body.form,
            "circumstances": body.circumstances or None,
            "intimate_justification": body.intimate_justification or None,
        }
    elif decision == "refused":
        status = ConsentStatus.REFUSED
        fields = {"consenter": body.consenter, "consenter_name": body.consenter_name or None}
    elif decision == "pending-retrospective":
        status = ConsentStatus.PENDING_RETROSPECTIVE
    else:
        status = ConsentStatus.IMPLICIT
        fields = {
            "basis": "vital-interests",
            "authorised_by": body.authorised_by or None,
            "intimate_justification": body.intimate_justification or None,
        }
    request = ConsentRequest(
        study_instance_uid=body.study_instance_uid,
        status=status,
        recorded_by=staff_name(viewer),
        instances=tuple(uid_or_400(u, "instance") for u in body.instances),
        comment=body.comment or None,
        form_pdf=pdf,
        **fields,
    )
    return ctx.archive.record_consent(request, requester=viewer.decider())


def withdraw(ctx: Ctx, viewer: Viewer, patient_id: str, body: WithdrawBody) -> Any:
    if not _may_record(viewer):
        raise NotFound("not found")
    _check_study(ctx, viewer, patient_id, body.study_instance_uid)
    request = ConsentRequest(
        study_instance_uid=body.study_instance_uid,
        status=ConsentStatus.WITHDRAWN,
        recorded_by=staff_name(viewer),
        instances=tuple(uid_or_400(u, "instance") for u in body.instances),
        consenter=body.consenter or "patient",
        consenter_name=body.consenter_name or None,
        comment=body.comment or None,
    )
    return ctx.archive.record_consent(request, requester=viewer.decider())


def _pn(form: Form, prefix: str) -> str | None:
    family, given = form.get(f"{prefix}_family"), form.get(f"{prefix}_given")
    return f"{family}^{given}" if family or given else None


def body_from_form(form: Form) -> ConsentBody:
    try:
        return ConsentBody(
            study_instance_uid=form.get("study"),
            instances=form.getlist("instances"),
            decision=form.get("decision") or "given",
            level=form.get("level") or None,
            purpose=form.get("purpose") or None,
            also_teaching=form.flag("also_teaching"),
            consenter=form.get("consenter") or None,
            consenter_name=_pn(form, "consenter"),
            form=form.get("form") or None,
            circumstances=form.get("circumstances") or None,
            intimate_justification=form.get("intimate_justification") or None,
            authorised_by=_pn(form, "authorised_by"),
            comment=form.get("comment") or None,
        )
    except ValueError as exc:
        raise BadRequest(f"the consent form is incomplete or invalid: {_first(exc)}") from None


def _first(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"
    return "invalid value"


def _panel(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    patient_id: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    review = request.query_params.get("review") == "1"
    view, studies = overview(ctx, viewer, patient_id, review=review)
    return render(
        request,
        "consent.html",
        viewer,
        status=status,
        overview=view,
        studies=sorted(studies),
        may_record=_may_record(viewer),
        error=error,
        done=request.query_params.get("done", ""),
        review=review,
    )


@pages.get("/patients/{patient_id}/consent", response_class=HTMLResponse)
def consent_page(request: Request, ctx: Ctx, viewer: Working, patient_id: str) -> Response:
    return _panel(request, ctx, viewer, patient_id_or_404(patient_id))


@pages.post("/patients/{patient_id}/consent")
async def consent_submit(request: Request, ctx: Ctx, viewer: Working, patient_id: str) -> Response:
    pid = patient_id_or_404(patient_id)
    form = await read_form(request, limit=PDF_LIMIT)
    check_csrf(viewer, form.get("csrf_token"))
    pdf_files = [f for f in form.files.get("form_pdf", []) if f.data]
    try:
        if form.get("action") == "withdraw":
            body = WithdrawBody(
                study_instance_uid=form.get("study"),
                instances=form.getlist("instances"),
                consenter=form.get("consenter") or None,
                consenter_name=_pn(form, "consenter"),
                comment=form.get("comment") or None,
            )
            withdraw(ctx, viewer, pid, body)
            done = "withdrawn"
        else:
            record(ctx, viewer, pid, body_from_form(form), pdf_files[0].data if pdf_files else None)
            done = "recorded"
    except (ArchiveError, BadRequest, UploadRejected) as exc:
        if isinstance(exc, NotFound):
            raise
        message = exc.message if isinstance(exc, BadRequest | UploadRejected) else str(exc)
        return _panel(request, ctx, viewer, pid, error=message, status=400)
    review = "&review=1" if request.query_params.get("review") == "1" else ""
    return RedirectResponse(f"/patients/{pid}/consent?done={done}{review}", status_code=303)


# --- JSON API ---------------------------------------------------------------------------
def _overview_json(view: Overview) -> dict[str, Any]:
    return {
        "patient_id": view.patient_id,
        "history": view.history,
        "instances": [
            {
                "sop_instance_uid": i.sop_instance_uid,
                "study_instance_uid": i.study_instance_uid,
                "availability": i.availability,
                "reason": i.reason,
                "uses": i.uses,
                "governing_consent": i.governing_consent,
            }
            for i in view.instances
        ],
    }


def _recorded_json(result: Any) -> dict[str, Any]:
    return {
        "document": result.document,
        "signed_form": result.signed_form,
        "superseded": list(result.superseded),
        "availability": result.availability,
    }


@api.get("/patients/{patient_id}/consent", summary="Consent history and current uses")
def api_consent(ctx: Ctx, viewer: Working, patient_id: str, review: bool = False) -> dict[str, Any]:
    view, _ = overview(ctx, viewer, patient_id_or_404(patient_id), review=review)
    return _overview_json(view)


@api.post("/patients/{patient_id}/consent", summary="Record a consent decision")
def api_record(
    body: ConsentBody, ctx: Ctx, viewer: WorkingWriter, patient_id: str
) -> dict[str, Any]:
    pdf = None
    if body.form_pdf_base64:
        try:
            pdf = base64.b64decode(body.form_pdf_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("form_pdf_base64 is not base64") from None
    return _recorded_json(record(ctx, viewer, patient_id_or_404(patient_id), body, pdf))


@api.post("/patients/{patient_id}/consent/withdraw", summary="Withdraw consent")
def api_withdraw(
    body: WithdrawBody, ctx: Ctx, viewer: WorkingWriter, patient_id: str
) -> dict[str, Any]:
    return _recorded_json(withdraw(ctx, viewer, patient_id_or_404(patient_id), body))
