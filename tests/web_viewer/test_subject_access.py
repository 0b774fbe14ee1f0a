"""Subject access is a governance task with a named subject: the purpose shows
nothing until an open review names one patient with a stated reason; then that
patient's recordings in every state but erased, each look audited with the
review, and no other patient's."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from archive import Archive
from archive.models import AuditEvent
from tests.web_viewer.helpers import (
    build_scenario,
    open_review,
    signed_in,
)


def test_subject_access_needs_a_review_naming_the_patient(archive: Archive, tmp_path: Path) -> None:
    scenario = build_scenario(archive)
    client, _ = signed_in(archive, tmp_path, "sara", "governance", "subject-access")
    held = scenario.uids["held"]
    assert client.get("/api/patients", params={"name": "*"}).json()["patients"] == []
    assert client.get(f"/api/images/{held}/dicom").status_code == 404
    r = client.post("/api/review/open", json={"reason": "SAR-2026-14: patient's own request"})
    assert r.status_code == 400 and "names the patient" in r.json()["error"]["message"]
    number = open_review(client, "SAR-2026-14: patient's own request", patient_id="M1")
    found = client.get("/api/patients", params={"name": "*"}).json()["patients"]
    assert [p["patient_id"] for p in found] == ["M1"]
    assert client.get(f"/api/images/{held}/dicom").status_code == 200
    assert client.get(f"/api/images/{scenario.uids['quarantined']}").status_code == 200
    assert client.get(f"/api/images/{scenario.uids['other-held']}").status_code == 404
    assert client.get("/api/patients/M2").status_code == 404
    with archive.sessions() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == "sara", AuditEvent.outcome == "success")
        ).all()
        looks = [json.loads(e.detail) for e in events if e.action in ("view", "query")]
    reviewed = [d for d in looks if d.get("review_number") == number]
    assert reviewed and all(d["subject_access_patient"] == "M1" for d in reviewed)
