"""Administration: web accounts and known DICOM nodes (pages and API).
Administrators manage; they see no patient data and no images."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from archive import (
    PEOPLE_ROLES,
    ArchiveError,
    NodeInfo,
    NotFound,
    UserInfo,
    gives_up_administration,
    may_administer,
)
from web_viewer.deps import (
    CSRF_HEADER,
    Context,
    Ctx,
    Viewer,
    admitted,
    check_csrf,
    form_password,
    record_page,
)
from web_viewer.errors import BadRequest
from web_viewer.forms import read_form
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["administration"])

Admin = Annotated[Viewer, Depends(admitted(may_administer))]


def _writer(request: Request, viewer: Admin) -> Viewer:
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    return viewer


AdminWriter = Annotated[Viewer, Depends(_writer)]


PeopleRole = Literal["clinician", "photographer", "educator", "governance", "admin"]


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    role: PeopleRole
    password: str = Field(max_length=1024)
    full_name: str = Field(default="", max_length=200)


class NewNode(BaseModel):
    ae_title: str = Field(max_length=16)
    host: str = Field(max_length=255)
    port: int = Field(ge=1, le=65535)
    role: Literal["modality", "epr", "peer", "governance"]
    description: str = Field(default="", max_length=500)
    check_address: bool = True
    transcode: bool = True

    def register(self, ctx: Context, viewer: Viewer) -> NodeInfo:
        """Register this node, by ``viewer``; the form and the JSON API both come here."""
        return ctx.archive.add_node(
            self.ae_title,
            host=self.host,
            port=self.port,
            role=self.role,
            check_address=self.check_address,
            transcode=self.transcode,
            description=self.description,
            requester=viewer.actor,
        )


def _not_yourself(viewer: Viewer, username: str) -> None:
    """An administrator does not disable or demote their own account (from the middle of
    their own session); another administrator can. The archive itself refuses to leave
    no active administrator, whoever asks."""
    if username.strip() == viewer.username:
        raise BadRequest(
            "you cannot disable or demote your own account: another administrator can "
            "(there must always be an active administrator)"
        )


def _user_json(u: UserInfo) -> dict[str, Any]:
    return {
        "username": u.username,
        "full_name": u.full_name,
        "role": str(u.role),
        "disabled": u.disabled,
        "locked": u.locked,
    }


def _node_json(n: NodeInfo) -> dict[str, Any]:
    return {k: (str(v) if k == "role" else v) for k, v in vars(n).items() if not k.startswith("_")}


def _users_page(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    *,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "users.html",
        viewer,
        status=status,
        users=ctx.archive.accounts.list(),
        roles=[str(r) for r in PEOPLE_ROLES],
        error=error,
        done=done,
    )


@pages.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, ctx: Ctx, viewer: Admin) -> Response:
    record_page(ctx, viewer, "users page")
    return _users_page(request, ctx, viewer, done=request.query_params.get("done", ""))


@pages.post("/admin/users")
async def users_submit(request: Request, ctx: Ctx, viewer: Admin) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    action = form.get("action") or "add"
    name = form.get("username")
    accounts = ctx.archive.accounts
    try:
        if action == "add":
            if form_password(form) != form_password(form, "password2"):
                raise BadRequest("the two passwords differ")
            accounts.add(
                name,
                role=form.get("role"),
                password=form_password(form),
                full_name=form.get("full_name"),
                requester=viewer.actor,
            )
        elif action in ("disable", "enable"):
            if gives_up_administration(disable=action == "disable"):
                _not_yourself(viewer, name)
            accounts.set_disabled(name, action == "disable", requester=viewer.actor)
        elif action == "role":
            if gives_up_administration(new_role=form.get("role")):
                _not_yourself(viewer, name)
            accounts.set_role(name, form.get("role"), requester=viewer.actor)
        elif action == "reset":
            accounts.reset_password(name, form_password(form), requester=viewer.actor)
        else:
            raise BadRequest("unknown action")
    except NotFound as exc:
        return _users_page(request, ctx, viewer, error=str(exc), status=404)
    except (ArchiveError, BadRequest) as exc:
        message = exc.message if isinstance(exc, BadRequest) else str(exc)
        return _users_page(request, ctx, viewer, error=message, status=400)
    return RedirectResponse(f"/admin/users?done={action}", status_code=303)


def _nodes_page(
    request: Request, ctx: Ctx, viewer: Viewer, *, error: str = "", status: int = 200
) -> Response:
    return render(
        request, "nodes.html", viewer, status=status, nodes=ctx.archive.nodes(), error=error
    )


@pages.get("/admin/nodes", response_class=HTMLResponse)
def nodes_page(request: Request, ctx: Ctx, viewer: Admin) -> Response:
    record_page(ctx, viewer, "nodes page")
    return _nodes_page(request, ctx, viewer)


@pages.post("/admin/nodes")
async def nodes_submit(request: Request, ctx: Ctx, viewer: Admin) -> Response:
    form = await read_form(request)
    check_csrf(viewer, form.get("csrf_token"))
    try:
        if form.get("action") == "remove":
            ctx.archive.remove_node(form.get("ae_title"), requester=viewer.actor)
        else:
            node = NewNode(
                ae_title=form.get("ae_title"),
                host=form.get("host"),
                port=int(form.get("port") or "0"),
                role=form.get("role"),
                description=form.get("description"),
                check_address=form.get("check_address") == "on",
                transcode=form.get("transcode") == "on",
            )
            node.register(ctx, viewer)
    except (ArchiveError, ValueError) as exc:
        message = str(exc) if isinstance(exc, ArchiveError) else "check the AE title, host and port"
        return _nodes_page(request, ctx, viewer, error=message, status=400)
    return RedirectResponse("/admin/nodes", status_code=303)


# --- JSON API ---------------------------------------------------------------------------
@api.get("/users", summary="Web accounts")
def api_users(ctx: Ctx, viewer: Admin) -> dict[str, Any]:
    return {"users": [_user_json(u) for u in ctx.archive.accounts.list()]}


@api.post("/users", summary="Create a web account", status_code=201)
def api_add_user(body: NewUser, ctx: Ctx, viewer: AdminWriter) -> dict[str, Any]:
    info = ctx.archive.accounts.add(
        body.username,
        role=body.role,
        password=body.password,
        full_name=body.full_name,
        requester=viewer.actor,
    )
    return _user_json(info)


class UserChange(BaseModel):
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)
    role: PeopleRole | None = None


@api.patch(
    "/users/{username}",
    summary="Disable, enable, change the role of, or reset the password of an account",
)
def api_change_user(
    username: str, body: UserChange, ctx: Ctx, viewer: AdminWriter
) -> dict[str, Any]:
    accounts = ctx.archive.accounts
    if gives_up_administration(new_role=body.role, disable=bool(body.disabled)):
        _not_yourself(viewer, username)
    if body.role is not None:
        accounts.set_role(username, body.role, requester=viewer.actor)
    if body.disabled is not None:
        accounts.set_disabled(username, body.disabled, requester=viewer.actor)
    if body.password is not None:
        accounts.reset_password(username, body.password, requester=viewer.actor)
    found = [u for u in accounts.list() if u.username == username.strip()]
    if not found:
        raise NotFound("no such user")
    return _user_json(found[0])


@api.get("/nodes", summary="Known DICOM nodes")
def api_nodes(ctx: Ctx, viewer: Admin) -> dict[str, Any]:
    return {"nodes": [_node_json(n) for n in ctx.archive.nodes()]}


@api.post("/nodes", summary="Register a DICOM node", status_code=201)
def api_add_node(body: NewNode, ctx: Ctx, viewer: AdminWriter) -> dict[str, Any]:
    node = body.register(ctx, viewer)
    return _node_json(node)


@api.delete("/nodes/{ae_title}", summary="Forget a DICOM node")
def api_remove_node(ae_title: str, ctx: Ctx, viewer: AdminWriter) -> dict[str, Any]:
    ctx.archive.remove_node(ae_title, requester=viewer.actor)
    return {"removed": ae_title}
