"""People who sign in to the web viewer, and their sessions.

Passwords are argon2id-hashed (argon2-cffi) and must pass :mod:`archive.passwords`
(long enough, not a commonly used one, no trivial pattern, not the user name);
there are no default accounts. Sign-in answers do not tell an unknown user, a
wrong password, a disabled account and one that is backing off apart, neither
by what they say nor by how long they take. Failed sign-ins in a row make an
account pause (exponential back-off, capped; never a lock a stranger could keep
shut), and failed sign-ins per client address are rate limited. A person has
at most ``max_sessions_per_user`` sessions; sessions expire after an idle period
and after an absolute lifetime; only a SHA-256 of a session token is stored, so
a copy of the database cannot be used to sign in. Every sign-in, refusal and
account change is an audit event.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from archive import audit
from archive.audit import Action, AuditEntry, Outcome
from archive.db import aware
from archive.errors import (
    AlreadyExists,
    ArchiveError,
    InvalidArgument,
    InvalidTransition,
    NotFound,
)
from archive.models import User, WebSession
from archive.passwords import password_problem
from archive.policy import Actor, Purpose, Role, role_may_act_for
from archive.settings import ArchiveSettings

PEOPLE_ROLES = (Role.CLINICIAN, Role.PHOTOGRAPHER, Role.EDUCATOR, Role.GOVERNANCE, Role.ADMIN)
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not tell.

    Made on first use, not at import: hashing takes a tenth of a second or more, which
    every `photopacs` command would pay. Two first sign-ins at once may each make
    one; either serves, and the cache keeps one from then on."""
    return _hasher.hash(secrets.token_hex(16))


class SignInThrottled(ArchiveError):
    """Too many failed sign-ins from this client address: try again after ``retry_after``
    seconds. Raised before any password is checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins from this address: try again in {retry_after} seconds"
        )
        self.retry_after = retry_after


class AuthenticationFailed(ArchiveError):
    """Wrong user name or password, a disabled account or one backing off (not told apart)."""


@dataclass(frozen=True)
class UserInfo:
    username: str
    full_name: str
    role: Role
    disabled: bool
    locked: bool  # backing off: signing in pauses until users.locked_until


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who, in which role, for which purpose, and its CSRF token."""

    token_hash: str
    username: str
    full_name: str
    role: Role
    purpose: Purpose | None
    specified_purpose: str
    csrf_token: str
    expires_at: datetime


BACKING_OFF = "back-off: sign-in paused"


def backoff_delay(failures: int, settings: ArchiveSettings) -> float:
    """Seconds an account pauses after its ``failures``-th failed sign-in in a row:
    none for the first ``signin_backoff_after``, then ``signin_backoff_seconds``
    doubling each time, at most ``signin_backoff_max_seconds``."""
    beyond = failures - settings.signin_backoff_after
    if beyond <= 0:
        return 0.0
    pause = settings.signin_backoff_seconds * 2.0 ** min(beyond - 1, 40)
    return float(min(pause, settings.signin_backoff_max_seconds))


def client_key(source: str) -> str:
    """What the rate limit counts by: the address, an IPv6 client by its /64 (one
    subscriber's whole network), an IPv4-mapped IPv6 address as IPv4."""
    try:
        address = ipaddress.ip_address(source.strip())
    except ValueError:
        return source.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SignInLimiter:
    """Failed sign-ins per client address in a sliding window, in this process's
    memory (the web viewer runs in one process). Only the newest ``limit`` failures
    of an address are kept, and at most ``max_clients`` addresses (the least recently
    failing are forgotten first), so a flood cannot exhaust memory."""

    def __init__(self, limit: int, window_seconds: float, *, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self.clock: Callable[[], float] = time.monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, source: str) -> int | None:
        """None if ``source`` may try to sign in now, else the seconds to wait."""
        key, now = client_key(source), self.clock()
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return None
            self._expire(failures, now)
            if not failures:
                del self._failures[key]
                return None
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, source: str) -> None:
        key, now = client_key(source), self.clock()
        with self._lock:
            failures = self._failures.pop(key, None) or deque(maxlen=self.limit)
            self._expire(failures, now)
            failures.append(now)
            self._failures[key] = failures  # now the most recently failing
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window:
            failures.popleft()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _now() -> datetime:
    return datetime.now(UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str, username: str, settings: ArchiveSettings) -> None:
    problem = password_problem(password, username=username, min_length=settings.min_password_length)
    if problem is not None:
        raise InvalidArgument(problem)


def _username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise InvalidArgument("user name: 1-64 letters, digits, '.', '_', '-' or '@'")
    return name


def _people_role(role: Role | str) -> Role:
    try:
        user_role = Role(role)
    except ValueError:
        raise InvalidArgument(f"role {role!r} is not a role") from None
    if user_role not in PEOPLE_ROLES:
        raise InvalidArgument(f"role {user_role} is for DICOM nodes, not people")
    return user_role


def _info(user: User) -> UserInfo:
    locked = user.locked_until is not None and aware(user.locked_until) > _now()
    return UserInfo(user.username, user.full_name, Role(user.role), user.disabled, locked)


def _event(
    session: Session, actor: str, outcome: Outcome, detail: dict[str, str], source: str = ""
) -> None:
    audit.record(
        session,
        AuditEntry(
            actor=actor,
            action=Action.ADMIN if "operation" in detail else "login",
            outcome=outcome,
            source=source,
            detail=detail,
        ),
    )


class Accounts:
    """User accounts and web sessions over the archive's database."""

    def __init__(self, factory: sessionmaker[Session], settings: ArchiveSettings) -> None:
        self.factory = factory
        self.settings = settings
        self.limiter = SignInLimiter(
            settings.signin_rate_limit, settings.signin_rate_window_seconds
        )

    # --- accounts -------------------------------------------------------------
    def add(
        self,
        username: str,
        *,
        role: Role | str,
        password: str,
        full_name: str = "",
        requester: Actor,
    ) -> UserInfo:
        name = _username(username)
        user_role = _people_role(role)
        _check_password(password, name, self.settings)
        now = _now()
        user = User(
            username=name,
            full_name=full_name.strip()[:200],
            role=str(user_role),
            password_hash=_hasher.hash(password),
            created_at=now,
            password_changed_at=now,
        )
        try:
            with self.factory() as session, session.begin():
                session.add(user)
                session.flush()
                _event(
                    session,
                    requester.actor,
                    Outcome.SUCCESS,
                    {"operation": "user-add", "user": name, "role": str(user_role)},
                )
        except IntegrityError:
            raise AlreadyExists(f"user {name} already exists") from None
        return _info(user)

    def _get(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username.strip()))
        if user is None:
            raise NotFound(f"no user {username.strip()}")
        return user

    def set_disabled(self, username: str, disabled: bool, *, requester: Actor) -> None:
        """Disable (ending its sessions) or enable an account; the last active
        administrator cannot be disabled."""
        with self.factory() as session, session.begin():
            user = self._get(session, username)
            if disabled:
                self._keep_an_active_admin(session, user, "disable")
            user.disabled = disabled
            if disabled:
                self._revoke_all(session, user.pk)
            _event(
                session,
                requester.actor,
                Outcome.SUCCESS,
                {"operation": "user-disable" if disabled else "user-enable", "user": user.username},
            )

    def set_role(self, username: str, role: Role | str, *, requester: Actor) -> UserInfo:
        """Give an account another role, ending its sessions (their purposes of use
        were chosen under the old role); the last active administrator keeps theirs."""
        new_role = _people_role(role)
        with self.factory() as session, session.begin():
            user = self._get(session, username)
            if new_role is not Role.ADMIN:
                self._keep_an_active_admin(session, user, "demote")
            if user.role != str(new_role):
                old = user.role
                user.role = str(new_role)
                self._revoke_all(session, user.pk)
                _event(
                    session,
                    requester.actor,
                    Outcome.SUCCESS,
                    {
                        "operation": "user-role",
                        "user": user.username,
                        "from": old,
                        "role": user.role,
                    },
                )
            return _info(user)

    @staticmethod
    def _keep_an_active_admin(session: Session, user: User, what: str) -> None:
        """Refuse a change that would leave no enabled administrator. The enabled
        administrators' rows are locked in one order, so two administrators disabling
        each other at the same moment cannot both succeed (SQLite: BEGIN IMMEDIATE
        serialises the transactions anyway)."""
        if user.role != str(Role.ADMIN) or user.disabled:
            return
        admins = session.scalars(
            select(User)
            .where(User.role == str(Role.ADMIN), User.disabled.is_(False))
            .order_by(User.pk)
            .with_for_update()
        ).all()
        if not any(admin.pk != user.pk for admin in admins):
            raise InvalidTransition(
                f"cannot {what} {user.username}: they are the last active administrator "
                "(add or enable another administrator first)"
            )

    def reset_password(self, username: str, password: str, *, requester: Actor) -> None:
        _check_password(password, username, self.settings)
        with self.factory() as session, session.begin():
            user = self._get(session, username)
            user.password_hash = _hasher.hash(password)
            user.password_changed_at = _now()
            user.failed_logins = 0
            user.locked_until = None
            self._revoke_all(session, user.pk)
            _event(
                session,
                requester.actor,
                Outcome.SUCCESS,
                {"operation": "user-reset", "user": user.username},
            )

    def list(self) -> list[UserInfo]:
        with self.factory() as session:
            return [_info(u) for u in session.scalars(select(User).order_by(User.username))]

    def any_admin(self) -> bool:
        with self.factory() as session:
            return session.scalar(select(User.pk).where(User.role == str(Role.ADMIN))) is not None

    # --- sign-in and sessions ---------------------------------------------------
    def sign_in(self, username: str, password: str, *, source: str = "") -> tuple[str, SessionInfo]:
        """Check the password and open a new session (a new token every time, so a
        session id planted before sign-in is never reused). Returns (token, session).

        A client address (``source``) with too many failed sign-ins lately is refused
        with :class:`SignInThrottled` before anything is checked.

        Every answer costs the same: one argon2 verification (against a dummy hash for
        an unknown user, and also while the account is backing off), done outside any
        transaction, then one short transaction that records the outcome. Every refusal
        is audited (one event, committed) before :class:`AuthenticationFailed` is
        raised; the message never says which check failed.
        """
        name = username.strip()[:64]
        wait = self.limiter.attempt(source)
        if wait is not None:
            with self.factory() as session, session.begin():
                detail = {"reason": "rate limited", "retry_after": str(wait)}
                _event(session, name, Outcome.REFUSED, detail, source)
            raise SignInThrottled(wait)
        dummy = _dummy_hash()  # made by the first sign-in, whether or not the user exists
        with self.factory() as session:
            seen = session.scalar(select(User.password_hash).where(User.username == name))
        matches = _verify(seen if seen is not None else dummy, password)
        now = _now()
        with self.factory() as session, session.begin():
            # The row lock serialises concurrent sign-ins to one account, so parallel
            # guesses cannot slip past the back-off or the session cap together.
            user = session.scalar(select(User).where(User.username == name).with_for_update())
            refusal = self._refusal(user, seen, matches, now)
            if refusal is not None:
                _event(session, name, Outcome.REFUSED, {"reason": refusal}, source)
            else:
                assert user is not None
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
                user.failed_logins = 0
                user.locked_until = None
                ended = self._make_room(session, user.pk, now)
                token = secrets.token_urlsafe(32)
                row = WebSession(
                    token_hash=_hash_token(token),
                    user_pk=user.pk,
                    csrf_token=secrets.token_urlsafe(32),
                    source=source[:200],
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=self.settings.session_max_hours),
                )
                session.add(row)
                detail = {"reason": "signed in"}
                if ended:
                    detail["sessions_ended"] = str(ended)
                _event(session, name, Outcome.SUCCESS, detail, source)
                session.flush()
                info = self._session_info(row, user)
        if refusal is not None:
            self.limiter.failed(source)
            raise AuthenticationFailed("wrong user name or password")
        return token, info

    def _refusal(
        self, user: User | None, seen: str | None, matches: bool, now: datetime
    ) -> str | None:
        """Why a sign-in is refused, or None; counts failures and sets the back-off.

        While an account backs off every attempt is refused, the right password too
        (whether it matched is not used, so the answer tells a guesser nothing), and
        such attempts do not count: the pause is never longer than
        ``signin_backoff_max_seconds`` after the last counted failure. After it, the
        right password works again.
        """
        if user is None:
            return "unknown user"
        if user.locked_until is not None and aware(user.locked_until) > now:
            return BACKING_OFF
        if user.password_hash != seen:  # reset while this attempt was being checked
            return "password changed during sign-in"
        if not matches:
            user.failed_logins += 1
            pause = backoff_delay(user.failed_logins, self.settings)
            if pause:
                user.locked_until = now + timedelta(seconds=pause)
                return f"wrong password; back-off {pause:g} s"
            return "wrong password"
        if user.disabled:
            return "account disabled"
        return None

    def _make_room(self, session: Session, user_pk: int, now: datetime) -> int:
        """Before a new session opens: end the person's oldest live sessions so that at
        most ``max_sessions_per_user`` remain with the new one (and mark the expired ones
        ended). Returns how many live sessions were ended."""
        rows = session.scalars(
            select(WebSession)
            .where(WebSession.user_pk == user_pk, WebSession.revoked.is_(False))
            .order_by(WebSession.created_at, WebSession.pk)
        ).all()
        live = [row for row in rows if self._alive(row, now)]
        for row in rows:
            if row not in live:
                row.revoked = True
        excess = live[: max(0, len(live) - (self.settings.max_sessions_per_user - 1))]
        for row in excess:
            row.revoked = True
        return len(excess)

    def _alive(self, row: WebSession, now: datetime) -> bool:
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        return aware(row.expires_at) > now and now - aware(row.last_seen_at) <= idle

    def session(self, token: str) -> SessionInfo | None:
        """The live session for a token, touching its idle timer; None if expired."""
        if not token:
            return None
        now = _now()
        with self.factory() as session, session.begin():
            row = session.scalar(
                select(WebSession).where(WebSession.token_hash == _hash_token(token))
            )
            if row is None or row.revoked:
                return None
            user = session.get(User, row.user_pk)
            if user is None or user.disabled or not self._alive(row, now):
                row.revoked = True
                return None
            row.last_seen_at = now
            return self._session_info(row, user)

    def set_purpose(self, token: str, purpose: Purpose, specified: str = "") -> SessionInfo:
        """Choose the purpose of use for the rest of the session (one the role allows)."""
        with self.factory() as session, session.begin():
            row = session.scalar(
                select(WebSession).where(
                    WebSession.token_hash == _hash_token(token), WebSession.revoked.is_(False)
                )
            )
            if row is None:
                raise NotFound("no such session")
            user = session.get(User, row.user_pk)
            assert user is not None
            if not role_may_act_for(Role(user.role), purpose):
                raise InvalidArgument(f"a {user.role} may not act for {purpose}")
            if purpose is Purpose.SPECIFIED and not specified.strip():
                raise InvalidArgument("a specified purpose needs its text")
            row.purpose = str(purpose)
            row.specified_purpose = specified.strip() if purpose is Purpose.SPECIFIED else ""
            _event(
                session,
                user.username,
                Outcome.SUCCESS,
                {"reason": "purpose chosen", "purpose": row.purpose},
                row.source,
            )
            return self._session_info(row, user)

    def sign_out(self, token: str) -> None:
        with self.factory() as session, session.begin():
            session.execute(
                update(WebSession)
                .where(WebSession.token_hash == _hash_token(token))
                .values(revoked=True)
            )

    @staticmethod
    def _revoke_all(session: Session, user_pk: int) -> None:
        session.execute(
            update(WebSession).where(WebSession.user_pk == user_pk).values(revoked=True)
        )

    @staticmethod
    def _session_info(row: WebSession, user: User) -> SessionInfo:
        return SessionInfo(
            token_hash=row.token_hash,
            username=user.username,
            full_name=user.full_name,
            role=Role(user.role),
            purpose=Purpose(row.purpose) if row.purpose else None,
            specified_purpose=row.specified_purpose,
            csrf_token=row.csrf_token,
            expires_at=aware(row.expires_at),
        )
