"""Information-governance screens: the held and quarantined review queue,
quarantine / hold / release / erase with reasons, "who accessed this
patient's images", and the audit-chain verification (pages and API).
Only the governance role acting for the governance purpose reaches them;
everyone else gets 404."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from archive import (
    DEFAULT_REVIEW_HOURS,
    MAX_SESSION_REVIEW_HOURS,
    AccessEvent,
    ArchiveError,
    Availability,
    InvalidArgument,
    Level,
    NotFound,
    ReasonCode,
    ReviewInfo,
    may_open_review,
    may_oversee,
    review_names_patient,
)
from web_viewer.deps import CSRF_HEADER, Ctx, Viewer, admitted, check_csrf, record_page
from web_viewer.errors import BadRequest
from web_viewer.forms import read_form
from web_viewer.routes.common import clean_text, patient_id_or_404, uid_or_400
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["governance"])


Governance = Annotated[Viewer, Depends(admitted(may_oversee))]
# Opening and ending reviews: for governance work, or a subject access request.
Reviewer = Annotated[Viewer, Depends(admitted(may_open_review))]
TARGETS = {
    "quarantine": Availability.QUARANTINED,
    "hold": Availability.HELD,
    "release": Availability.ACTIVE,
    "erase": Availability.ERASED,
}


class AvailabilityChange(BaseModel):
    level: Literal["study", "image"]
    uid: str = Field(max_length=64)
    action: Literal["quarantine", "hold", "release", "erase"]
    reason: str = Field(default="", max_length=1000)
    reason_code: ReasonCode = ReasonCode.GOVERNANCE_REVIEW


def change(ctx: Ctx, viewer: Viewer, body: AvailabilityChange) -> dict[str, Any]:
    uid_or_400(body.uid, "uid")
    if body.action != "release" and not body.reason.strip():
        raise BadRequest("give a reason")
    result = ctx.archive.govern(
        Level.STUDY if body.level == "study" else Level.IMAGE,
        body.uid,
        TARGETS[body.action],
        reason=body.reason.strip() or "released after review",
        requester=viewer.decider(),
        reason_code="" if body.action == "release" else body.reason_code,
    )
    return {
        "target": str(result.target),
        "changed": list(result.changed),
        "unchanged": list(result.unchanged),
        "still_hidden_by_consent": list(result.held_by_consent),
    }


def _queue_json(items: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "sop_instance_uid": r.item.sop_instance_uid,
            "study_instance_uid": r.item.study_instance_uid,
            "patient_id": r.patient.patient_id,
            "availability": r.item.availability,
            "reason": r.item.availability_reason,
            "changed_by": r.changed_by,
            "changed_at": r.changed_at.isoformat() if r.changed_at else None,
        }
        for r in items
    ]


class ReviewOpening(BaseModel):
    """``patient_id``: the patient of a subject-access request (required when the
    session acts for subject access; the review then shows that patient only)."""

    reason: str = Field(max_length=1000)
    hours: float = Field(default=DEFAULT_REVIEW_HOURS, gt=0, le=MAX_SESSION_REVIEW_HOURS)
    patient_id: str = Field(default="", max_length=64)


def open_review(ctx: Ctx, viewer: Viewer, body: ReviewOpening) -> ReviewInfo:
    """Open this session's review; it ends with the session at the latest."""
    if review_names_patient(viewer.session.purpose) and not body.patient_id.strip():
        raise BadRequest("a subject access review names the patient (Patient ID)")
    try:
        return ctx.archive.open_review(
            viewer.review_subject,
            reason=body.reason,
            requester=viewer.actor,
            hours=body.hours,
            not_after=viewer.session.expires_at,
            patient_id=body.patient_id,
        )
    except InvalidArgument as exc:
        raise BadRequest(str(exc)) from None


def close_review(ctx: Ctx, viewer: Viewer) -> list[int]:
    return ctx.archive.close_review(viewer.review_subject, requester=viewer.actor)


def _review_json(review: ReviewInfo) -> dict[str, Any]:
    return {
        "number": review.number,
        "reason": review.reason,
        "patient_id": review.patient_id,
        "opened_at": review.opened_at.isoformat(),
        "expires_at": review.expires_at.isoformat(),
    }


def _review_page(
    request: Request, ctx: Ctx, viewer: Viewer, *, status: int = 200, error: str = ""
) -> Response:
    items, re_consents = [], []
    if viewer.review:
        requester = viewer.requester(review=True)
        items = ctx.archive.review_queue(requester=requester)
        if may_oversee(viewer.role, viewer.session.purpose):  # not for a subject access
            re_consents = ctx.archive.accesses(requester=requester, re_consents_only=True, limit=50)
    return render(
        request,
        "review.html",
        viewer,
        status=status,
        review=viewer.review,
        items=items,
        re_consents=re_consents,
        error=error,
        done=request.query_params.get("done", ""),
        reason_codes=[c.value for c in ReasonCode],
    )


@pages.get("/review", response_class=HTMLResponse)
def review_page(request: Request, ctx: Ctx, viewer: Reviewer) -> Response:
    return _review_page(request, ctx, viewer)


@pages.post("/review/open")
async def review_open(request: Request, ctx: Ctx, viewer: Reviewer) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    try:
        opening = ReviewOpening(
            reason=form.get("reason") or "", patient_id=form.get("patient_id") or ""
        )
        open_review(ctx, viewer, opening)
    except (BadRequest, ValueError) as exc:
        message = exc.message if isinstance(exc, BadRequest) else "give a reason"
        return _review_page(request, ctx, viewer, status=400, error=message)
    return RedirectResponse("/review", status_code=303)


@pages.post("/review/close")
async def review_close(request: Request, ctx: Ctx, viewer: Reviewer) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    close_review(ctx, viewer)
    return RedirectResponse("/review?done=review closed", status_code=303)


@pages.post("/review")
async def review_submit(request: Request, ctx: Ctx, viewer: Governance) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    try:
        body = AvailabilityChange(
            level=form.get("level") or "image",
            uid=form.get("uid"),
            action=form.get("action"),
            reason=form.get("reason"),
            reason_code=form.get("reason_code") or ReasonCode.GOVERNANCE_REVIEW,
        )
    except ValueError:
        raise BadRequest("choose an action and give a reason") from None
    try:
        change(ctx, viewer, body)
    except NotFound:
        raise
    except (ArchiveError, BadRequest) as exc:
        message = exc.message if isinstance(exc, BadRequest) else str(exc)
        return _review_page(request, ctx, viewer, status=400, error=message)
    return RedirectResponse(f"/review?done={body.action}", status_code=303)


@pages.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    ctx: Ctx,
    viewer: Governance,
    patient_id: str = "",
    user: str = "",
    refused: bool = False,
) -> Response:
    events = None
    if patient_id:
        pid = patient_id_or_404(patient_id)
        events = ctx.archive.accesses(
            requester=viewer.requester(), patient_id=pid, refused_only=refused
        )
    elif user:
        name = clean_text(user, "user or AE title", limit=128)
        events = ctx.archive.accesses(
            requester=viewer.requester(), about_actor=name, refused_only=refused
        )
    else:
        record_page(ctx, viewer, "audit page")
    return render(
        request,
        "audit.html",
        viewer,
        patient_id=patient_id,
        user=user,
        refused=refused,
        events=events,
        report=None,
    )


@pages.post("/audit/verify", response_class=HTMLResponse)
async def audit_verify(request: Request, ctx: Ctx, viewer: Governance) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    report = ctx.archive.verify_audit(requester=viewer.actor)
    return render(request, "audit.html", viewer, patient_id="", events=None, report=report)


# --- JSON API ---------------------------------------------------------------------------
def _writer(request: Request, viewer: Governance) -> Viewer:
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    return viewer


GovernanceWriter = Annotated[Viewer, Depends(_writer)]


def _review_writer(request: Request, viewer: Reviewer) -> Viewer:
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    return viewer


ReviewWriter = Annotated[Viewer, Depends(_review_writer)]


@api.get("/review", summary="Held and quarantined recordings (governance review path)")
def api_review(ctx: Ctx, viewer: Governance) -> dict[str, Any]:
    """403 ``review_required`` until this session has opened a review with a reason."""
    requester = viewer.requester(review=True)
    assert viewer.review is not None  # requester() refuses otherwise
    re_consents = ctx.archive.accesses(requester=requester, re_consents_only=True, limit=50)
    return {
        "review": _review_json(viewer.review),
        "items": _queue_json(ctx.archive.review_queue(requester=requester)),
        "re_consents": [
            {
                "occurred_at": e.occurred_at,
                "recorded_by": e.actor,
                "role": e.role,
                "document": e.detail.get("document", ""),
                "supersedes": e.detail.get("supersedes_withdrawal_or_refusal", []),
                "recordings": list(e.object_uids),
            }
            for e in re_consents
        ],
    }


@api.post(
    "/review/open", status_code=201, summary="Open a review of hidden recordings, with a reason"
)
def api_review_open(body: ReviewOpening, ctx: Ctx, viewer: ReviewWriter) -> dict[str, Any]:
    return _review_json(open_review(ctx, viewer, body))


@api.post("/review/close", summary="End this session's review")
def api_review_close(ctx: Ctx, viewer: ReviewWriter) -> dict[str, Any]:
    return {"closed": close_review(ctx, viewer)}


@api.post("/availability", summary="Quarantine, hold, release or erase, with a reason")
def api_availability(
    body: AvailabilityChange, ctx: Ctx, viewer: GovernanceWriter
) -> dict[str, Any]:
    return change(ctx, viewer, body)


@api.get("/audit/patients/{patient_id}", summary="Who accessed this patient's record")
def api_accesses(
    ctx: Ctx, viewer: Governance, patient_id: str, refused: bool = False
) -> dict[str, Any]:
    """``refused=true``: only refused looks and actions (who tried to open these photos)."""
    pid = patient_id_or_404(patient_id)
    events = ctx.archive.accesses(
        requester=viewer.requester(), patient_id=pid, refused_only=refused
    )
    return {"patient_id": patient_id, "events": _events_json(events)}


@api.get("/audit/users/{username}", summary="What one person or DICOM node did")
def api_user_accesses(
    ctx: Ctx, viewer: Governance, username: str, refused: bool = False
) -> dict[str, Any]:
    """``refused=true``: only what they tried and were refused."""
    name = clean_text(username, "user or AE title", limit=128)
    events = ctx.archive.accesses(
        requester=viewer.requester(), about_actor=name, refused_only=refused
    )
    return {"user": name, "events": _events_json(events)}


def _events_json(events: list[AccessEvent]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "at": e.occurred_at,
            "actor": e.actor,
            "role": e.role,
            "purpose": e.purpose,
            "action": e.action,
            "outcome": e.outcome,
            "objects": list(e.object_uids),
            "source": e.source,
            "detail": e.detail,
        }
        for e in events
    ]


@api.post("/audit/verify", summary="Recompute the audit trail's hash chain")
def api_verify(ctx: Ctx, viewer: GovernanceWriter) -> dict[str, Any]:
    report = ctx.archive.verify_audit(requester=viewer.actor)
    return {"ok": report.ok, "events": report.events, "problems": list(report.problems)}
