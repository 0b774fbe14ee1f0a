"""WADO-RS rendered resources (PS3.18 10.4.1.1.3) for instances: ``/rendered`` and
``/thumbnail``, made by the viewer's own renderer (:class:`MediaCache`).

Each is one look through :meth:`Archive.image`, audited as a view (a refusal
too); ``/rendered`` is the viewer's full picture (a JPEG Baseline photo's own
bitstream with its metadata segments removed, else a PNG of the first frame; a
video's first frame), ``/thumbnail`` its small JPEG. The rendering parameters
(``viewport``, ``quality``, ``window``, ``annotation``) are not supported: they are
ignored, with a ``Warning`` header saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import FileResponse, Response

from archive import ImageRecord, NotFound
from web_viewer.deps import Ctx, Working
from web_viewer.dicomweb.negotiation import NotAcceptable, accepted, matches
from web_viewer.dicomweb.router import api
from web_viewer.media import MediaCache, NotRenderable, Picture
from web_viewer.routes.common import uid_or_404

RENDERING_PARAMS = ("viewport", "quality", "window", "annotation", "iccprofile")
INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"


def _look(request: Request, ctx: Ctx, viewer: Working, what: str) -> ImageRecord:
    path = request.path_params
    record = ctx.archive.image(
        uid_or_404(path["instance"]), requester=viewer.requester(), what=f"DICOMweb {what}"
    )
    item = record.item
    if (item.study_instance_uid, item.series_instance_uid) != (path["study"], path["series"]):
        raise NotFound("not found")
    return record


def _answer(request: Request, picture: Picture, what: str) -> Response:
    if not any(
        matches(w.media, picture.media_type) for w in accepted(request.headers.get("accept"))
    ):
        raise NotAcceptable(f"{what}: the picture is {picture.media_type}")
    ignored = [p for p in RENDERING_PARAMS if p in request.query_params]
    headers = (
        {"Warning": f'299 photopacs "not supported, ignored: {", ".join(ignored)}"'}
        if ignored
        else {}
    )
    if picture.path is not None:
        return FileResponse(picture.path, media_type=picture.media_type, headers=headers)
    return Response(picture.data, media_type=picture.media_type, headers=headers)


def _media(request: Request) -> MediaCache:
    cache: MediaCache = request.app.state.media
    return cache


def _shown(what: str) -> Callable[[Request, Ctx, Working], Response]:
    def show(request: Request, ctx: Ctx, viewer: Working) -> Response:
        record = _look(request, ctx, viewer, what)
        cache = _media(request)
        try:
            if what == "thumbnail":
                picture = Picture(None, cache.thumbnail(record.item, record.path), "image/jpeg")
            else:
                picture = cache.picture(record.item, record.path)
        except NotRenderable as exc:
            raise NotAcceptable(f"the instance cannot be shown: {exc}") from None
        return _answer(request, picture, what)

    return show


for what, summary in (
    ("rendered", "the instance rendered (JPEG or PNG)"),
    ("thumbnail", "a small JPEG of the instance"),
):
    api.add_api_route(
        f"{INSTANCE}/{what}", _shown(what), methods=["GET"], summary=f"WADO-RS: {summary}"
    )
