"""Role x purpose x endpoint matrix over the HTML pages and the JSON API,
anonymous included, on SQLite and PostgreSQL: a principal sees exactly the
recordings their role and purpose allow (held, quarantined, withdrawn,
teaching-consent, level-3-purpose and vital-interests cases), in lists,
counts, thumbnails, pictures, downloads and hand-typed URLs; the rest is 404.
Default deny: pages for other roles are 404 too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from archive import Archive
from tests.web_viewer.helpers import (
    JOURNAL,
    PHOTOGRAPHER,
    Scenario,
    add_user,
    build_scenario,
    choose,
    make_client,
    open_review,
    sign_in,
)

ALL = {"held", "quarantined", "withdrawn", "teaching", "level3", "vital", "other-held"}
CARE = {"teaching", "level3", "vital"}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str | None  # None: anonymous
    purpose: str | None = None
    specified: str = ""
    review: bool = False
    sees: frozenset[str] = frozenset()
    subject_access_patient: str = ""  # the patient a subject-access review names


PRINCIPALS = [
    Principal("anonymous", None),
    Principal("admin", "admin"),
    Principal("no-purpose", "clinician"),
    Principal("clinician", "clinician", "care", sees=frozenset(CARE)),
    Principal(
        PHOTOGRAPHER,
        "photographer",
        "care",
        sees=frozenset(CARE | {"held", "other-held"}),
    ),
    Principal("phot2", "photographer", "care", sees=frozenset(CARE)),
    Principal("educator", "educator", "teaching", sees=frozenset({"teaching"})),
    Principal("journal", "educator", "specified", JOURNAL, sees=frozenset({"level3"})),
    Principal("lancet", "educator", "specified", "Publication in The Lancet, 2027"),
    Principal("ig", "governance", "governance", sees=frozenset(CARE)),
    Principal(
        "ig-review",
        "governance",
        "governance",
        review=True,
        sees=frozenset({"held", "quarantined", "withdrawn", "other-held"}),
    ),
    # Subject access: nothing without an open review naming the patient ...
    Principal("sar", "governance", "subject-access"),
    # ... then everything held for that patient, in every state but erased, and no other.
    Principal(
        "sar-m1",
        "governance",
        "subject-access",
        sees=frozenset(ALL - {"other-held"}),
        subject_access_patient="M1",
    ),
]


def client_for(archive: Archive, tmp_path: Path, p: Principal) -> TestClient:
    client = make_client(archive, tmp_path)
    if p.role is None:
        return client
    add_user(archive, p.name, p.role)
    sign_in(client, p.name)
    if p.purpose:
        choose(client, p.purpose, p.specified)
    if p.review:
        open_review(client)
    if p.subject_access_patient:
        open_review(client, patient_id=p.subject_access_patient)
    return client


def denied_status(p: Principal, api: bool) -> set[int]:
    if p.role is None:
        return {401} if api else {303}
    if p.role != "admin" and p.purpose is None:
        return {403} if api else {303}
    return {404}


def check_principal(
    archive: Archive, tmp_path: Path, s: Scenario, p: Principal, problems: list[str]
) -> None:
    client = client_for(archive, tmp_path, p)
    q = "?review=1" if p.review else ""

    def expect(url: str, ok: bool, api: bool) -> None:
        r = client.get(url)
        allowed = {200} if ok else denied_status(p, api)
        if r.status_code not in allowed:
            problems.append(f"{p.name}: GET {url} -> {r.status_code}, expected {allowed}")
        if not ok and r.status_code == 200:
            problems.append(f"{p.name}: LEAK {url}")
        if api and r.status_code >= 400 and "error" not in r.json():
            problems.append(f"{p.name}: {url} error without the error shape")

    for kind, uid in s.uids.items():
        visible = kind in p.sees
        expect(f"/images/{uid}{q}", visible, api=False)
        expect(f"/api/images/{uid}{q}", visible, api=True)
        expect(f"/api/images/{uid}/thumbnail{q}", visible, api=True)
        expect(f"/api/images/{uid}/picture{q}", visible, api=True)
        expect(f"/api/images/{uid}/dicom{q}", visible, api=True)

    # Lists and counts: the timeline, its HTML, search, the consent panel.
    plain = set(CARE) if p.review else set(p.sees)  # review is asked for per URL
    for patient, kinds in (("M1", ALL - {"other-held"}), ("M2", {"other-held"})):
        seen_here = plain & kinds
        uids_here = {s.uids[k] for k in seen_here}
        hidden = {s.uids[k] for k in ALL - seen_here}
        r = client.get(f"/api/patients/{patient}")
        if p.review:
            review = client.get(f"/patients/{patient}/consent?review=1")
            shown = {u for u in s.all() if u[-12:] in review.text}
            if shown != {s.uids[k] for k in p.sees & kinds}:
                problems.append(f"{p.name}: review consent panel {patient} shows {shown}")
        if seen_here and r.status_code == 200:
            got = {
                i["sop_instance_uid"]
                for study in r.json()["studies"]
                for items in study["sites"].values()
                for i in items
            }
            if got != uids_here:
                problems.append(f"{p.name}: timeline {patient} {sorted(got)} != expected")
        elif r.status_code not in ({200} if seen_here else denied_status(p, True)):
            problems.append(f"{p.name}: timeline {patient} -> {r.status_code}")
        for url in (f"/patients/{patient}", f"/patients/{patient}/consent"):
            page = client.get(url)
            leaked = [u for u in hidden if u in page.text or u[-12:] in page.text]
            if leaked:
                problems.append(f"{p.name}: {url} shows hidden recordings")
            if seen_here and page.status_code != 200:
                problems.append(f"{p.name}: {url} -> {page.status_code}")
        r = client.get("/api/patients", params={"patient_id": patient})
        if r.status_code == 200:
            found = r.json()["patients"]
            if bool(found) != bool(seen_here):
                problems.append(f"{p.name}: search {patient} found={found}")
            if found and found[0]["instances"] < len(seen_here):
                problems.append(f"{p.name}: search count too low for {patient}")
        elif r.status_code not in denied_status(p, True):
            problems.append(f"{p.name}: search -> {r.status_code}")
    r = client.get("/api/patients", params={"name": "matrix"})
    if r.status_code == 200 and bool(r.json()["patients"]) != bool(plain - {"other-held"}):
        problems.append(f"{p.name}: name search wrong")

    # Role-gated screens (default deny: 404 for the wrong role).
    governance = p.role == "governance" and p.purpose == "governance"
    for url, allowed in (
        ("/api/review", governance and p.review),
        ("/review", p.role == "governance" and p.purpose in ("governance", "subject-access")),
        ("/api/audit/patients/M1", governance),
        ("/audit", governance),
        ("/api/users", p.role == "admin"),
        ("/admin/users", p.role == "admin"),
        ("/admin/nodes", p.role == "admin"),
        ("/api/nodes", p.role == "admin"),
        ("/upload", p.role == "photographer" and p.purpose == "care"),
    ):
        r = client.get(url)
        want = {200} if allowed else ({401, 303} if p.role is None else {404})
        if url == "/api/review" and governance and not p.review:
            want = {403}  # review_required: no look at hidden objects without a stated reason
        if r.status_code not in want:
            problems.append(f"{p.name}: GET {url} -> {r.status_code}, expected {want}")
    if governance and p.review:
        items = {i["sop_instance_uid"] for i in client.get("/api/review").json()["items"]}
        want = {s.uids[k] for k in ("held", "quarantined", "withdrawn", "other-held")}
        if items != want:
            problems.append(f"{p.name}: review queue {items} != {want}")


def test_role_purpose_endpoint_matrix(archive: Archive, tmp_path: Path) -> None:
    scenario = build_scenario(archive)
    problems: list[str] = []
    for principal in PRINCIPALS:
        check_principal(archive, tmp_path, scenario, principal, problems)
    assert problems == [], "\n".join(problems)


def test_every_look_is_audited(archive: Archive, tmp_path: Path) -> None:
    scenario = build_scenario(archive)
    clinician = client_for(
        archive, tmp_path, Principal("clin", "clinician", "care", sees=frozenset(CARE))
    )
    uid = scenario.uids["teaching"]
    for url in (
        "/api/patients?patient_id=M1",
        "/patients/M1",
        f"/images/{uid}",
        f"/api/images/{uid}/thumbnail",
        f"/api/images/{uid}/picture",
        f"/api/images/{uid}/dicom",
        f"/images/{scenario.uids['held']}",
    ):
        clinician.get(url)
    ig = client_for(archive, tmp_path, Principal("ig", "governance", "governance"))
    events = ig.get("/api/audit/patients/M1").json()["events"]
    mine = [e for e in events if e["actor"] == "clin"]
    whats = {e["detail"].get("what") for e in mine}
    assert {"timeline", "image page", "thumbnail", "image", "download"} <= whats
    assert any(e["action"] == "query" for e in mine)
    assert all(e["purpose"] == "care" and e["role"] == "clinician" for e in mine)
    refused = ig.get("/api/audit/patients/M1").json()["events"]
    assert refused  # the audit view itself is audited
