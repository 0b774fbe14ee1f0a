"""Web accounts and sessions: hashing, back-off, rate limit, password policy, the last
administrator, session cap, expiry, purposes, audit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from archive import (
    Actor,
    AlreadyExists,
    Archive,
    ArchiveSettings,
    AuthenticationFailed,
    InvalidArgument,
    InvalidTransition,
    Purpose,
    Role,
    SignInThrottled,
    users,
)
from archive.db import aware
from archive.models import User, WebSession
from tests.archive.helpers import audit_rows

PW = "correct horse battery staple"


@pytest.fixture
def accounts(archive: Archive) -> Archive:
    archive.accounts.add(
        "dr.who", role=Role.CLINICIAN, password=PW, requester=Actor.operator("admin")
    )
    return archive


def test_passwords_are_argon2_hashed_and_accounts_unique(accounts: Archive) -> None:
    with accounts.sessions() as s:
        user = s.scalars(select(User)).one()
    assert user.password_hash.startswith("$argon2id$") and PW not in user.password_hash
    with pytest.raises(AlreadyExists):
        accounts.accounts.add(
            "dr.who", role=Role.CLINICIAN, password=PW, requester=Actor.operator("admin")
        )
    with pytest.raises(InvalidArgument, match="at least 12"):
        accounts.accounts.add(
            "x", role=Role.CLINICIAN, password="short", requester=Actor.operator("admin")
        )
    with pytest.raises(InvalidArgument, match="DICOM nodes"):
        accounts.accounts.add("x", role=Role.EPR, password=PW, requester=Actor.operator("admin"))
    with pytest.raises(InvalidArgument, match="user name"):
        accounts.accounts.add(
            "../etc", role=Role.CLINICIAN, password=PW, requester=Actor.operator("admin")
        )


def test_sign_in_gives_a_fresh_token_each_time(accounts: Archive) -> None:
    t1, s1 = accounts.accounts.sign_in("dr.who", PW, source="10.0.0.1")
    t2, _ = accounts.accounts.sign_in("dr.who", PW)
    assert t1 != t2 and s1.role is Role.CLINICIAN and s1.purpose is None
    assert accounts.accounts.session(t1) is not None
    with accounts.sessions() as s:
        hashes = set(s.scalars(select(WebSession.token_hash)))
    assert t1 not in hashes and t2 not in hashes  # only hashes are stored


class Clock:
    """Stands in for the accounts' clock, so back-off windows pass without waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(users, "_now", fake)
    return fake


def _login_refusals(archive: Archive) -> list[str]:
    return [
        json.loads(r.detail)["reason"]
        for r in audit_rows(archive)
        if r.action == "login" and r.outcome == "refused"
    ]


def test_wrong_password_and_unknown_user_are_refused_and_audited(accounts: Archive) -> None:
    with pytest.raises(AuthenticationFailed):
        accounts.accounts.sign_in("nobody", PW)
    with pytest.raises(AuthenticationFailed):
        accounts.accounts.sign_in("dr.who", "wrong password!!")
    assert _login_refusals(accounts) == ["unknown user", "wrong password"]


def test_back_off_grows_is_capped_and_ends(
    accounts: Archive, settings: ArchiveSettings, clock: Clock
) -> None:
    free = settings.signin_backoff_after
    for _ in range(free):  # a few typos cost nothing
        with pytest.raises(AuthenticationFailed):
            accounts.accounts.sign_in("dr.who", "wrong password!!")
    assert not accounts.accounts.list()[0].locked
    windows = []
    for _ in range(12):
        with pytest.raises(AuthenticationFailed):
            accounts.accounts.sign_in("dr.who", "wrong password!!")
        with accounts.sessions() as s:
            until = s.scalar(select(User.locked_until))
        assert until is not None
        windows.append((aware(until) - clock.now).total_seconds())
        # Inside the window even the right password is refused (and not counted) ...
        with pytest.raises(AuthenticationFailed):
            accounts.accounts.sign_in("dr.who", PW)
        clock.advance(windows[-1])
    base, cap = settings.signin_backoff_seconds, settings.signin_backoff_max_seconds
    assert windows[:3] == [base, 2 * base, 4 * base]
    assert max(windows) == cap and windows[-1] == cap
    # ... and after it, the right password works and the count starts again.
    accounts.accounts.sign_in("dr.who", PW)
    assert not accounts.accounts.list()[0].locked
    refusals = _login_refusals(accounts)
    assert len(refusals) == free + 12 + 12  # one audit event per refusal
    assert refusals.count("back-off: sign-in paused") == 12


def test_parallel_guesses_do_not_slip_through_one_window(
    accounts: Archive, settings: ArchiveSettings
) -> None:
    """Guesses checked at the same time are recorded one after another (the account's
    row is locked), so no more of them count than the back-off allows."""
    slow = settings.model_copy(
        update={"signin_backoff_seconds": 3600, "signin_backoff_max_seconds": 3600}
    )
    guesser = users.Accounts(accounts.sessions, slow)
    n = slow.signin_backoff_after + 5

    def guess(i: int) -> None:
        with pytest.raises(AuthenticationFailed):
            guesser.sign_in("dr.who", f"guess number {i}!", source=f"10.0.0.{i}")

    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(guess, range(n)))
    with accounts.sessions() as s:
        assert s.scalar(select(User.failed_logins)) == slow.signin_backoff_after + 1
    refusals = _login_refusals(accounts)
    assert refusals.count("wrong password") == slow.signin_backoff_after
    assert refusals.count("wrong password; back-off 3600 s") == 1
    assert refusals.count("back-off: sign-in paused") == n - slow.signin_backoff_after - 1


def test_default_back_off_allows_fewer_than_100_guesses_an_hour() -> None:
    """ASVS 2.2.1: at most 100 failed attempts an hour on one account."""
    settings = ArchiveSettings()
    elapsed, guesses = 0.0, 0
    while True:
        guesses += 1
        elapsed += users.backoff_delay(guesses, settings)
        if elapsed >= 3600:
            break
    assert guesses < 100
    assert users.backoff_delay(1000, settings) == settings.signin_backoff_max_seconds


def test_an_admin_reset_clears_the_back_off(accounts: Archive, settings: ArchiveSettings) -> None:
    for _ in range(settings.signin_backoff_after + 1):
        with pytest.raises(AuthenticationFailed):
            accounts.accounts.sign_in("dr.who", "wrong password!!")
    assert accounts.accounts.list()[0].locked
    accounts.accounts.reset_password("dr.who", PW + "!", requester=Actor.operator("admin"))
    assert not accounts.accounts.list()[0].locked
    accounts.accounts.sign_in("dr.who", PW + "!")


def test_disabled_accounts_cannot_sign_in_and_lose_sessions(accounts: Archive) -> None:
    token, _ = accounts.accounts.sign_in("dr.who", PW)
    accounts.accounts.set_disabled("dr.who", True, requester=Actor.operator("admin"))
    assert accounts.accounts.session(token) is None
    with pytest.raises(AuthenticationFailed):
        accounts.accounts.sign_in("dr.who", PW)


@pytest.mark.parametrize("field", ["last_seen_at", "expires_at"])
def test_idle_and_absolute_expiry(accounts: Archive, field: str) -> None:
    token, _ = accounts.accounts.sign_in("dr.who", PW)
    past = datetime.now(UTC) - timedelta(days=1)
    with accounts.engine.begin() as conn:
        conn.execute(update(WebSession).values({field: past}))
    assert accounts.accounts.session(token) is None
    assert accounts.accounts.session(token) is None  # and it stays ended


def test_purpose_must_be_one_the_role_allows(accounts: Archive) -> None:
    token, _ = accounts.accounts.sign_in("dr.who", PW)
    with pytest.raises(InvalidArgument):
        accounts.accounts.set_purpose(token, Purpose.TEACHING)
    info = accounts.accounts.set_purpose(token, Purpose.CARE)
    assert info.purpose is Purpose.CARE
    assert accounts.accounts.session(token).purpose is Purpose.CARE  # type: ignore[union-attr]
    accounts.accounts.sign_out(token)
    assert accounts.accounts.session(token) is None


def test_rate_limit_per_client_address(accounts: Archive, settings: ArchiveSettings) -> None:
    limiter = users.SignInLimiter(limit=3, window_seconds=60)
    now = [1000.0]
    limiter.clock = lambda: now[0]
    for _ in range(3):
        assert limiter.attempt("10.1.2.3") is None
        limiter.failed("10.1.2.3")
    assert limiter.attempt("10.1.2.3") == 60
    assert limiter.attempt("10.1.2.4") is None  # another client
    # An IPv6 client is one /64: a new address in it does not start afresh.
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        assert limiter.attempt(host) is None
        limiter.failed(host)
    assert limiter.attempt("2001:db8::ffff") is not None
    assert limiter.attempt("2001:db8:0:1::1") is None
    now[0] += 30
    assert limiter.attempt("10.1.2.3") == 30
    now[0] += 30
    assert limiter.attempt("10.1.2.3") is None  # the window slid past the failures
    # Through the accounts: the refusal is audited, no password is checked.
    accounts.accounts.limiter = users.SignInLimiter(limit=1, window_seconds=60)
    with pytest.raises(AuthenticationFailed):
        accounts.accounts.sign_in("dr.who", "wrong password!!", source="10.9.9.9")
    with pytest.raises(SignInThrottled) as caught:
        accounts.accounts.sign_in("dr.who", PW, source="10.9.9.9")
    assert 0 < caught.value.retry_after <= 60
    assert _login_refusals(accounts) == ["wrong password", "rate limited"]
    accounts.accounts.sign_in("dr.who", PW, source="10.9.9.10")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (" " * 12, "only spaces"),
        ("\t \t \t \t \t \t ", "only spaces"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("abcabcabcabc", "short pattern repeated"),
        ("password1234", "commonly used"),
        ("Password1234", "commonly used"),
        ("iloveyou2024!!", "commonly used"),
        ("P@ssw0rd2024", "commonly used"),
        ("123456789012", "sequence"),
        ("abcdefghijkl", "sequence"),
        ("LKJIHGFEDCBA", "sequence"),
        ("qwertyuiopas", "sequence"),
        ("x" * 1025, "too long"),
        ("short", "at least 12"),
        ("call me New.Person", "user name"),
    ],
)
def test_weak_passwords_are_refused(accounts: Archive, password: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        accounts.accounts.add(
            "new.person", role=Role.CLINICIAN, password=password, requester=Actor.operator("a")
        )
    with pytest.raises(InvalidArgument, match=reason):
        accounts.accounts.reset_password(
            "dr.who", password.replace("New.Person", "Dr.Who"), requester=Actor.operator("a")
        )


@pytest.mark.parametrize(
    "password",
    [PW, "Tr0ub4dor&3 horse", "mauve-kettle-92-lantern", "ab1cd2ef3gh4", "Ümlaut-Straße-1999"],
)
def test_reasonable_passwords_are_accepted(accounts: Archive, password: str) -> None:
    accounts.accounts.add(
        "new.person", role=Role.CLINICIAN, password=password, requester=Actor.operator("a")
    )


def test_the_last_active_admin_stays(accounts: Archive) -> None:
    a = accounts.accounts
    a.add("root", role=Role.ADMIN, password=PW, requester=Actor.operator("cli"))
    a.add("boss", role=Role.ADMIN, password=PW, requester=Actor.operator("cli"))
    a.set_disabled("boss", True, requester=Actor.operator("root"))
    with pytest.raises(InvalidTransition, match="last active administrator"):
        a.set_disabled("root", True, requester=Actor.operator("root"))
    with pytest.raises(InvalidTransition, match="last active administrator"):
        a.set_role("root", Role.CLINICIAN, requester=Actor.operator("root"))
    a.set_role(
        "boss", Role.GOVERNANCE, requester=Actor.operator("root")
    )  # a disabled admin may be demoted
    a.set_disabled("boss", False, requester=Actor.operator("root"))
    a.set_role("boss", Role.ADMIN, requester=Actor.operator("root"))
    a.set_role("root", Role.EDUCATOR, requester=Actor.operator("boss"))
    a.set_disabled("dr.who", True, requester=Actor.operator("boss"))  # not an admin: no question
    with pytest.raises(InvalidArgument, match="DICOM nodes"):
        a.set_role("dr.who", Role.EPR, requester=Actor.operator("boss"))
    roles = {u.username: (u.role, u.disabled) for u in a.list()}
    assert roles == {
        "boss": (Role.ADMIN, False),
        "dr.who": (Role.CLINICIAN, True),
        "root": (Role.EDUCATOR, False),
    }


def test_a_role_change_ends_the_sessions(accounts: Archive) -> None:
    token, _ = accounts.accounts.sign_in("dr.who", PW)
    accounts.accounts.set_role("dr.who", Role.EDUCATOR, requester=Actor.operator("admin"))
    assert accounts.accounts.session(token) is None


def test_sessions_per_user_are_capped_oldest_ends(
    accounts: Archive, settings: ArchiveSettings, clock: Clock
) -> None:
    cap = settings.max_sessions_per_user
    tokens = []
    for _ in range(cap + 2):
        tokens.append(accounts.accounts.sign_in("dr.who", PW)[0])
        clock.advance(1)
    alive = [accounts.accounts.session(t) is not None for t in tokens]
    assert alive == [False, False] + [True] * cap
    signed_in = [
        json.loads(r.detail)
        for r in audit_rows(accounts)
        if r.action == "login" and r.outcome == "success"
    ]
    assert [d.get("sessions_ended", "0") for d in signed_in] == ["0"] * cap + ["1", "1"]
