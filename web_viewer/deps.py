"""Sessions, the current user, purposes of use, role checks and CSRF.

A browser holds an opaque session token in an HttpOnly, SameSite=Lax cookie
(Secure over TLS); the archive stores only its hash, expires it when idle and
after an absolute lifetime, and issues a fresh one at every sign-in (no
session fixation). Every state-changing request carries the session's CSRF
token: a hidden form field, or the ``X-CSRF-Token`` header for the JSON API.
Scripts may instead send ``Authorization: Bearer <token>`` (from
``POST /api/session``); a browser never adds that header on its own, so such
requests need no CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from archive import (
    Actor,
    Archive,
    NotFound,
    Purpose,
    ReviewInfo,
    Role,
    SessionInfo,
    acts_for_purposes,
    acts_under_review,
    may_open_review,
    review_names_patient,
    session_subject,
)
from archive.convert import MemoryBudget
from web_viewer.errors import AuthRequired, CsrfRejected, PurposeRequired, ReviewRequired
from web_viewer.forms import Form
from web_viewer.settings import WebSettings

SESSION_COOKIE = "photopacs_session"
LOGIN_COOKIE = "photopacs_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Context:
    """What every request needs: the archive, the settings, the cache folder."""

    archive: Archive
    settings: WebSettings
    cache_dir: Path
    conversions: MemoryBudget  # the memory ceiling for converting uploads


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(context)]


def client_source(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass(frozen=True)
class Viewer:
    """A signed-in person, their session, and how the request authenticated."""

    session: SessionInfo
    token: str
    source: str
    bearer: bool
    review: ReviewInfo | None = None  # the session's open governance review, if any

    @property
    def review_subject(self) -> str:
        return session_subject(self.session.token_hash)

    @property
    def role(self) -> Role:
        return self.session.role

    @property
    def username(self) -> str:
        return self.session.username

    @property
    def purpose_label(self) -> str:
        s = self.session
        if s.purpose is None:
            return ""
        if s.purpose is Purpose.SPECIFIED:
            return f"specified: {s.specified_purpose}"
        return str(s.purpose)

    @property
    def actor(self) -> Actor:
        """Who this person is to the archive: name, role, the purpose of use if one is
        chosen (an administrator has none), client address. What records account,
        node and review changes; reads take :meth:`requester`."""
        return Actor(
            actor=self.username,
            role=self.role,
            purpose=self.session.purpose,
            source=self.source,
            specified_purpose=self.session.specified_purpose,
        )

    def requester(self, *, review: bool = False) -> Actor:
        """The archive's view of this person now; raises when no purpose is chosen,
        or (``review``) when this session has no open review with a stated reason."""
        if self.session.purpose is None:
            raise PurposeRequired("choose a purpose of use first")
        if review and self.review is None:
            raise ReviewRequired("open a review with a stated reason first")
        # A subject-access look carries the review that names its patient.
        carried = review or review_names_patient(self.session.purpose)
        attached = self.review if carried else None
        return replace(
            self.actor,
            review=review,
            review_reason=attached.reason if attached else "",
            review_number=attached.number if attached else None,
            review_patient=attached.patient_id if attached else "",
        )

    def decider(self) -> Actor:
        """Who decides (consent, availability): within an open review, for those
        the policy lets act under it, also over what the review shows."""
        purpose = self.session.purpose
        return self.requester(
            review=acts_under_review(self.role, purpose, review_open=self.review is not None)
        )


def form_password(form: Form, name: str = "password") -> str:
    """A password field exactly as typed: unlike other form fields it is not stripped,
    so a password works the same through the forms and through the JSON API."""
    values = form.fields.get(name)
    return values[0] if values else ""


def session_token(request: Request) -> tuple[str, bool]:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), True
    return request.cookies.get(SESSION_COOKIE, ""), False


def optional_viewer(request: Request, ctx: Ctx) -> Viewer | None:
    token, bearer = session_token(request)
    if not token or len(token) > 256:
        return None
    info = ctx.archive.accounts.session(token)
    if info is None:
        return None
    review = None
    if may_open_review(info.role, info.purpose):
        review = ctx.archive.current_review(session_subject(info.token_hash))
    return Viewer(
        session=info, token=token, source=client_source(request), bearer=bearer, review=review
    )


def current_viewer(viewer: Annotated[Viewer | None, Depends(optional_viewer)]) -> Viewer:
    if viewer is None:
        raise AuthRequired("sign in first")
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def working_viewer(viewer: CurrentViewer) -> Viewer:
    """A signed-in person who may look at recordings and has chosen a purpose."""
    if not acts_for_purposes(viewer.role):
        raise NotFound("not available to administrators")
    if viewer.session.purpose is None:
        raise PurposeRequired("choose a purpose of use first")
    return viewer


Working = Annotated[Viewer, Depends(working_viewer)]


def admitted(rule: Callable[[Role, Purpose | None], bool]) -> Callable[[Viewer], Viewer]:
    """A dependency that admits whom the policy ``rule`` (``archive.may_...``) lets in
    with their role and purpose; someone whose role it would let in under some
    purpose must choose one first; everyone else sees 404 (default deny)."""

    def check(viewer: CurrentViewer) -> Viewer:
        purpose = viewer.session.purpose
        if rule(viewer.role, purpose):
            return viewer
        if purpose is None and any(rule(viewer.role, p) for p in Purpose):
            raise PurposeRequired("choose a purpose of use first")
        raise NotFound("not found")

    return check


def check_csrf(viewer: Viewer, supplied: str | None) -> None:
    if viewer.bearer:
        return
    expected = viewer.session.csrf_token
    if not supplied or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise CsrfRejected("the form or request is missing a valid CSRF token; reload the page")


def api_csrf(request: Request, viewer: CurrentViewer) -> Viewer:
    """For JSON API writes: the session's CSRF token in the X-CSRF-Token header."""
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    return viewer


ApiWriter = Annotated[Viewer, Depends(api_csrf)]


def cookie_secure(request: Request, settings: WebSettings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, settings: WebSettings, token: str
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def record_page(ctx: Context, viewer: Viewer, what: str, *, patient_id: str = "") -> None:
    """Audit a page view that no archive read audits already."""
    from archive import Action, AuditEntry, Outcome

    ctx.archive.record_event(
        AuditEntry(
            actor=viewer.username,
            role=str(viewer.role),
            purpose=viewer.purpose_label.replace(": ", ":"),
            action=Action.VIEW,
            outcome=Outcome.SUCCESS,
            patient_id=patient_id,
            source=viewer.source,
            detail={"what": what},
        )
    )


def staff_name(viewer: Viewer) -> str:
    """The signed-in person as a DICOM person name (``Family^Given``)."""
    full = viewer.session.full_name.strip()
    if "^" in full:
        return full[:64]
    parts = full.split()
    if len(parts) >= 2:
        return f"{parts[-1]}^{' '.join(parts[:-1])}"[:64]
    return f"{full or viewer.username}^"[:64]


def working_csrf(request: Request, viewer: Working) -> Viewer:
    """A JSON API write by someone working under a purpose (CSRF header checked)."""
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    return viewer


WorkingWriter = Annotated[Viewer, Depends(working_csrf)]
