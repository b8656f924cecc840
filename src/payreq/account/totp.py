"""Two-factor sign-in: TOTP (RFC 6238, ``pyotp``) with ten single-use recovery codes.

Enrolment stores a new secret as pending; it takes effect once the user proves their
app has it (a valid code), which also issues the recovery codes (shown once, stored
as digests). A code is accepted one step either side of now, and never twice: the
last used step is stored. An account may require two-factor of every member.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pyotp
import segno

from payreq.account import repository
from payreq.account import session_repository as sessions
from payreq.audit.service import AuditService
from payreq.auth.roles import Actor, Permission
from payreq.db import Connection
from payreq.errors import Conflict, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import digest, random_string

RECOVERY_CODES = 10
ISSUER = "payreq"
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_recovery_code() -> str:
    raw = random_string(10, _CODE_ALPHABET)
    return f"{raw[:5]}-{raw[5:]}"


def _normal_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


class TotpService:
    def __init__(self, *, clock: Clock = utc_now, audit: AuditService | None = None) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)

    def enrolment(self, secret: str, email: str) -> Enrolment:
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
        svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", border=4)
        return Enrolment(secret=secret, uri=uri, qr_svg=svg)

    async def begin(self, conn: Connection, actor: Actor) -> Enrolment:
        """A new pending secret (any earlier pending one is replaced)."""
        user = await sessions.user_by_id(conn, actor.user_id)
        if user is not None and user["totp_enabled_at"] is not None:
            raise Conflict("Two-factor sign-in is already on.", code="totp_enabled")
        secret = pyotp.random_base32()
        await repository.set_totp(conn, actor.user_id, secret=secret, enabled_at=None)
        return self.enrolment(secret, actor.email)

    async def pending(self, conn: Connection, actor: Actor) -> Enrolment | None:
        user = await sessions.user_by_id(conn, actor.user_id)
        if user is None or user["totp_secret"] is None or user["totp_enabled_at"] is not None:
            return None
        return self.enrolment(user["totp_secret"], actor.email)

    def _step(self, secret: str, code: str, last_step: int | None) -> int | None:
        """The time step ``code`` belongs to (now, or one either side), if it is new."""
        code = _normal_code(code)
        if not (len(code) == 6 and code.isdigit()):
            return None
        totp = pyotp.TOTP(secret)
        now = self.clock().timestamp()
        for offset in (0, -1, 1):
            at = now + offset * totp.interval
            if pyotp.utils.strings_equal(totp.at(at), code):
                step = int(at // totp.interval)
                return step if last_step is None or step > last_step else None
        return None

    async def confirm(self, conn: Connection, actor: Actor, code: str) -> list[str]:
        """Turn two-factor on with a code from the app; the recovery codes, shown once."""
        user = await sessions.user_by_id(conn, actor.user_id)
        if user is None or user["totp_secret"] is None or user["totp_enabled_at"] is not None:
            raise Conflict("Start the set-up again.", code="totp_not_pending")
        step = self._step(user["totp_secret"], code, None)
        if step is None:
            raise ValidationFailed(
                "That code is not right. Enter the 6 digits your app shows now.", param="code"
            )
        await repository.set_totp(
            conn, actor.user_id, secret=user["totp_secret"], enabled_at=self.clock(), last_step=step
        )
        await self.audit.record_user(
            conn, actor, action="two_factor.enabled", target_type="user", target_id=actor.user_id
        )
        return await self._new_codes(conn, actor.user_id)

    async def regenerate(self, conn: Connection, actor: Actor) -> list[str]:
        user = await sessions.user_by_id(conn, actor.user_id)
        if user is None or user["totp_enabled_at"] is None:
            raise Conflict("Two-factor sign-in is off.", code="totp_disabled")
        await self.audit.record_user(
            conn,
            actor,
            action="two_factor.recovery_codes_replaced",
            target_type="user",
            target_id=actor.user_id,
        )
        return await self._new_codes(conn, actor.user_id)

    async def _new_codes(self, conn: Connection, user_id: uuid.UUID) -> list[str]:
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        await repository.replace_recovery_codes(conn, user_id, [digest(c) for c in codes])
        return codes

    async def disable(self, conn: Connection, actor: Actor, code: str, *, account_requires: bool) -> None:
        if account_requires:
            raise Conflict("Your account requires two-factor sign-in of every member.", code="totp_required")
        if not await self.verify(conn, actor.user_id, code):
            raise ValidationFailed("That code is not right.", param="code")
        await repository.set_totp(conn, actor.user_id, secret=None, enabled_at=None)
        await repository.replace_recovery_codes(conn, actor.user_id, [])
        await self.audit.record_user(
            conn, actor, action="two_factor.disabled", target_type="user", target_id=actor.user_id
        )

    async def verify(self, conn: Connection, user_id: uuid.UUID, code: str) -> bool:
        """A current TOTP code not used before, or an unused recovery code (used up now)."""
        user = await sessions.user_by_id(conn, user_id)
        if user is None or user["totp_secret"] is None or user["totp_enabled_at"] is None:
            return False
        step = self._step(user["totp_secret"], code, user["totp_last_step"])
        if step is not None:
            return await repository.use_totp_step(conn, user_id, step)
        normal = _normal_code(code)
        if len(normal) == 11 and normal[5] == "-":
            return await repository.use_recovery_code(conn, user_id, digest(normal), at=self.clock())
        return False

    async def remaining_codes(self, conn: Connection, actor: Actor) -> int:
        return await repository.unused_recovery_codes(conn, actor.user_id)

    async def require_for_account(self, conn: Connection, actor: Actor, required: bool) -> None:
        """The account setting: every member must use two-factor (admins and owners)."""
        actor.require(Permission.TEAM)
        await repository.set_require_totp(conn, actor.account_id, required)
        await self.audit.record_user(
            conn,
            actor,
            action="two_factor.required" if required else "two_factor.not_required",
            target_type="account",
            target_id=actor.account_id,
        )
