"""One recording: its page, thumbnail, full picture, video and DICOM download.

Each read asks the archive for the instance through the access policy
(:meth:`Archive.image`), which audits the look; an instance
the requester may not see is a 404, whatever the URL. Patient content is
sent with ``Cache-Control: private, no-store`` so no shared cache keeps it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from archive import ImageRecord, NotFound
from web_viewer.deps import Ctx, Working
from web_viewer.media import (
    MediaCache,
    NotRenderable,
    body_site,
    describe,
    etag,
    is_document,
    is_video,
)
from web_viewer.routes.common import uid_or_404
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["images"])

NO_STORE = {
    "Cache-Control": "private, no-store, max-age=0",
    "Pragma": "no-cache",
    "Vary": "Cookie, Authorization",
}


def _look(ctx: Ctx, viewer: Working, uid: str, review: bool, what: str) -> ImageRecord:
    return ctx.archive.image(uid_or_404(uid), requester=viewer.requester(review=review), what=what)


def _media(request: Request) -> MediaCache:
    cache: MediaCache = request.app.state.media
    return cache


def _headers(tag: str) -> dict[str, str]:
    return {**NO_STORE, "ETag": tag}


def _not_modified(request: Request, tag: str) -> Response | None:
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=_headers(tag))
    return None


def details(ctx: Ctx, record: ImageRecord) -> dict[str, Any]:
    item = record.item
    try:
        attributes = describe(record.path)
    except Exception:
        attributes = {}
    consent = record.consent
    return {
        "sop_instance_uid": item.sop_instance_uid,
        "study_instance_uid": item.study_instance_uid,
        "series_instance_uid": item.series_instance_uid,
        "sop_class_uid": item.sop_class_uid,
        "patient_id": record.patient.patient_id,
        "body_site": body_site(record.path, item.body_part),
        "availability": item.availability,
        "availability_reason": item.availability_reason,
        "uses": list(item.uses),
        "video": is_video(item),
        "document": is_document(item),
        "derived": attributes.get("Derived", ""),
        "attributes": attributes,
        "consent": None
        if consent is None
        else {
            "document": consent.document_uid,
            "status": consent.status,
            "level": consent.level,
            "purpose": consent.purpose,
            "also_teaching": consent.also_teaching,
            "consenter": consent.consenter,
            "consenter_name": consent.consenter_name,
            "form": consent.form,
            "basis": consent.basis,
            "authorised_by": consent.authorised_by,
            "recorded_by": consent.recorded_by,
            "decided_at": consent.decided_at.isoformat(),
        },
    }


@pages.get("/images/{uid}", response_class=HTMLResponse)
def image_page(
    request: Request, ctx: Ctx, viewer: Working, uid: str, review: bool = False
) -> Response:
    record = _look(ctx, viewer, uid, review, "image page")
    return render(
        request,
        "image.html",
        viewer,
        record=record,
        info=details(ctx, record),
        review=review,
        query="?review=1" if review else "",
    )


@api.get("/images/{uid}", summary="One recording: details, body site, consent, derivation")
def api_image(ctx: Ctx, viewer: Working, uid: str, review: bool = False) -> dict[str, Any]:
    return details(ctx, _look(ctx, viewer, uid, review, "image details"))


@api.get("/images/{uid}/thumbnail", summary="A small JPEG of the recording (cached)")
def thumbnail(
    request: Request, ctx: Ctx, viewer: Working, uid: str, review: bool = False
) -> Response:
    record = _look(ctx, viewer, uid, review, "thumbnail")
    tag = etag(record.item, "thumb")
    if (cached := _not_modified(request, tag)) is not None:
        return cached
    try:
        path = _media(request).thumbnail(record.item, record.path)
    except NotRenderable:
        raise NotFound("no picture") from None
    return FileResponse(path, media_type="image/jpeg", headers=_headers(tag))


@api.get(
    "/images/{uid}/picture",
    summary="The full-resolution picture (JPEG bitstream as stored, metadata removed; or PNG)",
)
def picture(
    request: Request, ctx: Ctx, viewer: Working, uid: str, review: bool = False
) -> Response:
    record = _look(ctx, viewer, uid, review, "image")
    tag = etag(record.item, "picture")
    if (cached := _not_modified(request, tag)) is not None:
        return cached
    try:
        pic = _media(request).picture(record.item, record.path)
    except NotRenderable:
        raise NotFound("no picture") from None
    if pic.path is not None:
        return FileResponse(pic.path, media_type=pic.media_type, headers=_headers(tag))
    return Response(pic.data, media_type=pic.media_type, headers=_headers(tag))


@api.get(
    "/images/{uid}/video.mp4",
    summary="The video as MP4 (stored stream remuxed, not re-encoded); HTTP range requests",
)
def video(request: Request, ctx: Ctx, viewer: Working, uid: str, review: bool = False) -> Response:
    record = _look(ctx, viewer, uid, review, "video")
    try:
        path = _media(request).video(record.item, record.path)
    except NotRenderable:
        raise NotFound("no video") from None
    return FileResponse(path, media_type="video/mp4", headers=_headers(etag(record.item, "mp4")))


@api.get("/images/{uid}/dicom", summary="Download the stored DICOM object")
def download(ctx: Ctx, viewer: Working, uid: str, review: bool = False) -> Response:
    record = _look(ctx, viewer, uid, review, "download")
    return FileResponse(
        record.path,
        media_type="application/dicom",
        filename=f"{record.item.sop_instance_uid}.dcm",
        headers=_headers(etag(record.item, "dicom")),
    )
