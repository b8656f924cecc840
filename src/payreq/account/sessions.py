"""Dashboard sign-in and sessions (SPEC §7).

- A session is a random id in an HttpOnly, SameSite=Lax cookie (Secure under https);
  only its SHA-256 digest is stored, with the user, the selected environment, the CSRF
  secret of its forms, when it was last seen and when it ends at the latest. A new id
  is issued at every sign-in step (password, then the second factor), so an id planted
  before sign-in is worthless after it.
- Sessions end after ``PAYREQ_SESSION_IDLE_TIMEOUT`` seconds without a request, after
  ``PAYREQ_SESSION_MAX_AGE`` in any case, at sign-out, at "sign out everywhere", when a
  password changes (the others), and at once when a member is removed.
- The throttle counts failed attempts (password or second factor) per address and per
  user over ``PAYREQ_LOGIN_FAILURE_WINDOW`` seconds.
  - Past the user's limit the attempt is refused (429) before the password is checked,
    unless the browser carries this user's device cookie (a browser that has completed
    a sign-in as that user before): a guesser of one user's password is stopped, and
    the right password from a known browser is never locked out; from anywhere else it
    works again once the window has passed (or by a reset link).
  - Past the address's limit only failing attempts are refused (SPEC §4): the password
    is still checked, a right one signs in, a wrong one answers 429 (and counts). So
    the members of other accounts behind the same address (an office's NAT, a proxy)
    keep signing in while one of them, or an attacker among them, fails; an unknown
    email past the limit is refused without a check, since no password can be right.
    The user that address has failed on as often as its limit is the exception: for
    that one the attempt is refused before the check, as past the user's own limit, so
    a guesser at one address never learns a right guess from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from payreq.account import session_repository as repository
from payreq.audit.models import Actor as AuditActor
from payreq.audit.models import ActorKind
from payreq.audit.service import AuditService
from payreq.auth.roles import Actor, Role
from payreq.db import Connection, Row
from payreq.db.tables import ENVIRONMENTS
from payreq.errors import PayreqError, RateLimited, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import digest, random_string

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("payreq: no user has this password")
TOUCH_RESOLUTION = timedelta(minutes=1)
"""``last_seen_at`` is written at most this often per session."""
SECOND_FACTOR_TTL = timedelta(minutes=10)

log = structlog.get_logger("payreq.sessions")


class SignInFailed(PayreqError):
    status = 400
    type = "authentication_error"
    default_code = "invalid_credentials"
    default_message = "The email or password is not right."


class SessionEnded(PayreqError):
    """No session, or one that ended: the page sends the browser to sign in."""

    status = 401
    type = "authentication_error"
    default_code = "signed_out"
    default_message = "Please sign in."


@dataclass(frozen=True, slots=True)
class Session:
    """A live session as a page sees it."""

    digest: str
    stage: str
    environment: str
    csrf_secret: str
    actor: Actor
    account_name: str
    account_requires_totp: bool
    totp_enabled: bool
    last_seen_at: datetime

    @property
    def must_enroll_totp(self) -> bool:
        return self.account_requires_totp and not self.totp_enabled


@dataclass(frozen=True, slots=True)
class Started:
    """A new session: the cookie's value (shown nowhere else) and its stage."""

    token: str
    stage: str
    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sign-in attempt that passed the throttle: the user, if the email is known;
    ``address_over``: its address is past its limit, so a failure answers 429."""

    email: str
    address: str
    user: Row | None
    address_over: bool = False


def too_many_attempts(window: timedelta) -> RateLimited:
    return RateLimited(
        "Too many failed sign-in attempts. Wait a few minutes, or reset your password.",
        code="too_many_sign_in_attempts",
        headers={"Retry-After": str(int(window.total_seconds()))},
    )


def actor_of(row: Row) -> Actor:
    return Actor(
        user_id=row["user_id"], account_id=row["account_id"], role=Role(row["role"]), email=row["email"]
    )


def new_session_token() -> str:
    return random_string(43)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """argon2id in a thread, so that tens of milliseconds never block the event loop.
    An unknown user is checked against a dummy hash: both take the same time."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


class SessionService:
    def __init__(
        self,
        *,
        secret_key: str,
        clock: Clock = utc_now,
        idle_timeout: int = 7200,
        max_age: int = 7 * 86400,
        failure_limit: int = 10,
        user_failure_limit: int = 50,
        failure_window: int = 900,
        audit: AuditService | None = None,
    ) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)
        self.idle_timeout = timedelta(seconds=idle_timeout)
        self.max_age = timedelta(seconds=max_age)
        self.failure_limit = failure_limit
        self.user_failure_limit = user_failure_limit
        self.failure_window = timedelta(seconds=failure_window)
        self._device_key = hmac.new(secret_key.encode(), b"payreq device cookie v1", hashlib.sha256).digest()

    # -- the device cookie --------------------------------------------------------

    def device_cookie(self, user_id: uuid.UUID) -> str:
        mac = hmac.new(self._device_key, user_id.bytes, hashlib.sha256).hexdigest()[:32]
        return f"{user_id}.{mac}"

    def known_device(self, cookie: str | None, user_id: uuid.UUID) -> bool:
        return bool(cookie) and hmac.compare_digest(
            (cookie or "").encode(), self.device_cookie(user_id).encode()
        )

    # -- the throttle ---------------------------------------------------------------

    async def _throttle(
        self, conn: Connection, *, address: str, user_id: uuid.UUID | None, device: str | None
    ) -> bool:
        """Raise 429 past the user's limit (or past the address's for an unknown email);
        whether the address is past its own (then only a failure is refused)."""
        if user_id is not None and self.known_device(device, user_id):
            return False
        since = self.clock() - self.failure_window
        address_over = await repository.failures_from(conn, address, since=since) >= self.failure_limit
        if user_id is None:
            if address_over:
                raise too_many_attempts(self.failure_window)
            return False
        if await repository.failures_for(conn, user_id, since=since) >= self.user_failure_limit:
            raise too_many_attempts(self.failure_window)
        if (
            address_over
            and await repository.failures_from_for(conn, address, user_id, since=since) >= self.failure_limit
        ):  # this address has been guessing this very user
            raise too_many_attempts(self.failure_window)
        return address_over

    async def record_failure(self, conn: Connection, *, address: str, user_id: uuid.UUID | None) -> None:
        now = self.clock()
        await repository.insert_attempt(
            conn, id=uuid.uuid4(), address=address[:64], user_id=user_id, succeeded=False, at=now
        )
        if user_id is not None:
            await self._audit_sign_in(conn, user_id, "sign_in.failed", address)
        else:  # no account's log: the operator's (never the email typed: it may be a password)
            log.info("sign_in_failed_unknown_user", address=address[:64])

    # -- signing in ------------------------------------------------------------------

    async def prepare(self, conn: Connection, *, email: str, address: str, device: str | None) -> Candidate:
        """Step 1 (read): who would sign in, once the throttle lets the attempt through."""
        email = email.strip().lower()
        if not email:
            raise ValidationFailed("Enter your email address.", param="email")
        user = await repository.user_by_email(conn, email)
        address_over = await self._throttle(
            conn, address=address, user_id=user["user_id"] if user else None, device=device
        )
        return Candidate(email=email, address=address, user=user, address_over=address_over)

    async def start(
        self, conn: Connection, candidate: Candidate, *, password_ok: bool, user_agent: str | None
    ) -> Started | None:
        """Step 2 (write, after ``verify_password`` outside the transaction): a session
        (its second-factor stage when the user has TOTP), or None with the failure
        recorded (the caller commits, then answers ``SignInFailed``, or 429 where the
        candidate's address is past its limit: ``refusal``)."""
        user = candidate.user
        if user is None or not password_ok or user["disabled_at"] is not None:
            await self.record_failure(
                conn, address=candidate.address, user_id=user["user_id"] if user else None
            )
            return None
        stage = "totp" if user["totp_enabled_at"] is not None else "full"
        return await self._new_session(
            conn,
            user["user_id"],
            stage=stage,
            environment="sandbox",
            address=candidate.address,
            user_agent=user_agent,
        )

    def refusal(self, candidate: Candidate) -> PayreqError:
        """What a failed attempt answers: 400, or 429 past the address's limit."""
        return too_many_attempts(self.failure_window) if candidate.address_over else SignInFailed()

    async def _new_session(
        self,
        conn: Connection,
        user_id: uuid.UUID,
        *,
        stage: str,
        environment: str,
        address: str | None,
        user_agent: str | None,
    ) -> Started:
        now = self.clock()
        token = new_session_token()
        expires_at = now + (SECOND_FACTOR_TTL if stage == "totp" else self.max_age)
        await repository.insert_session(
            conn,
            id_digest=digest(token),
            user_id=user_id,
            stage=stage,
            environment=environment if environment in ENVIRONMENTS else "sandbox",
            csrf_secret=random_string(32),
            address=address[:64] if address else None,
            user_agent=user_agent[:200] if user_agent else None,
            created_at=now,
            expires_at=expires_at,
        )
        if stage == "full":
            await repository.insert_attempt(
                conn,
                id=uuid.uuid4(),
                address=(address or "unknown")[:64],
                user_id=user_id,
                succeeded=True,
                at=now,
            )
            await self._audit_sign_in(conn, user_id, "sign_in.succeeded", address)
        return Started(token=token, stage=stage, user_id=user_id)

    async def _audit_sign_in(
        self, conn: Connection, user_id: uuid.UUID, action: str, address: str | None
    ) -> None:
        user = await repository.user_by_id(conn, user_id)
        if user is None:
            return
        await self.audit.record(
            conn,
            AuditActor(ActorKind.USER, str(user_id), user["email"], address[:64] if address else None),
            account_id=user["account_id"],
            environment=None,
            action=action,
            target_type="user",
            target_id=user_id,
        )

    async def promote(
        self, conn: Connection, pending: Session, *, address: str | None, user_agent: str | None
    ) -> Started:
        """The second factor passed: the half-way session gives way to a full one (new id)."""
        await repository.delete_session(conn, pending.digest)
        return await self._new_session(
            conn,
            pending.actor.user_id,
            stage="full",
            environment=pending.environment,
            address=address,
            user_agent=user_agent,
        )

    async def start_for(
        self, conn: Connection, user_id: uuid.UUID, *, address: str | None, user_agent: str | None
    ) -> Started:
        """A session for a user who just proved who they are another way (signed up,
        accepted an invitation, reset the password): that proof stands in for the
        password only, so a user with TOTP gets the second-factor stage, as after a
        password (a reset link alone, from a mailbox, must not get past the code)."""
        user = await repository.user_by_id(conn, user_id)
        stage = "totp" if user is not None and user["totp_enabled_at"] is not None else "full"
        return await self._new_session(
            conn, user_id, stage=stage, environment="sandbox", address=address, user_agent=user_agent
        )

    # -- a request's session ------------------------------------------------------------

    async def resolve(self, conn: Connection, token: str | None, *, stage: str = "full") -> Session:
        """The live session behind a cookie; ``SessionEnded`` otherwise. Seen at most once
        a minute (a write); an idle or expired session is deleted."""
        if not token or len(token) > 100:
            raise SessionEnded()
        row = await repository.session_by_digest(conn, digest(token))
        if row is None:
            raise SessionEnded()
        now = self.clock()
        if (
            row["stage"] != stage
            or row["expires_at"] <= now
            or row["last_seen_at"] + self.idle_timeout <= now
            or row["disabled_at"] is not None
        ):
            if row["stage"] == stage or row["expires_at"] <= now:
                await conn.begin()
                await repository.delete_session(conn, row["id_digest"])
            raise SessionEnded()
        if row["last_seen_at"] + TOUCH_RESOLUTION <= now:
            await conn.begin()
            await repository.touch_session(conn, row["id_digest"], at=now)
        return Session(
            digest=row["id_digest"],
            stage=row["stage"],
            environment=row["environment"],
            csrf_secret=row["csrf_secret"],
            actor=actor_of(row),
            account_name=row["account_name"],
            account_requires_totp=bool(row["require_totp"]),
            totp_enabled=row["totp_enabled_at"] is not None,
            last_seen_at=row["last_seen_at"],
        )

    async def switch_environment(self, conn: Connection, session: Session, environment: str) -> None:
        if environment not in ENVIRONMENTS:
            raise ValidationFailed("environment must be sandbox or production.", param="environment")
        await repository.set_session_environment(conn, session.digest, environment)

    async def end(self, conn: Connection, session: Session) -> None:
        await repository.delete_session(conn, session.digest)

    async def end_everywhere(self, conn: Connection, actor: Actor, *, keep: Session | None = None) -> int:
        """Every session of this user ends (but ``keep``, if given)."""
        return await repository.delete_user_sessions(
            conn, actor.user_id, except_digest=keep.digest if keep else None
        )

    async def list(self, conn: Connection, actor: Actor) -> list[Row]:
        return await repository.user_sessions(conn, actor.user_id)

    async def sweep(self, conn: Connection) -> int:
        """Housekeeping: expired sessions and sign-in attempts older than a day."""
        now = self.clock()
        removed = await repository.delete_stale_sessions(conn, before=now)
        removed += await repository.delete_attempts(
            conn, before=now - max(self.failure_window, timedelta(days=1))
        )
        return removed
