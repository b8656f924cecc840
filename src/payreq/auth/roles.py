"""Dashboard roles and what each may do (SPEC §7). The services check these, so a
page that forgot its own check still cannot act.

    permission            viewer  developer  admin  owner
    read (payments)         x        x        x      x
    develop (keys, applications, client tokens, webhooks)
                                     x        x      x
    team (members, invitations, account security settings)
                                              x      x
    own (ownership, account deletion)                x

An API access token is the account's own credential and may do everything but
``team`` and ``own``, which exist only in the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from payreq.errors import Forbidden


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"
    DEVELOP = "develop"
    TEAM = "team"
    OWN = "own"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.DEVELOPER: frozenset({Permission.READ, Permission.DEVELOP}),
    Role.ADMIN: frozenset({Permission.READ, Permission.DEVELOP, Permission.TEAM}),
    Role.OWNER: frozenset(Permission),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.VIEWER: "Reads payments; sees no secrets and changes nothing.",
    Role.DEVELOPER: "Also API keys, applications, client tokens and webhooks.",
    Role.ADMIN: "Also the team: invitations, members, roles, sign-in rules.",
    Role.OWNER: "Also ownership and account deletion.",
}


class RoleForbidden(Forbidden):
    default_message = "Your role does not allow this."

    def __init__(self, permission: Permission) -> None:
        super().__init__(code="role_forbidden")
        self.permission = permission


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in dashboard user: who acts, for which account, with which role.
    Every service function a page calls takes one (the audit log records it)."""

    user_id: UUID
    account_id: UUID
    role: Role
    email: str = ""

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise RoleForbidden(permission)
