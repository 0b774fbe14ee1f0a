"""Patient search and a patient's timeline (pages and API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive import Level, Timeline
from web_viewer.deps import Ctx, Viewer, Working, record_page
from web_viewer.errors import BadRequest
from web_viewer.media import body_site, is_document, is_video
from web_viewer.routes.common import clean_text, dicom_date, patient_id_or_404
from web_viewer.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["patients"])

SEARCH_LIMIT = 200


@dataclass(frozen=True)
class Criteria:
    patient_id: str
    name: str
    birth_date: str

    @property
    def empty(self) -> bool:
        return not (self.patient_id or self.name or self.birth_date)


def criteria(patient_id: str, name: str, birth_date: str) -> Criteria:
    return Criteria(
        patient_id=clean_text(patient_id, "patient ID", wildcards=True),
        name=clean_text(name, "name", limit=64 * 3, wildcards=True).replace("\\", ""),
        birth_date=dicom_date(birth_date, "date of birth"),
    )


def search(ctx: Ctx, viewer: Viewer, c: Criteria) -> list[dict[str, Any]]:
    """Patients with a recording the viewer may see (Archive.find: policy + audit)."""
    if c.empty:
        raise BadRequest("give a patient ID, a name or a date of birth")
    identifier = {
        "PatientID": c.patient_id,
        "PatientName": "",
        "PatientBirthDate": c.birth_date,
        "PatientSex": "",
        "NumberOfPatientRelatedStudies": "",
        "NumberOfPatientRelatedInstances": "",
    }
    if c.name:
        name = c.name.replace(",", "^").replace(" ", "^") if "^" not in c.name else c.name
        identifier["PatientName"] = name if ("*" in name or "?" in name) else f"{name}*"
    return ctx.archive.find(
        Level.PATIENT, identifier, requester=viewer.requester(), limit=SEARCH_LIMIT
    )


def grouped(ctx: Ctx, t: Timeline) -> list[dict[str, Any]]:
    """Studies (encounters), each with galleries by body site; documents apart."""
    out = []
    for study in t.studies:
        sites: dict[str, list[Any]] = {}
        documents = []
        for item in study.items:
            if is_document(item):
                documents.append(item)
                continue
            site = body_site(ctx.archive.object_path(item.storage_key), item.body_part)
            sites.setdefault(site, []).append(item)
        out.append({"study": study, "sites": sites, "documents": documents})
    return out


@pages.get("/patients", response_class=HTMLResponse)
def search_page(
    request: Request,
    ctx: Ctx,
    viewer: Working,
    patient_id: str = "",
    name: str = "",
    birth_date: str = "",
) -> Response:
    c = criteria(patient_id, name, birth_date)
    results = None if c.empty else search(ctx, viewer, c)
    if results is None:
        record_page(ctx, viewer, "patient search page")
    return render(request, "patients.html", viewer, criteria=c, results=results)


@pages.get("/patients/{patient_id}", response_class=HTMLResponse)
def timeline_page(request: Request, ctx: Ctx, viewer: Working, patient_id: str) -> Response:
    t = ctx.archive.timeline(patient_id_or_404(patient_id), requester=viewer.requester())
    return render(request, "timeline.html", viewer, timeline=t, groups=grouped(ctx, t))


@api.get("/patients", summary="Search patients (ID, name with * and ? wildcards, birth date)")
def api_search(
    ctx: Ctx, viewer: Working, patient_id: str = "", name: str = "", birth_date: str = ""
) -> dict[str, Any]:
    matches = search(ctx, viewer, criteria(patient_id, name, birth_date))
    return {
        "patients": [
            {
                "patient_id": m["PatientID"],
                "name": m.get("PatientName") or "",
                "birth_date": m.get("PatientBirthDate") or "",
                "sex": m.get("PatientSex") or "",
                "studies": m.get("NumberOfPatientRelatedStudies") or 0,
                "instances": m.get("NumberOfPatientRelatedInstances") or 0,
            }
            for m in matches
        ]
    }


@api.get("/patients/{patient_id}", summary="A patient's timeline of studies and recordings")
def api_timeline(ctx: Ctx, viewer: Working, patient_id: str) -> dict[str, Any]:
    t = ctx.archive.timeline(patient_id_or_404(patient_id), requester=viewer.requester())
    p = t.patient
    return {
        "patient": {
            "patient_id": p.patient_id,
            "name": p.name,
            "birth_date": p.birth_date,
            "sex": p.sex,
        },
        "studies": [
            {
                "study_instance_uid": g["study"].study_instance_uid,
                "study_date": g["study"].study_date,
                "description": g["study"].description,
                "sites": {
                    site: [item_json(i) for i in items] for site, items in g["sites"].items()
                },
                "documents": [item_json(i) for i in g["documents"]],
            }
            for g in grouped(ctx, t)
        ],
    }


def item_json(item: Any) -> dict[str, Any]:
    uid = item.sop_instance_uid
    return {
        "sop_instance_uid": uid,
        "sop_class_uid": item.sop_class_uid,
        "series_instance_uid": item.series_instance_uid,
        "modality": item.modality,
        "content_date": item.content_date,
        "availability": item.availability,
        "uses": list(item.uses),
        "video": is_video(item),
        "document": is_document(item),
        "links": {
            "self": f"/api/images/{uid}",
            "thumbnail": f"/api/images/{uid}/thumbnail",
            "picture": f"/api/images/{uid}/picture",
            "video": f"/api/images/{uid}/video.mp4" if is_video(item) else None,
            "dicom": f"/api/images/{uid}/dicom",
        },
    }
