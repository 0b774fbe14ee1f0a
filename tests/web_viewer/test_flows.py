"""The consent panel and upload through the HTML forms: held until consent,
the form's rules (level 3 purpose, children), a signed PDF, withdrawal,
governance review and release, administration."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from archive import Archive
from tests.archive.helpers import audit_rows
from tests.support import corpus
from tests.web_viewer.helpers import PASSWORD, add_user, choose, make_client, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _client(
    archive: Archive, tmp_path: Path, user: str, role: str, purpose: str
) -> tuple[TestClient, str]:
    add_user(archive, user, role, full_name=f"{user.title()} Tester")
    client = make_client(archive, tmp_path)
    token = sign_in(client, user)
    choose(client, purpose)
    return client, token


def _upload(client: TestClient, token: str, patient: str, birth: str) -> str:
    r = client.post(
        "/upload",
        data={
            "csrf_token": token,
            "patient_id": patient,
            "family_name": "Flow",
            "given_name": "Fiona",
            "birth_date": birth,
            "sex": "F",
            "body_site": "left forearm",
            "description": "Wound clinic",
        },
        files={"files": ("rose.jpg", corpus("jpeg", "rose.jpg").read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/patients/{patient}/consent?done=uploaded"
    panel = client.get(r.headers["location"])
    assert "held" in panel.text.lower()
    study = panel.text.split('name="study" required><option value="')[1].split('"')[0]
    return study


def test_upload_consent_withdraw_review(archive: Archive, tmp_path: Path) -> None:
    phot, ptoken = _client(archive, tmp_path, "phot", "photographer", "care")
    edu, _ = _client(archive, tmp_path, "edu", "educator", "teaching")
    study = _upload(phot, ptoken, "F1", "1980-05-01")
    timeline = phot.get("/api/patients/F1").json()
    sites = timeline["studies"][0]["sites"]
    assert list(sites) == ["Left forearm"]
    uid = sites["Left forearm"][0]["sop_instance_uid"]
    assert sites["Left forearm"][0]["availability"] == "held"
    assert edu.get(f"/api/images/{uid}").status_code == 404

    base = {"csrf_token": ptoken, "study": study, "decision": "given", "consenter": "patient"}
    r = phot.post("/patients/F1/consent", data={**base, "level": "specified", "form": "written"})
    assert r.status_code == 400 and "level 3 needs the specific purpose" in r.text
    r = phot.post(
        "/patients/F1/consent",
        data={**base, "level": "teaching", "form": "written"},
        files={"form_pdf": ("signed.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 303, r.text
    assert edu.get(f"/api/images/{uid}").status_code == 200
    page = phot.get(f"/images/{uid}")
    assert "Level 2" in page.text and "Recorded by" in page.text
    history = phot.get("/api/patients/F1/consent").json()["history"]
    assert history[-1]["level"] == "teaching" and history[-1]["signed_form"]

    r = phot.post(
        "/patients/F1/consent",
        data={"csrf_token": ptoken, "action": "withdraw", "study": study, "consenter": "patient"},
    )
    assert r.status_code == 303
    assert edu.get(f"/api/images/{uid}").status_code == 404
    assert phot.get(f"/api/images/{uid}").status_code == 404

    ig, itoken = _client(archive, tmp_path, "ig", "governance", "governance")
    # No look at hidden recordings before a review is opened with a stated reason.
    closed = ig.get("/review")
    assert closed.status_code == 200 and uid not in closed.text and "Open review" in closed.text
    assert ig.get(f"/images/{uid}?review=1").headers["location"] == "/review"
    assert ig.get("/api/review").json()["error"]["code"] == "review_required"
    r = ig.post("/review/open", data={"csrf_token": itoken, "reason": "too short"})
    assert r.status_code == 400 and "state the reason" in r.text
    r = ig.post("/review/open", data={"reason": "IG-2026-77: withdrawn consent, patient complaint"})
    assert r.status_code == 403  # CSRF
    r = ig.post(
        "/review/open",
        data={"csrf_token": itoken, "reason": "IG-2026-77: withdrawn consent, patient complaint"},
    )
    assert r.status_code == 303
    queue = ig.get("/review")
    assert uid in queue.text and "consent withdrawn" in queue.text
    assert "IG-2026-77: withdrawn consent" in queue.text
    assert ig.get(f"/images/{uid}?review=1").status_code == 200
    looks = [
        e
        for e in audit_rows(archive)
        if e.actor == "ig" and e.action == "view" and uid in e.object_uids
    ]
    assert looks and all(
        json.loads(e.detail)["review_reason"] == "IG-2026-77: withdrawn consent, patient complaint"
        for e in looks
    )
    r = ig.post("/review", data={"csrf_token": itoken, "uid": uid, "action": "release"})
    # Release is refused while the withdrawn consent forbids use; nothing changes.
    assert r.status_code == 400 and "record consent" in r.text
    assert uid in ig.get("/review").text
    assert edu.get(f"/api/images/{uid}").status_code == 404
    audit = ig.get("/audit", params={"patient_id": "F1"})
    for who in ("phot", "edu", "ig"):
        assert f"<strong>{who}</strong>" in audit.text
    r = ig.post("/audit/verify", data={"csrf_token": itoken})
    assert "Hash chain intact" in r.text


def test_children_need_written_consent_and_circumstances(archive: Archive, tmp_path: Path) -> None:
    phot, token = _client(archive, tmp_path, "phot", "photographer", "care")
    study = _upload(phot, token, "C9", "2019-03-02")
    data = {
        "csrf_token": token,
        "study": study,
        "decision": "given",
        "level": "record",
        "consenter": "parent",
        "consenter_family": "Parent",
        "consenter_given": "Pat",
        "form": "verbal-recorded",
    }
    r = phot.post("/patients/C9/consent", data=data)
    assert r.status_code == 400 and "child" in r.text
    r = phot.post("/patients/C9/consent", data={**data, "form": "written"})
    assert r.status_code == 400 and "circumstances" in r.text
    r = phot.post(
        "/patients/C9/consent", data={**data, "form": "written", "circumstances": "In clinic"}
    )
    assert r.status_code == 303


def test_admin_manages_users_and_nodes_and_sees_no_images(archive: Archive, tmp_path: Path) -> None:
    add_user(archive, "root", "admin")
    admin = make_client(archive, tmp_path)
    token = sign_in(admin, "root")
    r = admin.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "newclin",
            "full_name": "New Clinician",
            "role": "clinician",
            "password": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert r.status_code == 303
    assert "newclin" in admin.get("/admin/users").text
    r = admin.post(
        "/admin/nodes",
        data={
            "csrf_token": token,
            "ae_title": "EPR1",
            "host": "127.0.0.1",
            "port": "104",
            "role": "epr",
        },
    )
    assert r.status_code == 303 and "EPR1" in admin.get("/admin/nodes").text
    assert admin.get("/patients").status_code == 404
    assert admin.get("/api/patients", params={"patient_id": "*"}).status_code == 404
    r = admin.post(
        "/admin/users", data={"csrf_token": token, "action": "disable", "username": "newclin"}
    )
    assert r.status_code == 303
    clin = make_client(archive, tmp_path)
    r = clin.post("/api/session", json={"username": "newclin", "password": PASSWORD})
    assert r.status_code == 401
