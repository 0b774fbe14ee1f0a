"""Sign-in through the real HTTP app: answers that do not tell accounts apart
(body, status and time), per-account back-off a stranger cannot turn into a
lock-out, a per-client rate limit (429), the password policy, the last active
administrator, and the cap on sessions per person."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from archive import Archive, ArchiveSettings
from archive.db import aware
from archive.models import User
from tests.archive.helpers import audit_rows
from tests.web_viewer.helpers import PASSWORD, add_user, make_client, sign_in
from web_viewer import create_app
from web_viewer.settings import WebSettings

WRONG = "not the password at all"


def _login_events(archive: Archive) -> list[dict[str, str]]:
    import json

    return [
        {"outcome": r.outcome, "actor": r.actor, **json.loads(r.detail)}
        for r in audit_rows(archive)
        if r.action == "login"
    ]


def _back_off(archive: Archive, username: str, seconds: float) -> None:
    """Put an account in (or, with a negative value, past) a back-off window."""
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    with archive.sessions() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(locked_until=until))


class TestAnswersDoNotTellAccountsApart:
    @pytest.fixture
    def settings(self, settings: ArchiveSettings) -> ArchiveSettings:
        # Many attempts from one test client: no rate limit, and the wrong-password
        # account never reaches its back-off on its own.
        return settings.model_copy(
            update={"signin_rate_limit": 10_000, "signin_backoff_after": 10_000}
        )

    def test_same_status_and_body(self, archive: Archive, tmp_path: Path) -> None:
        add_user(archive, "clin", "clinician")
        add_user(archive, "paused", "clinician")
        _back_off(archive, "paused", 3600)
        client = make_client(archive, tmp_path)
        answers = [
            client.post("/api/session", json={"username": u, "password": p})
            for u, p in (("nobody", PASSWORD), ("clin", WRONG), ("paused", PASSWORD))
        ]
        assert {r.status_code for r in answers} == {401}
        assert len({r.text for r in answers}) == 1
        assert answers[0].json()["error"]["code"] == "sign_in_failed"
        pages = [_form_login(client, u, p) for u, p in (("nobody", PASSWORD), ("paused", PASSWORD))]
        assert {r.status_code for r in pages} == {401}
        assert (
            pages[0].text.split('name="login_token"')[0]
            == pages[1].text.split('name="login_token"')[0]
        )
        reasons = [e["reason"] for e in _login_events(archive) if e["outcome"] == "refused"]
        assert len(reasons) == 5  # one audit event per refusal
        assert "unknown user" in reasons and "wrong password" in reasons
        assert sum("back-off" in r for r in reasons) == 2

    def test_answer_times_do_not_tell_accounts_apart(
        self, archive: Archive, tmp_path: Path
    ) -> None:
        add_user(archive, "clin", "clinician")
        add_user(archive, "paused", "clinician")
        _back_off(archive, "paused", 3600)
        client = make_client(archive, tmp_path)
        cases = {
            "unknown": ("nobody", WRONG),
            "wrong": ("clin", WRONG),
            "paused": ("paused", PASSWORD),  # the right password, inside the pause
        }
        for username, password in cases.values():  # warm up each path once
            client.post("/api/session", json={"username": username, "password": password})
        # A round is 20 sign-ins of each kind, interleaved so that load from elsewhere on
        # the machine hits all kinds alike; its medians must be within 20%. A shared,
        # busy machine can skew one round, so up to three are run: a real difference
        # (the old locked answer took 12 ms against 330 ms) fails every round.
        rounds = []
        for _ in range(3):
            times: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(20):
                for kind, (username, password) in cases.items():
                    body = {"username": username, "password": password}
                    start = time.perf_counter()
                    r = client.post("/api/session", json=body)
                    times[kind].append(time.perf_counter() - start)
                    assert r.status_code == 401
            medians = {k: statistics.median(v) for k, v in times.items()}
            print("sign-in medians (ms):", {k: round(v * 1000, 1) for k, v in medians.items()})
            rounds.append(medians)
            fastest, slowest = min(medians.values()), max(medians.values())
            if (slowest - fastest) / fastest < 0.20:
                return
        raise AssertionError(f"sign-in answer times differ by 20% or more: {rounds}")


class TestAStrangerCannotLockAPersonOut:
    @pytest.fixture
    def settings(self, settings: ArchiveSettings) -> ArchiveSettings:
        # Pauses long enough that a slow, busy machine cannot outlast one by accident.
        return settings.model_copy(
            update={"signin_backoff_seconds": 30, "signin_backoff_max_seconds": 60}
        )

    def test_the_pause_is_bounded_and_then_the_password_works(
        self, archive: Archive, tmp_path: Path
    ) -> None:
        s = archive.settings
        add_user(archive, "clin", "clinician")
        stranger = make_client(archive, tmp_path)
        for _ in range(s.signin_backoff_after + 5):
            r = stranger.post("/api/session", json={"username": "clin", "password": WRONG})
            assert r.status_code == 401
        with archive.sessions() as session:
            user = session.scalars(select(User).where(User.username == "clin")).one()
        # The guesses made during the pause did not count, nor lengthen it.
        assert user.failed_logins == s.signin_backoff_after + 1
        assert user.locked_until is not None
        until = aware(user.locked_until)
        assert until - datetime.now(UTC) <= timedelta(seconds=s.signin_backoff_seconds)
        # Inside the pause even the right password waits ...
        person = make_client(archive, tmp_path)
        r = person.post("/api/session", json={"username": "clin", "password": PASSWORD})
        assert r.status_code == 401 and r.json()["error"]["code"] == "sign_in_failed"
        # ... and once it has passed, it works.
        _back_off(archive, "clin", -1)
        sign_in(person, "clin")


def test_an_admin_reset_clears_the_back_off(archive: Archive, tmp_path: Path) -> None:
    add_user(archive, "root", "admin")
    add_user(archive, "clin", "clinician")
    _back_off(archive, "clin", 3600)
    admin = make_client(archive, tmp_path)
    sign_in(admin, "root")
    assert admin.get("/api/users").json()["users"][0]["locked"] is True
    new = PASSWORD + " again"
    r = admin.patch("/api/users/clin", json={"password": new})
    assert r.status_code == 200 and r.json()["locked"] is False
    sign_in(make_client(archive, tmp_path), "clin", new)


class TestRateLimit:
    @pytest.fixture
    def settings(self, settings: ArchiveSettings) -> ArchiveSettings:
        return settings.model_copy(update={"signin_rate_limit": 4})

    def test_api_answers_429_with_retry_after(self, archive: Archive, tmp_path: Path) -> None:
        add_user(archive, "clin", "clinician")
        client = make_client(archive, tmp_path)
        for i in range(4):  # a different account each time: no per-account back-off here
            r = client.post("/api/session", json={"username": f"guess{i}", "password": WRONG})
            assert r.status_code == 401
        r = client.post("/api/session", json={"username": "clin", "password": PASSWORD})
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= archive.settings.signin_rate_window_seconds
        error = r.json()["error"]
        assert error["code"] == "too_many_attempts" and "try again" in error["message"]
        # Another address is not affected, and successful sign-ins do not count.
        other = TestClient(
            create_app(archive, WebSettings(cookie_secure="never")),
            follow_redirects=False,
            client=("192.0.2.7", 50000),
        )
        for _ in range(6):
            sign_in(other, "clin")
        events = _login_events(archive)
        refused = [e for e in events if e["outcome"] == "refused"]
        assert len(refused) == 5 and refused[-1]["reason"] == "rate limited"
        assert refused[-1]["actor"] == "clin"

    def test_login_form_explains(self, archive: Archive, tmp_path: Path) -> None:
        client = make_client(archive, tmp_path)
        for i in range(4):
            assert _form_login(client, f"guess{i}", WRONG).status_code == 401
        r = _form_login(client, "guess", WRONG)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "Too many failed sign-ins from your address" in r.text


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
