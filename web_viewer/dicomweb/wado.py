"""WADO-RS (PS3.18 10.4): studies, series and instances as stored, their
metadata, and the frames of an instance.

Every retrieve is :meth:`Archive.locate`, the lookup behind C-MOVE and C-GET:
the same access policy and one audited retrieve. Nothing visible is a 404,
exactly as for something absent, and the look is audited as refused. Objects
are sent as stored, streamed from the blob store; only a client that accepts
nothing but Explicit VR Little Endian gets a decoded copy (ADR 0006).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pydicom
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from archive import CannotTranscode, Level, Located, NotFound, decoded
from web_viewer.deps import Ctx, Working
from web_viewer.dicomweb import dicomjson, multipart
from web_viewer.dicomweb.negotiation import (
    BITSTREAM,
    DICOM,
    DICOM_JSON,
    OCTET,
    NotAcceptable,
    accepted,
    accepts_json,
    dicom_syntax,
    frame_media,
    native,
    refuse,
)
from web_viewer.dicomweb.router import api
from web_viewer.errors import BadRequest
from web_viewer.routes.common import uid_or_404


def _located(
    ctx: Ctx, viewer: Working, what: str, study: str, series: str = "", instance: str = ""
) -> list[Located]:
    """The visible instances the path names (audited as one retrieve), else 404."""
    requester = viewer.requester()
    identifier = {"StudyInstanceUID": uid_or_404(study)}
    level = Level.STUDY
    if series:
        identifier["SeriesInstanceUID"] = uid_or_404(series)
        level = Level.SERIES
    if instance:
        identifier["SOPInstanceUID"] = uid_or_404(instance)
        level = Level.IMAGE
    # A study with nothing visible is refused before any retrieve is audited.
    ctx.archive.patient_of_study(identifier["StudyInstanceUID"], requester=requester)
    found = ctx.archive.locate(
        level, identifier, requester=requester, destination=f"DICOMweb {what}"
    )
    if not found:
        raise NotFound("not found")
    return found


def _encoded(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _decoded(item: Located) -> Dataset:
    try:
        return decoded(item.path)
    except CannotTranscode as exc:
        raise NotAcceptable(f"{item.sop_instance_uid}: {exc}") from None


def _retrieve(request: Request, found: list[Located]) -> Response:
    wants = accepted(request.headers.get("accept"))
    chosen = []
    for item in found:
        syntax = dicom_syntax(wants, item.transfer_syntax_uid)
        if syntax is None:
            raise refuse(item.transfer_syntax_uid, item.sop_instance_uid)
        chosen.append((item, syntax))

    def parts() -> Iterator[multipart.Part]:
        for item, syntax in chosen:
            content_type = f"{DICOM}; transfer-syntax={syntax}"
            if syntax == item.transfer_syntax_uid:
                yield multipart.Part(content_type, path=item.path)
            else:
                yield multipart.Part(content_type, data=_encoded(_decoded(item)))

    return multipart.response(parts(), DICOM)


def _metadata(request: Request, found: list[Located]) -> JSONResponse:
    if not accepts_json(request.headers.get("accept")):
        raise NotAcceptable(f"metadata is {DICOM_JSON} only")
    base = str(request.base_url).rstrip("/") + "/dicomweb"
    body = []
    for item in found:
        stored = item.transfer_syntax_uid
        has_frames = stored in BITSTREAM or native(stored)

        def frames_uri(ds: Dataset, has_frames: bool = has_frames) -> str:
            if not has_frames:
                return ""  # video: its bulk data is not offered yet
            count = int(ds.get("NumberOfFrames", 1) or 1)
            numbers = ",".join(str(n) for n in range(1, count + 1))
            return (
                f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}/frames/{numbers}"
            )

        body.append(
            dicomjson.instance_metadata(
                item.path, stored, native=native(stored), pixel_uri=frames_uri
            )
        )
    return JSONResponse(body, media_type=DICOM_JSON)


def _frame_numbers(text: str) -> list[int]:
    numbers = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece.isdigit() or int(piece) < 1:
            raise BadRequest(f"{piece[:20]!r} is not a frame number (1, 2, ...)")
        numbers.append(int(piece))
    return numbers


def _frames_of(ds: Dataset, encapsulated: bool) -> list[bytes]:
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if encapsulated:
        # A bitstream ends at its EOI marker; the byte after it pads the fragment to
        # an even length (PS3.5 A.4) and is not part of the camera's JPEG.
        frames = generate_frames(ds.PixelData, number_of_frames=count)
        return [f[:-1] if f.endswith(b"\xff\xd9\x00") else f for f in frames]
    size = (int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated)) // 8
    data = bytes(ds.PixelData)
    return [data[i * size : (i + 1) * size] for i in range(count)]


def _named(request: Request, ctx: Ctx, viewer: Working, what: str) -> list[Located]:
    p = request.path_params
    return _located(ctx, viewer, what, p["study"], p.get("series", ""), p.get("instance", ""))


def retrieve(request: Request, ctx: Ctx, viewer: Working) -> Response:
    """The study's, series' or instance's visible instances as stored."""
    return _retrieve(request, _named(request, ctx, viewer, "retrieve"))


def metadata(request: Request, ctx: Ctx, viewer: Working) -> JSONResponse:
    """DICOM JSON of the study's, series' or instance's visible instances."""
    return _metadata(request, _named(request, ctx, viewer, "metadata"))


for resource, named in (
    ("/studies/{study}", "a study's instances"),
    ("/studies/{study}/series/{series}", "a series' instances"),
    ("/studies/{study}/series/{series}/instances/{instance}", "one instance"),
):
    api.add_api_route(resource, retrieve, methods=["GET"], summary=f"WADO-RS: {named} as stored")
    api.add_api_route(
        f"{resource}/metadata", metadata, methods=["GET"], summary=f"WADO-RS: {named}, metadata"
    )


@api.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    summary="WADO-RS: frames as stored (e.g. the JPEG bitstream) or native",
)
def retrieve_frames(
    request: Request,
    ctx: Ctx,
    viewer: Working,
    study: str,
    series: str,
    instance: str,
    frames: str,
) -> Response:
    numbers = _frame_numbers(frames)
    (item,) = _located(ctx, viewer, "frames", study, series, instance)
    stored = item.transfer_syntax_uid
    choice = frame_media(accepted(request.headers.get("accept")), stored)
    if choice is None:
        raise refuse(stored, "frames")
    media, syntax = choice
    ds = _decoded(item) if media == OCTET and not native(stored) else pydicom.dcmread(item.path)
    available = _frames_of(ds, encapsulated=media != OCTET)
    if max(numbers) > len(available) or len(numbers) > len(available):
        raise BadRequest(f"the instance has {len(available)} frame(s)")
    content_type = f"{media}; transfer-syntax={syntax}"
    parts = [multipart.Part(content_type, data=available[n - 1]) for n in numbers]
    return multipart.response(parts, media, syntax)
