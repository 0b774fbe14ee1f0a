"""Server-rendered pages: one Jinja2 environment (autoescaping on), and the
context every page gets (who is signed in, the purpose banner, the CSRF token)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from archive import may_administer, may_oversee, may_upload
from web_viewer.deps import CSRF_FIELD, Viewer
from web_viewer.media import is_document, is_video

TEMPLATES = Path(__file__).parent / "templates"

PURPOSE_TEXT = {
    "care": "Direct care",
    "teaching": "Teaching",
    "specified": "Specified purpose",
    "governance": "Governance review",
    "subject-access": "Subject access request",
}
ROLE_TEXT = {
    "clinician": "Clinician",
    "photographer": "Medical photographer",
    "educator": "Educator",
    "governance": "Information governance",
    "admin": "Administrator",
}


def dicom_date(value: str) -> str:
    if len(value) >= 8 and value[:8].isdigit():
        try:
            return datetime.strptime(value[:8], "%Y%m%d").strftime("%d %b %Y")
        except ValueError:
            return value
    return value or "—"


def dicom_time(value: str) -> str:
    digits = value.replace(":", "")
    if len(digits) >= 4 and digits[:4].isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    return ""


def person(value: str) -> str:
    """A DICOM person name for display: ``Family^Given`` -> ``Given Family``."""
    alphabetic = value.split("=")[0]
    parts = [p for p in alphabetic.split("^") if p]
    if len(parts) >= 2:
        return " ".join([*parts[1:3], parts[0]]).strip()
    return parts[0] if parts else ""


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed.strftime("%d %b %Y %H:%M")
    return value.strftime("%d %b %Y %H:%M")


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dicom_date"] = dicom_date
    env.filters["dicom_time"] = dicom_time
    env.filters["person"] = person
    env.filters["when"] = when
    env.tests["video"] = is_video  # {% if item is video %}
    env.tests["document"] = is_document
    env.globals["PURPOSE_TEXT"] = PURPOSE_TEXT
    env.globals["ROLE_TEXT"] = ROLE_TEXT
    return env


def nav_for(viewer: Viewer | None) -> list[tuple[str, str]]:
    if viewer is None:
        return []
    role, purpose = viewer.role, viewer.session.purpose
    if may_administer(role, purpose):
        return [("/admin/users", "Users"), ("/admin/nodes", "DICOM nodes")]
    if purpose is None:
        return []
    items = [("/patients", "Patients")]
    if may_upload(role, purpose):
        items.append(("/upload", "Upload"))
    if may_oversee(role, purpose):
        items += [("/review", "Review queue"), ("/audit", "Audit")]
    return items


def render(
    request: Request,
    name: str,
    viewer: Viewer | None,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    purpose = viewer.session.purpose if viewer else None
    html = env.get_template(name).render(
        request=request,
        viewer=viewer,
        csrf_field=CSRF_FIELD,
        csrf_token=viewer.session.csrf_token if viewer else "",
        purpose=str(purpose) if purpose else "",
        purpose_text=PURPOSE_TEXT.get(str(purpose), "") if purpose else "",
        specified_purpose=viewer.session.specified_purpose if viewer else "",
        nav=nav_for(viewer),
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status_code=status)
