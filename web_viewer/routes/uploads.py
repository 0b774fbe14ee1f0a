"""Uploading photos and videos into a patient's record.

Files are judged by their content (never their name), converted to DICOM
Visible Light objects by :mod:`archive.convert` and ingested through the
archive's one ingest path. New recordings are held until consent is
recorded; the photographer who uploaded them sees them to get that done.
Anything refused (not a photo or video, too large, unreadable) leaves
nothing stored.

Decoding, conversion and ingest run in a worker thread (never on the event
loop, which keeps answering other requests meanwhile). A picture whose header
declares more than ``PHOTOPACS_MAX_IMAGE_PIXELS`` pixels is refused before it is
decoded, and every conversion first reserves the memory its header says it will
need from ``PHOTOPACS_CONVERSION_MEMORY_BYTES`` (refused if it alone needs more,
else waiting until the conversions running leave room).
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from archive import ArchiveError, NotFound, Origin, may_upload
from archive.convert import (
    CaptureContext,
    ConversionError,
    Demographics,
    ImageTooLarge,
    convert_bytes,
    sniff,
    working_memory,
)
from web_viewer.deps import (
    CSRF_HEADER,
    Ctx,
    Viewer,
    admitted,
    check_csrf,
    record_page,
    staff_name,
)
from web_viewer.errors import BadRequest, TooManyPixels, UploadRejected
from web_viewer.forms import Form, Upload, read_form
from web_viewer.routes.common import clean_text, dicom_date, uid_or_400
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["uploads"])

Uploader = Annotated[Viewer, Depends(admitted(may_upload))]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
KINDS = "JPEG, PNG, TIFF or HEIC photos, or MP4/MOV videos"


def _name(upload: Upload) -> str:
    """A file name fit for an error message (never logged, never stored)."""
    return (_SAFE_NAME.sub("_", upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]) or "file")[
        :80
    ]


def _encode(ds: Any) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def store(ctx: Ctx, viewer: Viewer, form: Form) -> tuple[str, list[str]]:
    """Convert and ingest every file in the form; returns (patient ID, SOP Instance UIDs).

    Blocking (decodes pictures, writes to the index): call it in a worker thread."""
    files = [f for f in form.files.get("files", []) if f.filename or f.size]
    if not files:
        raise BadRequest("choose at least one photo or video to upload")
    for f in files:
        if not f.size:
            raise UploadRejected(f"{_name(f)} is empty")
        if f.size > ctx.settings.max_upload_bytes:
            raise UploadRejected(f"{_name(f)} is larger than the upload limit")
        if sniff(f.head(64)) is None:
            raise UploadRejected(
                f"{_name(f)} is not a photo or video this archive accepts ({KINDS})"
            )
    patient_id = clean_text(form.get("patient_id"), "patient ID")
    if not patient_id:
        raise BadRequest("the patient ID is required")
    family = clean_text(form.get("family_name"), "family name")
    given = clean_text(form.get("given_name"), "given name")
    birth = dicom_date(form.get("birth_date"), "date of birth")
    sex = form.get("sex") or None
    if sex not in (None, "M", "F", "O"):
        raise BadRequest("sex must be M, F or O")
    study = form.get("study")
    if study:
        uid_or_400(study, "study")
        if ctx.archive.patient_of_study(study, requester=viewer.requester()) != patient_id:
            raise BadRequest("that encounter belongs to another patient")
    try:
        demographics = Demographics(
            patient_id=patient_id,
            name=f"{family}^{given}" if family or given else "",
            birth_date=date(int(birth[:4]), int(birth[4:6]), int(birth[6:8])) if birth else None,
            sex=sex,
        )
        context = CaptureContext(
            study_instance_uid=study or None,
            study_description=clean_text(form.get("description"), "description") or None,
            body_site=form.get("body_site") or None,
            operators=(staff_name(viewer),),
            uid_root=ctx.archive.settings.uid_root,
        ).with_uids()
        datasets = []
        for number, f in enumerate(files):
            need = working_memory(f.data, max_pixels=ctx.settings.max_image_pixels)
            with ctx.conversions.reserve(need):
                datasets += convert_bytes(
                    f.data,
                    name=_name(f),
                    demographics=demographics,
                    context=context.next_instance(number),
                    max_pixels=ctx.settings.max_image_pixels,
                )
    except ImageTooLarge as exc:
        raise TooManyPixels(str(exc)) from None
    except ConversionError as exc:
        raise UploadRejected(str(exc)) from None
    origin = Origin(viewer.actor)
    stored = []
    for ds in datasets:
        stored.append(ctx.archive.ingest(_encode(ds), origin=origin).sop_instance_uid)
    return patient_id, stored


@pages.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, ctx: Ctx, viewer: Uploader, patient_id: str = "") -> Response:
    known = None
    if patient_id:
        try:
            known = ctx.archive.timeline(
                clean_text(patient_id, "patient ID"), requester=viewer.requester()
            )
        except (ArchiveError, BadRequest):
            known = None
    if known is None:
        record_page(ctx, viewer, "upload page")
    return render(
        request,
        "upload.html",
        viewer,
        known=known,
        patient_id=patient_id,
        error="",
        limit_mb=ctx.settings.max_upload_bytes // (1024 * 1024),
    )


@pages.post("/upload")
async def upload_submit(request: Request, ctx: Ctx, viewer: Uploader) -> Response:
    with await read_form(request, limit=ctx.settings.max_upload_bytes) as form:
        check_csrf(viewer, form.get("csrf_token"))
        try:
            patient_id, _ = await run_in_threadpool(store, ctx, viewer, form)
        except NotFound:
            raise
        except (BadRequest, UploadRejected, TooManyPixels) as exc:
            message, status = exc.message, exc.status
        except ArchiveError as exc:
            message, status = str(exc), 400
        else:
            return RedirectResponse(
                f"/patients/{patient_id}/consent?done=uploaded", status_code=303
            )
    return render(
        request,
        "upload.html",
        viewer,
        status=status,
        known=None,
        patient_id=form.get("patient_id"),
        error=message,
        limit_mb=ctx.settings.max_upload_bytes // (1024 * 1024),
    )


@api.post(
    "/uploads",
    summary="Upload photos or videos (multipart/form-data) into a patient's record",
    description=(
        "Fields: `files` (one or more), `patient_id`, `family_name`, `given_name`, "
        "`birth_date` (YYYY-MM-DD), `sex` (M/F/O), `body_site`, `description`, optional "
        "`study` (an existing encounter). Recordings are held until consent is recorded."
    ),
)
async def api_upload(request: Request, ctx: Ctx, viewer: Uploader) -> dict[str, Any]:
    check_csrf(viewer, request.headers.get(CSRF_HEADER))
    with await read_form(request, limit=ctx.settings.max_upload_bytes) as form:
        patient_id, stored = await run_in_threadpool(store, ctx, viewer, form)
    return {"patient_id": patient_id, "stored": stored, "availability": "held until consent"}
