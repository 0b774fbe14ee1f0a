"""Sign-in through the real HTTP app: answers that do not tell accounts apart
(body, status and time), per-account back-off a stranger cannot turn into a
lock-out, a per-client rate limit (429), the password policy, the last active
administrator, and the cap on sessions per person."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive import Archive
from tests.web.helpers import add_user, make_client, sign_in

WRONG = "not the password at all"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (" " * 12, "only spaces"),
        ("a" * 12, "one character repeated"),
        ("password1234", "commonly used"),
        ("P@ssw0rd2024!", "commonly used"),
        ("123456789012", "sequence"),
        ("abcdefghijkl", "sequence"),
        ("newperson-is-my-name", "user name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(
    archive: Archive, tmp_path: Path, password: str, reason: str
) -> None:
    add_user(archive, "root", "admin")
    admin = make_client(archive, tmp_path)
    token = sign_in(admin, "root")
    body = {"username": "newperson", "role": "clinician", "password": password}
    r = admin.post("/api/users", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_argument"
    assert reason in r.json()["error"]["message"]
    form = {
        "csrf_token": token,
        "action": "add",
        "username": "newperson",
        "role": "clinician",
        "password": password,
        "password2": password,
    }
    r = admin.post("/admin/users", data=form)
    assert r.status_code == 400 and reason in r.text
    add_user(archive, "clin", "clinician")
    r = admin.patch("/api/users/clin", json={"password": password.replace("newperson", "clin")})
    assert r.status_code == 400 and reason in r.json()["error"]["message"]


def _form_login(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    return client.post(
        "/login", data={"username": username, "password": password, "login_token": token}
    )


def test_form_passwords_are_taken_as_typed(archive: Archive, tmp_path: Path) -> None:
    """Spaces around a password are part of it, in the forms as in the JSON API."""
    add_user(archive, "root", "admin")
    admin = make_client(archive, tmp_path)
    token = sign_in(admin, "root")
    spaced = "  mauve kettle lantern  "
    form = {"csrf_token": token, "action": "add", "username": "clin", "role": "clinician"}
    r = admin.post("/admin/users", data={**form, "password": spaced, "password2": spaced})
    assert r.status_code == 303
    sign_in(make_client(archive, tmp_path), "clin", spaced)
    r = _form_login(make_client(archive, tmp_path), "clin", spaced)
    assert r.status_code == 303
    r = _form_login(make_client(archive, tmp_path), "clin", spaced.strip())
    assert r.status_code == 401


def test_the_last_active_admin_stays(archive: Archive, tmp_path: Path) -> None:
    add_user(archive, "root", "admin")
    admin = make_client(archive, tmp_path)
    token = sign_in(admin, "root")
    for change in ({"disabled": True}, {"role": "clinician"}):
        r = admin.patch("/api/users/root", json=change)
        assert r.status_code in (400, 409), (change, r.text)
        assert "administrator" in r.json()["error"]["message"]
    for form in ({"action": "disable"}, {"action": "role", "role": "clinician"}):
        r = admin.post("/admin/users", data={"csrf_token": token, "username": "root", **form})
        assert r.status_code in (400, 409) and "administrator" in r.text
    assert [(u["role"], u["disabled"]) for u in admin.get("/api/users").json()["users"]] == [
        ("admin", False)
    ]
    # With a second administrator, one may demote or disable the other.
    add_user(archive, "boss", "admin")
    r = admin.patch("/api/users/boss", json={"role": "governance"})
    assert r.status_code == 200 and r.json()["role"] == "governance"
    r = admin.post(
        "/admin/users",
        data={"csrf_token": token, "username": "boss", "action": "role", "role": "admin"},
    )
    assert r.status_code == 303
    assert admin.patch("/api/users/boss", json={"disabled": True}).status_code == 200


def test_sessions_per_person_are_capped(archive: Archive, tmp_path: Path) -> None:
    cap = archive.settings.max_sessions_per_user
    add_user(archive, "clin", "clinician")
    clients = [make_client(archive, tmp_path) for _ in range(cap + 1)]
    for client in clients:
        sign_in(client, "clin")
    assert clients[0].get("/api/session").status_code == 401  # the oldest ended
    assert all(c.get("/api/session").status_code == 200 for c in clients[1:])
