"""Dashboard users: sign-up, the password rules, password changes and reset links.

Sign-up confirms the address before anything is made: the form stores a pending
sign-up (the digest of a random token, the password's hash, 24 hours, single use) and
the address is mailed the link, or, if it already has a sign-in, a note saying so; the
form's answer is the same either way. Following the link makes the account. A pending
sign-up reserves nothing: invitations and other sign-ups of the address go ahead, and
the first to finish has it.

Passwords: at least 12 characters, at most 1,000 (argon2id hashes them outside any
transaction), not on the small built-in list of common passwords
(``common_passwords.txt``), not the email address nor one repeated character.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources

from payreq import metrics
from payreq.account import repository, session_repository
from payreq.account.service import account_name, create_account, hash_password
from payreq.audit.service import AuditService
from payreq.auth.roles import Actor, Role
from payreq.db import Connection, UniqueViolation
from payreq.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import digest, random_string
from payreq.kit.jsonbody import check_text
from payreq.ratelimit.backend import Budget
from payreq.ratelimit.limiter import RateLimiter

MIN_PASSWORD = 12
MAX_PASSWORD = 1000
RESET_TTL = timedelta(hours=1)
SIGNUP_TTL = timedelta(hours=24)
SIGNUP_WINDOW = 3600.0
"""Seconds of the sign-up form's budgets (per client address, per email address)."""
PENDING_KEPT = timedelta(days=1)
"""How long an expired pending sign-up is kept before the worker deletes it."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("payreq.account").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why ``password`` is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) == 1:
        return "This password is too common. Choose one that is not on lists of leaked passwords."
    if email and lowered in (email.lower(), email.lower().split("@")[0]):
        return "Do not use your email address as the password."
    return None


def check_password(password: str, *, email: str = "", param: str = "password") -> None:
    problem = password_problem(password, email=email)
    if problem:
        raise ValidationFailed(problem, code="weak_password", param=param)


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    check_text(email, "email")
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 320 or " " in email:
        raise ValidationFailed("Enter an email address such as name@example.com.", param="email")
    return email


async def hash_new_password(password: str) -> str:
    """argon2id in a thread: tens of milliseconds off the event loop."""
    return await asyncio.to_thread(hash_password, password)


@dataclass(frozen=True, slots=True)
class SignUp:
    account_name: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class ResetLink:
    email: str
    token: str


@dataclass(frozen=True, slots=True)
class SignupLink:
    """What to mail ``email`` after a sign-up form: the confirmation ``token``, or None
    when the address already has a sign-in (it is told so instead)."""

    email: str
    token: str | None


@dataclass(frozen=True, slots=True)
class PendingSignup:
    email: str
    account_name: str
    password_hash: str


EMAIL_TAKEN = "An account with this email already exists. Sign in instead."
SIGNUP_LINK_INVALID = "This sign-up link is not valid any more. Sign up again to get a new one."


class UserService:
    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        signup_open: bool = False,
        audit: AuditService | None = None,
        limiter: RateLimiter | None = None,
        signup_address_limit: int = 10,
        signup_email_limit: int = 3,
    ) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)
        self.signup_open = signup_open
        self.limiter = limiter
        self.signup_address_limit = signup_address_limit
        self.signup_email_limit = signup_email_limit

    def validate_signup(self, *, account_name_value: str, email: str, password: str) -> SignUp:
        """Every field's rule, before the slow hash; ``ValidationFailed`` names the field."""
        if not self.signup_open:
            raise Forbidden(code="signup_closed")
        clean = SignUp(account_name(account_name_value), normalise_email(email), password)
        check_password(password, email=clean.email)
        return clean

    async def throttle_signup(self, *, address: str, email: str) -> None:
        """Spend one sign-up form of the client address's and of the email address's
        hourly budgets (each form mails that address, registered or not); 429 past
        either. The email is keyed by its digest, never stored in the limiter."""
        await self._throttle_mail_form("signup", "sign-ups", address=address, email=email)

    async def throttle_reset(self, *, address: str, email: str) -> None:
        """The password-reset form's budgets: the sign-up form's limits, budgets of its
        own. Each form may mail the address, so without them anyone could flood an inbox
        with reset links (the page answers the same for an unknown address)."""
        await self._throttle_mail_form("reset", "reset requests", address=address, email=email)

    async def _throttle_mail_form(self, kind: str, what: str, *, address: str, email: str) -> None:
        if self.limiter is None:
            return
        decision = await self.limiter.spend(
            [
                Budget(f"{kind}:address:{address}", self.signup_address_limit, SIGNUP_WINDOW, name="address"),
                Budget(
                    f"{kind}:email:{digest(email.strip().lower())}",
                    self.signup_email_limit,
                    SIGNUP_WINDOW,
                    name="email",
                ),
            ]
        )
        if decision is None or decision.allowed:
            return
        metrics.rate_limited.labels(kind).inc()
        minutes = max(1, -(-decision.retry_after // 60))
        raise RateLimited(
            f"Too many {what} from here or for this address. Try again in {minutes} min.",
            code=f"{kind}_rate_limited",
            headers={"Retry-After": str(decision.retry_after)},
        )

    async def request_signup(self, conn: Connection, data: SignUp, *, password_hash: str) -> SignupLink:
        """A pending sign-up for a new address (its token to mail), or, for an address
        that has a sign-in already, nothing stored (``token`` None)."""
        if not self.signup_open:
            raise Forbidden(code="signup_closed")
        if await repository.user_exists(conn, data.email):
            return SignupLink(email=data.email, token=None)
        token = random_string(43)
        now = self.clock()
        await repository.insert_pending_signup(
            conn,
            token_digest=digest(token),
            email=data.email,
            account_name=data.account_name,
            password_hash=password_hash,
            created_at=now,
            expires_at=now + SIGNUP_TTL,
        )
        return SignupLink(email=data.email, token=token)

    async def check_signup(self, conn: Connection, token: str) -> PendingSignup:
        """The live (unused, unexpired) pending sign-up of ``token``; 404 otherwise."""
        row = await repository.pending_signup(conn, digest(token)) if token and len(token) < 100 else None
        if row is None or row["used_at"] is not None or row["expires_at"] <= self.clock():
            raise NotFound(SIGNUP_LINK_INVALID, code="signup_link_invalid")
        return PendingSignup(row["email"], row["account_name"], row["password_hash"])

    async def confirm_signup(self, conn: Connection, token: str) -> uuid.UUID | None:
        """Use the link once: the new owner's user id, or None when the address got a
        sign-in meanwhile (an invitation, another sign-up); the link is used either way."""
        if not self.signup_open:
            raise Forbidden(code="signup_closed")
        pending = await self.check_signup(conn, token)
        if not await repository.use_pending_signup(conn, digest(token), at=self.clock()):
            raise NotFound(SIGNUP_LINK_INVALID, code="signup_link_invalid")
        if await repository.user_exists(conn, pending.email):
            return None
        data = SignUp(account_name=pending.account_name, email=pending.email, password="")
        try:
            return await self.sign_up(conn, data, password_hash=pending.password_hash)
        except UniqueViolation as exc:  # an invitation to the address was accepted this very moment
            # raised out of the unit, which rolls back (the link stays unused)
            raise Conflict(EMAIL_TAKEN, code="email_taken") from exc

    async def reissue_signup_link(self, conn: Connection, email: str) -> SignupLink | None:
        """A new token for the newest live pending sign-up of ``email`` (the old one
        stops working), for the operator of a server without mail; None if none."""
        token = random_string(43)
        address = email.strip().lower()
        if not await repository.reissue_pending_signup(
            conn, address, new_digest=digest(token), at=self.clock()
        ):
            return None
        return SignupLink(email=address, token=token)

    async def sweep_pending_signups(self, conn: Connection, *, limit: int = 500) -> int:
        """Delete pending sign-ups expired more than a day ago (the worker, hourly-ish)."""
        return await repository.delete_pending_signups_before(conn, self.clock() - PENDING_KEPT, limit=limit)

    async def sign_up(self, conn: Connection, data: SignUp, *, password_hash: str) -> uuid.UUID:
        """A new account with its owner and a default application per environment;
        the owner's user id. Refused when sign-up is closed (the operator's choice)."""
        if not self.signup_open:
            raise Forbidden(code="signup_closed")
        if await repository.user_exists(conn, data.email):
            raise Conflict(EMAIL_TAKEN, code="email_taken")
        created = await create_account(
            conn, name=data.account_name, email=data.email, password_hash=password_hash, now=self.clock()
        )
        owner = Actor(created.user_id, created.account_id, Role.OWNER, data.email)
        await self.audit.record_user(
            conn,
            owner,
            action="account.created",
            target_type="account",
            target_id=created.account_id,
            changes={"name": data.account_name, "owner": data.email, "via": "sign-up"},
        )
        return created.user_id

    async def change_password(
        self, conn: Connection, actor: Actor, *, new_hash: str, keep_session: str | None
    ) -> None:
        """A new password; every other session of the user ends."""
        await session_repository.set_password(conn, actor.user_id, new_hash, self.clock())
        await session_repository.delete_user_sessions(conn, actor.user_id, except_digest=keep_session)
        await self.audit.record_user(
            conn, actor, action="user.password_changed", target_type="user", target_id=actor.user_id
        )

    # -- reset links -------------------------------------------------------------------

    async def reset_link(self, conn: Connection, email: str) -> ResetLink | None:
        """A single-use reset token for ``email`` (valid one hour), or None if no user
        has it or the user's account is disabled or closed (its members cannot sign in,
        so a new password would not let them either): the page says the same either way."""
        user = await session_repository.user_by_email(conn, email.strip().lower())
        if user is None or user["disabled_at"] is not None:
            return None
        token = random_string(43)
        now = self.clock()
        await repository.insert_password_reset(
            conn,
            token_digest=digest(token),
            user_id=user["user_id"],
            created_at=now,
            expires_at=now + RESET_TTL,
        )
        return ResetLink(email=user["email"], token=token)

    async def check_reset(self, conn: Connection, token: str) -> uuid.UUID:
        """The user of a link that can still be used: not used, not expired, and not of
        a user whose account was disabled or closed since it was sent (as sign-in)."""
        row = await repository.password_reset(conn, digest(token)) if token and len(token) < 100 else None
        if (
            row is None
            or row["used_at"] is not None
            or row["expires_at"] <= self.clock()
            or row["disabled_at"] is not None
        ):
            raise NotFound(
                "This reset link is not valid any more. Ask for a new one.", code="reset_link_invalid"
            )
        user_id: uuid.UUID = row["user_id"]
        return user_id

    async def reset_password(self, conn: Connection, token: str, *, new_hash: str) -> uuid.UUID:
        """Use the link once: the new password, every session of the user ended."""
        user_id = await self.check_reset(conn, token)
        if not await repository.use_password_reset(conn, digest(token), at=self.clock()):
            raise NotFound(
                "This reset link is not valid any more. Ask for a new one.", code="reset_link_invalid"
            )
        await session_repository.set_password(conn, user_id, new_hash, self.clock())
        await session_repository.delete_user_sessions(conn, user_id)
        user = await session_repository.user_by_id(conn, user_id)
        if user is not None:
            reset_by = Actor(user_id, user["account_id"], Role(user["role"]), user["email"])
            await self.audit.record_user(
                conn, reset_by, action="user.password_reset", target_type="user", target_id=user_id
            )
        return user_id
