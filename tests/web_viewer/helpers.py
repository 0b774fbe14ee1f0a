"""Shared pieces of the web tests: app + client factory, accounts, and a
scenario of recordings in every consent and availability state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from archive import Actor, Archive, Availability, ConsentRequest, Level, Origin, Role
from consent_sr import ConsentStatus
from tests.factory import VL_PHOTO, encode, make_dataset
from web_viewer import create_app
from web_viewer.settings import WebSettings

OPERATOR = Actor.operator("test")

PASSWORD = "correct horse battery staple"
JOURNAL = "Publication in the British Journal of Dermatology, case report 2026"
PHOTOGRAPHER = "phot"


def make_client(archive: Archive, tmp_path: Path, **overrides: object) -> TestClient:
    values: dict[str, object] = {
        "cookie_secure": "never",
        "max_upload_bytes": 4 * 1024 * 1024,
        **overrides,
    }
    settings = WebSettings(**values)  # type: ignore[arg-type]
    return TestClient(create_app(archive, settings), follow_redirects=False)


def add_user(archive: Archive, username: str, role: str, *, full_name: str = "") -> None:
    archive.accounts.add(
        username, role=role, password=PASSWORD, full_name=full_name or "", requester=OPERATOR
    )


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the JSON API (the cookie lands in the client); returns the CSRF token."""
    r = client.post("/api/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    return token


def choose(client: TestClient, purpose: str, specified: str = "") -> None:
    r = client.put(
        "/api/session/purpose", json={"purpose": purpose, "specified_purpose": specified}
    )
    assert r.status_code == 200, r.text


def signed_in(
    archive: Archive, tmp_path: Path, username: str, role: str, purpose: str
) -> tuple[TestClient, str]:
    """A new user ``username`` with ``role``, signed in on a new client and working
    for ``purpose``; returns the client and its CSRF token."""
    add_user(archive, username, role)
    client = make_client(archive, tmp_path)
    token = sign_in(client, username)
    choose(client, purpose)
    return client, token


REVIEW_REASON = "IG-2026-031: complaint about photos of a ward round"


def open_review(client: TestClient, reason: str = REVIEW_REASON, *, patient_id: str = "") -> int:
    """Open a governance review for this client's session (``patient_id``: a subject
    access request's patient); returns its number."""
    r = client.post("/api/review/open", json={"reason": reason, "patient_id": patient_id})
    assert r.status_code == 201, r.text
    number: int = r.json()["number"]
    return number


@dataclass
class Scenario:
    """Patient M1 has one recording in each state; M2 has only a held one."""

    uids: dict[str, str] = field(default_factory=dict)
    studies: dict[str, str] = field(default_factory=dict)

    def all(self) -> set[str]:
        return set(self.uids.values())


def _photo(archive: Archive, patient: str, **kw: object) -> tuple[str, str]:
    ds = make_dataset(
        sop_class=VL_PHOTO,
        modality="XC",
        patient_id=patient,
        patient_name="Matrix^Mary" if patient == "M1" else "Other^Olive",
        birth_date="19800101",
        **kw,  # type: ignore[arg-type]
    )
    archive.ingest(encode(ds), origin=Origin(Actor(PHOTOGRAPHER, Role.PHOTOGRAPHER, None)))
    return ds.StudyInstanceUID, ds.SOPInstanceUID


def _consent(archive: Archive, study: str, status: ConsentStatus, **kw: object) -> None:
    request = ConsentRequest(
        study_instance_uid=study,
        status=status,
        recorded_by="Nurse^Ann",
        **kw,  # type: ignore[arg-type]
    )
    archive.record_consent(request, requester=OPERATOR)


def build_scenario(archive: Archive) -> Scenario:
    s = Scenario()
    given = {"consenter": "patient", "form": "written"}
    for kind in ("held", "quarantined", "withdrawn", "teaching", "level3", "vital"):
        s.studies[kind], s.uids[kind] = _photo(archive, "M1")
    s.studies["other-held"], s.uids["other-held"] = _photo(archive, "M2")
    _consent(archive, s.studies["quarantined"], ConsentStatus.GIVEN, level="record", **given)
    archive.set_availability(
        Level.IMAGE,
        s.uids["quarantined"],
        Availability.QUARANTINED,
        reason="another patient in the picture",
        requester=Actor.operator("ig"),
    )
    _consent(archive, s.studies["withdrawn"], ConsentStatus.GIVEN, level="teaching", **given)
    _consent(archive, s.studies["withdrawn"], ConsentStatus.WITHDRAWN, consenter="patient")
    _consent(archive, s.studies["teaching"], ConsentStatus.GIVEN, level="teaching", **given)
    _consent(
        archive,
        s.studies["level3"],
        ConsentStatus.GIVEN,
        level="specified",
        purpose=JOURNAL,
        **given,
    )
    _consent(
        archive,
        s.studies["vital"],
        ConsentStatus.IMPLICIT,
        basis="vital-interests",
        authorised_by="Consultant^Carla",
    )
    return s
