"""Signing in and out, and choosing the purpose of use (pages and API)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from archive import (
    AuthenticationFailed,
    InvalidArgument,
    Purpose,
    Role,
    SignInThrottled,
    acts_for_purposes,
    role_may_act_for,
)
from web_viewer.deps import (
    LOGIN_COOKIE,
    ApiWriter,
    Ctx,
    CurrentViewer,
    Viewer,
    check_csrf,
    clear_session_cookie,
    client_source,
    cookie_secure,
    form_password,
    optional_viewer,
    record_page,
    set_session_cookie,
)
from web_viewer.errors import CsrfRejected
from web_viewer.forms import read_form
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["session"])

MaybeViewer = Annotated[Viewer | None, Depends(optional_viewer)]


def _failed(ctx: Ctx) -> str:
    """The one answer to every refused sign-in (it never says which check failed)."""
    pause = ctx.archive.settings.signin_backoff_max_seconds
    return (
        "Wrong user name or password, or the account is disabled. After several failed "
        f"attempts, signing in to an account pauses for up to {pause} seconds."
    )


def _landing(role: Role) -> str:
    return "/purpose" if acts_for_purposes(role) else "/admin/users"


def _login_page(request: Request, ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, login_token=token, error=error)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, ctx.settings),
        path="/login",
        max_age=3600,
    )
    return response


def _sign_out(ctx: Ctx, viewer: Viewer) -> None:
    """End the session, and the governance review it had open."""
    if viewer.review is not None:
        ctx.archive.close_review(viewer.review_subject, requester=viewer.actor)
    ctx.archive.accounts.sign_out(viewer.token)


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, viewer: MaybeViewer) -> Response:
    if viewer is not None:
        return RedirectResponse(_landing(viewer.role), status_code=303)
    return _login_page(request, ctx)


@pages.post("/login")
async def login(request: Request, ctx: Ctx, viewer: MaybeViewer) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    supplied = form.get("login_token")
    if not expected or not hmac.compare_digest(expected.encode(), supplied.encode()):
        return _login_page(
            request, ctx, error="The sign-in form expired; please try again.", status=403
        )
    try:
        token, session = ctx.archive.accounts.sign_in(
            form.get("username"), form_password(form), source=client_source(request)
        )
    except AuthenticationFailed:
        return _login_page(request, ctx, error=_failed(ctx), status=401)
    except SignInThrottled as exc:
        page = _login_page(
            request,
            ctx,
            error=(
                "Too many failed sign-ins from your address. Please wait "
                f"{exc.retry_after} seconds before trying again."
            ),
            status=429,
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if viewer is not None:  # a new session replaces any old one
        _sign_out(ctx, viewer)
    response = RedirectResponse(_landing(session.role), status_code=303)
    set_session_cookie(response, request, ctx.settings, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@pages.post("/logout")
async def logout(request: Request, ctx: Ctx, viewer: CurrentViewer) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    _sign_out(ctx, viewer)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    return response


def _choices(role: Role) -> list[str]:
    order = [Purpose.CARE, Purpose.TEACHING, Purpose.SPECIFIED, Purpose.GOVERNANCE]
    order.append(Purpose.SUBJECT_ACCESS)
    return [str(p) for p in order if role_may_act_for(role, p)]


@pages.get("/purpose", response_class=HTMLResponse)
def purpose_page(request: Request, ctx: Ctx, viewer: CurrentViewer) -> Response:
    if not acts_for_purposes(viewer.role):
        return RedirectResponse("/admin/users", status_code=303)
    record_page(ctx, viewer, "purpose page")
    return render(request, "purpose.html", viewer, choices=_choices(viewer.role), error="")


@pages.post("/purpose")
async def choose_purpose(request: Request, ctx: Ctx, viewer: CurrentViewer) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    try:
        purpose = Purpose(form.get("purpose"))
        ctx.archive.accounts.set_purpose(viewer.token, purpose, form.get("specified_purpose"))
    except (ValueError, InvalidArgument) as exc:
        message = str(exc) if isinstance(exc, InvalidArgument) else "choose one of the purposes"
        return render(
            request,
            "purpose.html",
            viewer,
            status=400,
            choices=_choices(viewer.role),
            error=message,
        )
    return RedirectResponse("/patients", status_code=303)


# --- JSON API ---------------------------------------------------------------------------
class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class PurposeChoice(BaseModel):
    purpose: Purpose
    specified_purpose: str = Field(default="", max_length=500)


def session_json(viewer_or_info: Viewer) -> dict[str, object]:
    s = viewer_or_info.session
    return {
        "username": s.username,
        "full_name": s.full_name,
        "role": str(s.role),
        "purpose": str(s.purpose) if s.purpose else None,
        "specified_purpose": s.specified_purpose,
        "allowed_purposes": _choices(s.role),
        "csrf_token": s.csrf_token,
        "expires_at": s.expires_at.isoformat(),
    }


@api.post(
    "/session",
    summary="Sign in; returns the session token and CSRF token",
    responses={
        401: {"description": "Refused (`sign_in_failed`): one answer for every reason"},
        429: {
            "description": (
                "Too many failed sign-ins from this address (`too_many_attempts`); "
                "the `Retry-After` header says how many seconds to wait"
            )
        },
    },
)
def api_login(body: Credentials, request: Request, ctx: Ctx, viewer: MaybeViewer) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise CsrfRejected("sign in with a JSON body")
    try:
        token, session = ctx.archive.accounts.sign_in(
            body.username, body.password, source=client_source(request)
        )
    except AuthenticationFailed:
        return JSONResponse(
            {"error": {"code": "sign_in_failed", "message": _failed(ctx)}}, status_code=401
        )
    except SignInThrottled as exc:
        return JSONResponse(
            {"error": {"code": "too_many_attempts", "message": str(exc)}},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if viewer is not None:
        _sign_out(ctx, viewer)
    fresh = Viewer(session=session, token=token, source=client_source(request), bearer=False)
    response = JSONResponse({"token": token, **session_json(fresh)})
    set_session_cookie(response, request, ctx.settings, token)
    return response


@api.get("/session", summary="Who is signed in, in which role, for which purpose")
def api_whoami(viewer: CurrentViewer) -> dict[str, object]:
    return session_json(viewer)


@api.delete("/session", summary="Sign out")
def api_logout(ctx: Ctx, viewer: ApiWriter) -> Response:
    _sign_out(ctx, viewer)
    response = JSONResponse({"signed_out": True})
    clear_session_cookie(response)
    return response


@api.put("/session/purpose", summary="Choose the purpose of use for this session")
def api_purpose(body: PurposeChoice, ctx: Ctx, viewer: ApiWriter) -> dict[str, object]:
    info = ctx.archive.accounts.set_purpose(viewer.token, body.purpose, body.specified_purpose)
    return session_json(
        Viewer(session=info, token=viewer.token, source=viewer.source, bearer=False)
    )
