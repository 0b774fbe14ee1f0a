"""Every HTTP route that names patient data goes through the access policy: for
a recording or patient the requester may not see, each route answers exactly as
for one that does not exist (404, nothing named) and leaves exactly one refused
audit event. Routes are found by walking the app, so a new route is covered the
day it is added."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from archive import Archive
from archive.models import AuditEvent, Instance, Series
from tests.web_viewer.helpers import (
    build_scenario,
    signed_in,
)
from web_viewer.errors import PATIENT_DATA_PARAMS

ABSENT_UID = "1.2.826.0.1.3680043.8.498.999999999"


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) of the app, included routers too."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes, prefix + route.include_context.prefix)
        elif getattr(route, "methods", None):
            yield prefix + route.path, set(route.methods)


def _refused(archive: Archive) -> int:
    with archive.sessions() as s:
        stmt = select(func.count()).select_from(AuditEvent)
        return int(s.scalar(stmt.where(AuditEvent.outcome == "refused")) or 0)


def test_every_patient_data_route_refuses_hidden_and_absent_alike(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)
    client, token = signed_in(archive, tmp_path, "cara", "clinician", "care")
    hidden_uid = scenario.uids["held"]  # M1's photo awaiting consent
    hidden_study = scenario.studies["other-held"]  # M2 has nothing a clinician may see
    with archive.sessions() as s:  # DICOMweb names the held photo by study, series, instance
        hidden_series = s.scalar(
            select(Series.series_instance_uid)
            .join(Instance, Instance.series_pk == Series.pk)
            .where(Instance.sop_instance_uid == hidden_uid)
        )
    dicomweb = {
        "{study}": (scenario.studies["held"], ABSENT_UID),
        "{series}": (hidden_series, ABSENT_UID),
        "{instance}": (hidden_uid, ABSENT_UID),
        "{frames}": ("1", "1"),
    }
    routes = [
        (path, method)
        for path, methods in _walk(client.app.routes)  # type: ignore[attr-defined]
        for method in sorted(methods - {"HEAD"})
        if any(f"{{{p}}}" in path for p in PATIENT_DATA_PARAMS)
    ]
    # images x6, timelines x2, consent x5, DICOMweb x10
    assert len(routes) >= 23, routes
    problems: list[str] = []
    for path, method in routes:
        answers = []
        for which, (uid, patient, study) in enumerate(
            ((hidden_uid, "M2", hidden_study), (ABSENT_UID, "NOPE", ABSENT_UID))
        ):
            url = path.replace("{uid}", uid).replace("{patient_id}", patient)
            for param, values in dicomweb.items():
                url = url.replace(param, str(values[which]))
            before = _refused(archive)
            if method == "GET":
                r = client.get(url)
            elif url.startswith("/api/"):
                body = {"study_instance_uid": study, "decision": "given", "level": "record",
                        "consenter": "patient", "form": "written"}  # fmt: skip
                r = client.post(url, json=body)
            else:
                r = client.post(url, data={"csrf_token": token, "study": study, "decision": "given",
                                           "level": "record", "consenter": "patient",
                                           "form": "written"})  # fmt: skip
            added = _refused(archive) - before
            answers.append(r.status_code)
            if r.status_code != 404:
                problems.append(f"{method} {url} -> {r.status_code}")
            if added != 1:
                problems.append(f"{method} {url} left {added} refused events")
            if hidden_uid in r.text or hidden_study in r.text:
                problems.append(f"{method} {url} names what it hides")
        if answers[0] != answers[1]:
            problems.append(f"{method} {path}: hidden {answers[0]} but absent {answers[1]}")
    assert problems == [], "\n".join(problems)
