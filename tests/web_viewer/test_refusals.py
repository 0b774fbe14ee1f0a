"""Every refused look is evidence (R14): a 404 for a held, quarantined or absent
recording leaves exactly one refused audit event, written even though the
request's own transaction rolled back, and attributed to the patient whose
recording was tried."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from archive import Archive
from archive.models import AuditEvent
from tests.web_viewer.helpers import (
    add_user,
    build_scenario,
    choose,
    make_client,
    sign_in,
    signed_in,
)

ROUTES = ("/api/images/{}", "/api/images/{}/thumbnail", "/api/images/{}/dicom", "/images/{}")


def _refused(archive: Archive, **where: str) -> int:
    with archive.sessions() as s:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "refused")
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, column) == value)
        return int(s.scalar(stmt) or 0)


def test_each_refused_look_leaves_one_refused_event(archive: Archive, tmp_path: Path) -> None:
    scenario = build_scenario(archive)
    client, _ = signed_in(archive, tmp_path, "cara", "clinician", "care")
    hidden = [scenario.uids[k] for k in ("held", "quarantined", "withdrawn")]
    absent = "1.2.3.4.5.6.7.8.9"
    before = _refused(archive, actor="cara")
    for uid in [*hidden, absent]:
        for route in ROUTES:
            r = client.get(route.format(uid))
            assert r.status_code == 404, (route, r.text)
    looks = (len(hidden) + 1) * len(ROUTES)
    assert _refused(archive, actor="cara") - before == looks
    # attributed to the patient whose photos were tried ("who tried to open M1's photos")
    assert _refused(archive, actor="cara", patient_id="M1") == len(hidden) * len(ROUTES)
    # a patient the clinician sees nothing of: refused, and recorded against that patient
    r = client.get("/api/patients/M2")
    assert r.status_code == 404
    assert _refused(archive, actor="cara", patient_id="M2") == 1


def test_governance_sees_refused_looks_per_patient_and_per_user(
    archive: Archive, tmp_path: Path
) -> None:
    scenario = build_scenario(archive)
    add_user(archive, "cara", "clinician")
    add_user(archive, "gina", "governance")
    nosy = make_client(archive, tmp_path)
    sign_in(nosy, "cara")
    choose(nosy, "care")
    for kind in ("held", "quarantined"):
        assert nosy.get(f"/api/images/{scenario.uids[kind]}").status_code == 404
    assert nosy.get(f"/api/images/{scenario.uids['teaching']}").status_code == 200
    ig = make_client(archive, tmp_path)
    sign_in(ig, "gina")
    choose(ig, "governance")
    tried = ig.get("/api/audit/patients/M1", params={"refused": "true"}).json()["events"]
    assert {(e["actor"], e["outcome"]) for e in tried} == {("cara", "refused")}
    assert len(tried) == 2
    by_user = ig.get("/api/audit/users/cara", params={"refused": "true"}).json()["events"]
    assert len(by_user) == 2 and all(e["outcome"] == "refused" for e in by_user)
    everything = ig.get("/api/audit/users/cara").json()["events"]
    assert any(e["outcome"] == "success" for e in everything)
    page = ig.get("/audit", params={"user": "cara", "refused": "true"})
    assert page.status_code == 200 and "2 refused events by cara" in page.text
