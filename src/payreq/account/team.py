"""An account's team: invitations by link, roles, removal, ownership (SPEC §7).

Admins and owners manage the team (``Permission.TEAM``); only an owner makes or
unmakes owners, hands ownership over, or closes the account (``Permission.OWN``).
An account always keeps at least one owner. A removed member's sessions end at
once (they are deleted in the same transaction).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from payreq.account import repository as accounts
from payreq.account import team_repository as repository
from payreq.account.users import normalise_email
from payreq.audit.service import AuditService
from payreq.auth.roles import Actor, Permission, Role
from payreq.db import Connection, Row
from payreq.errors import Conflict, NotFound, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import digest, random_string
from payreq.kit.jsonbody import displayable

INVITATION_TTL = timedelta(days=7)


class MemberNotFound(NotFound):
    default_message = "No such member of this account."


class InvitationNotFound(NotFound):
    default_message = "This invitation is not valid any more. Ask for a new one."
    default_code = "invitation_invalid"


@dataclass(frozen=True, slots=True)
class Member:
    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    two_factor: bool


@dataclass(frozen=True, slots=True)
class Invitation:
    id: uuid.UUID
    account_id: uuid.UUID
    account_name: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: Row) -> Invitation:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            account_name=row["account_name"],
            email=row["email"],
            role=Role(row["role"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed("Choose a role: owner, admin, developer or viewer.", param="role") from None


def parse_id(value: str, error: type[NotFound]) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise error() from None


class TeamService:
    def __init__(self, *, clock: Clock = utc_now, audit: AuditService | None = None) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)

    async def members(self, conn: Connection, actor: Actor) -> list[Member]:
        actor.require(Permission.TEAM)
        return [
            Member(r["id"], r["email"], Role(r["role"]), r["created_at"], r["totp_enabled_at"] is not None)
            for r in await repository.members(conn, actor.account_id)
        ]

    async def invitations(self, conn: Connection, actor: Actor) -> list[Invitation]:
        actor.require(Permission.TEAM)
        rows = await repository.open_invitations(conn, actor.account_id, now=self.clock())
        return [Invitation.of(r) for r in rows]

    async def invite(
        self, conn: Connection, actor: Actor, *, email: str, role: str
    ) -> tuple[Invitation, str]:
        """A link for ``email`` to join with ``role``; its token is shown (and mailed) once."""
        actor.require(Permission.TEAM)
        chosen = parse_role(role)
        if chosen is Role.OWNER:
            actor.require(Permission.OWN)
        address = normalise_email(email)
        if await accounts.user_exists(conn, address):
            raise ValidationFailed(
                "This email already has a payreq sign-in.", code="email_taken", param="email"
            )
        token, now = random_string(43), self.clock()
        invitation_id = uuid.uuid4()
        await repository.insert_invitation(
            conn,
            id=invitation_id,
            account_id=actor.account_id,
            email=address,
            role=chosen.value,
            token_digest=digest(token),
            invited_by=actor.user_id,
            created_at=now,
            expires_at=now + INVITATION_TTL,
        )
        row = await repository.invitation_by_digest(conn, digest(token))
        assert row is not None
        await self.audit.record_user(
            conn,
            actor,
            action="team.invited",
            target_type="invitation",
            target_id=invitation_id,
            changes={"email": address, "role": chosen.value},
        )
        return Invitation.of(row), token

    async def revoke_invitation(self, conn: Connection, actor: Actor, invitation_id: str) -> None:
        actor.require(Permission.TEAM)
        parsed = parse_id(invitation_id, InvitationNotFound)
        if not await repository.revoke_invitation(conn, actor.account_id, parsed, at=self.clock()):
            raise InvitationNotFound()
        await self.audit.record_user(
            conn, actor, action="team.invitation_revoked", target_type="invitation", target_id=parsed
        )

    async def invitation(self, conn: Connection, token: str) -> Invitation:
        """An invitation that can still be accepted (anyone holding the link): not to an
        account that is disabled or closed, which takes no new members."""
        row = (
            await repository.invitation_by_digest(conn, digest(token)) if token and len(token) < 100 else None
        )
        if (
            row is None
            or row["accepted_at"] is not None
            or row["revoked_at"] is not None
            or row["expires_at"] <= self.clock()
            or row["account_disabled_at"] is not None
        ):
            raise InvitationNotFound()
        return Invitation.of(row)

    async def accept(self, conn: Connection, token: str, *, password_hash: str) -> uuid.UUID:
        """The invited person joins with the invitation's role; their user id."""
        invitation = await self.invitation(conn, token)
        if await accounts.user_exists(conn, invitation.email):
            raise Conflict("This email already has a payreq sign-in.", code="email_taken")
        now = self.clock()
        if not await repository.accept_invitation(conn, invitation.id, at=now):
            raise InvitationNotFound()
        user_id = uuid.uuid4()
        await accounts.insert_user(
            conn,
            id=user_id,
            account_id=invitation.account_id,
            email=invitation.email,
            password_hash=password_hash,
            created_at=now,
            role=invitation.role.value,
        )
        joined = Actor(user_id, invitation.account_id, invitation.role, invitation.email)
        await self.audit.record_user(
            conn,
            joined,
            action="team.joined",
            target_type="user",
            target_id=user_id,
            changes={"email": invitation.email, "role": invitation.role.value},
        )
        return user_id

    async def _target(self, conn: Connection, actor: Actor, user_id: str) -> Row:
        row = await repository.member(conn, actor.account_id, parse_id(user_id, MemberNotFound))
        if row is None:
            raise MemberNotFound()
        if row["role"] == Role.OWNER:
            actor.require(Permission.OWN)
        return row

    async def change_role(self, conn: Connection, actor: Actor, user_id: str, role: str) -> None:
        actor.require(Permission.TEAM)
        target, chosen = await self._target(conn, actor, user_id), parse_role(role)
        if chosen is Role.OWNER:
            actor.require(Permission.OWN)
        if target["role"] == Role.OWNER and chosen is not Role.OWNER:
            await self._keep_an_owner(conn, actor)
        await repository.set_role(conn, actor.account_id, target["id"], chosen.value)
        await self.audit.record_user(
            conn,
            actor,
            action="team.role_changed",
            target_type="user",
            target_id=target["id"],
            changes={"email": target["email"], "role": [target["role"], chosen.value]},
        )

    async def remove(self, conn: Connection, actor: Actor, user_id: str) -> None:
        """The member leaves the account; their sessions end in this transaction."""
        actor.require(Permission.TEAM)
        target = await self._target(conn, actor, user_id)
        if target["role"] == Role.OWNER:
            await self._keep_an_owner(conn, actor)
        if not await repository.delete_member(conn, actor.account_id, target["id"]):
            raise MemberNotFound()
        await self.audit.record_user(
            conn,
            actor,
            action="team.removed",
            target_type="user",
            target_id=target["id"],
            changes={"email": target["email"], "role": target["role"]},
        )

    async def transfer_ownership(self, conn: Connection, actor: Actor, user_id: str) -> None:
        """Another member becomes owner; the one handing over becomes an admin."""
        actor.require(Permission.OWN)
        target = await self._target(conn, actor, user_id)
        if target["id"] == actor.user_id:
            raise ValidationFailed("Choose another member.", param="user_id")
        await repository.set_role(conn, actor.account_id, target["id"], Role.OWNER.value)
        await repository.set_role(conn, actor.account_id, actor.user_id, Role.ADMIN.value)
        await self.audit.record_user(
            conn,
            actor,
            action="team.ownership_transferred",
            target_type="user",
            target_id=target["id"],
            changes={"to": target["email"], "from": actor.email},
        )

    async def close_account(
        self, conn: Connection, actor: Actor, *, confirm_name: str, account_name: str
    ) -> None:
        """Close the account: its credentials stop working at once and every member is
        signed out; payments, events and statements stay on record. The name typed may
        be the stored one or the one the pages show (``displayable``: a name stored
        before the display-text rule reads with U+FFFD for its hidden characters)."""
        actor.require(Permission.OWN)
        if confirm_name.strip() not in (account_name, displayable(account_name)):
            raise ValidationFailed("Type the account's name exactly to confirm.", param="confirm_name")
        await repository.close_account(conn, actor.account_id, at=self.clock())
        await self.audit.record_user(
            conn, actor, action="account.closed", target_type="account", target_id=actor.account_id
        )

    async def _keep_an_owner(self, conn: Connection, actor: Actor) -> None:
        if await repository.count_owners(conn, actor.account_id) <= 1:
            raise Conflict(
                "An account keeps at least one owner. Hand ownership over first.", code="last_owner"
            )
