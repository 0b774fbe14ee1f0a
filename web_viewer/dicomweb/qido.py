"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

A search is :meth:`Archive.find`, the query behind C-FIND: the same matching
(wildcards, date and time ranges, UID lists, case-insensitive person names), the
same access policy (nothing hidden is matched or counted) and one audit event.
A search scoped by a study in its path answers 404 when the requester sees
nothing of that study, exactly as for an absent one (the look is audited as
refused). No matches is ``200`` with ``[]`` (DICOM CP-2473; PS3.18 2025 still says
204, which dicomweb-client and OHIF read as an empty list too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from archive import KEYS, Level, MatchKind
from web_viewer.deps import Ctx, Working
from web_viewer.dicomweb import dicomjson
from web_viewer.dicomweb.negotiation import DICOM_JSON, NotAcceptable, accepts_json
from web_viewer.dicomweb.router import api
from web_viewer.errors import BadRequest
from web_viewer.routes.common import uid_or_404

UID_LIST = "\\"  # C-FIND's UID list separator; QIDO also takes commas
RESERVED = {"includefield", "limit", "offset", "fuzzymatching"}

# The attributes each level returns unasked (PS3.18 Tables 10.6.3-3 to -5), of
# those the archive holds.
DEFAULTS: dict[Level, tuple[str, ...]] = {
    Level.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: (
        "Modality",
        "SeriesDescription",
        "SeriesNumber",
        "SeriesInstanceUID",
        "NumberOfSeriesRelatedInstances",
    ),
    Level.IMAGE: ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "NumberOfFrames"),
}


def _keyword(attribute: str) -> str:
    keyword = dicomjson.keyword_of(attribute)
    if keyword is None:
        raise BadRequest(f"{attribute[:80]!r} is not a DICOM attribute keyword or tag")
    return keyword


def _count(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise BadRequest(f"{name} must be a whole number, not {value[:20]!r}")
    return int(value)


def _includes(values: list[str], level: Level) -> list[str]:
    """``includefield`` values (repeatable, comma lists, ``all``): the keywords the
    archive holds at or above ``level``; others are ignored (returned by no match)."""
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if any(n.lower() == "all" for n in names):
        return [k for k, key in KEYS.items() if key.level <= level]
    out = []
    for name in names:
        keyword = dicomjson.keyword_of(name)
        if keyword in KEYS and KEYS[keyword].level <= level:
            out.append(keyword)
    return out


def search(
    request: Request,
    ctx: Ctx,
    viewer: Working,
    level: Level,
    scope: dict[str, str],
) -> JSONResponse:
    if not accepts_json(request.headers.get("accept")):
        raise NotAcceptable(f"search results are {DICOM_JSON} only")
    requester = viewer.requester()
    if "StudyInstanceUID" in scope:
        # Not audited here: the search below is the one audit event, and a study the
        # requester sees nothing of is a refused look (404), audited by the handler.
        ctx.archive.patient_of_study(scope["StudyInstanceUID"], requester=requester)
    params = request.query_params
    identifier: dict[str, str] = {}
    for name, value in params.multi_items():
        if name.lower() in RESERVED:
            continue
        keyword = _keyword(name)
        key = KEYS.get(keyword)
        if key is not None and key.kind is MatchKind.UID:
            value = value.replace(",", UID_LIST)
        if keyword in identifier:  # a repeated UID key is a UID list; others are errors
            if key is None or key.kind is not MatchKind.UID:
                raise BadRequest(f"{name[:80]} is given twice")
            value = f"{identifier[keyword]}{UID_LIST}{value}"
        identifier[keyword] = value
    if scope.keys() & identifier.keys():
        raise BadRequest("a UID given in the path may not be matched again in the query")
    identifier.update(scope)
    wanted = [k for lv, names in DEFAULTS.items() if lv <= level for k in names]
    if "StudyInstanceUID" in scope:  # the study's own attributes are known to the client
        wanted = [k for k in wanted if KEYS[k].level >= Level.SERIES]
    wanted += _includes(params.getlist("includefield"), level)
    for keyword in wanted:
        if KEYS[keyword].level <= level:
            identifier.setdefault(keyword, "")
    limit = _count(params.get("limit"), "limit")
    offset = _count(params.get("offset"), "offset") or 0
    cap = ctx.archive.settings.query_max_results
    asked = cap if limit is None else min(cap, offset + limit + 1)
    matches = ctx.archive.find(level, identifier, requester=requester, limit=asked)
    end = len(matches) if limit is None else offset + limit
    page = matches[offset:end]
    warnings = []
    if len(matches) > end:
        warnings.append(f"there are more results: ask again with offset={end}")
    elif len(matches) >= cap:
        warnings.append(f"results are limited to {cap}; narrow the search")
    if params.get("fuzzymatching", "").lower() == "true":
        warnings.append("fuzzymatching is not supported; matching is exact")
    base = str(request.base_url).rstrip("/") + "/dicomweb"
    body = [dicomjson.match_json(m, wanted, _retrieve_url(base, level, m)) for m in page]
    headers = {"Warning": ", ".join(f'299 photopacs "{w}"' for w in warnings)} if warnings else {}
    return JSONResponse(body, media_type=DICOM_JSON, headers=headers)


def _retrieve_url(base: str, level: Level, match: dict[str, Any]) -> str:
    url = f"{base}/studies/{match['StudyInstanceUID']}"
    if level >= Level.SERIES:
        url += f"/series/{match['SeriesInstanceUID']}"
    if level >= Level.IMAGE:
        url += f"/instances/{match['SOPInstanceUID']}"
    return url


def _searcher(level: Level) -> Callable[[Request, Ctx, Working], JSONResponse]:
    def search_level(request: Request, ctx: Ctx, viewer: Working) -> JSONResponse:
        path = request.path_params
        scope = {keyword: uid_or_404(path[name]) for name, keyword in SCOPES if name in path}
        return search(request, ctx, viewer, level, scope)

    return search_level


SCOPES = (("study", "StudyInstanceUID"), ("series", "SeriesInstanceUID"))
for resource, level, named in (
    ("/studies", Level.STUDY, "studies"),
    ("/series", Level.SERIES, "series"),
    ("/instances", Level.IMAGE, "instances"),
    ("/studies/{study}/series", Level.SERIES, "a study's series"),
    ("/studies/{study}/instances", Level.IMAGE, "a study's instances"),
    ("/studies/{study}/series/{series}/instances", Level.IMAGE, "a series' instances"),
):
    api.add_api_route(
        resource, _searcher(level), methods=["GET"], summary=f"QIDO-RS: search for {named}"
    )
