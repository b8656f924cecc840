"""Who acted (``Actor``) and what the log holds (``Entry``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

from payreq.auth.roles import Actor as User
from payreq.auth.subject import AuthSubject, CredentialKind
from payreq.db import Row


class ActorKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    CLIENT_TOKEN = "client_token"  # noqa: S105 (a kind's name, not a secret)
    WORKER = "worker"
    CLI = "cli"
    PAYER = "payer"
    """The payer on the hosted checkout page."""
    STATEMENT_LINE = "statement_line"
    """A line of an imported bank statement."""


ACTOR_KINDS = frozenset(k.value for k in ActorKind)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str | None = None
    """The API key's or client token's id, the user's id, the statement line's id."""
    label: str | None = None
    """What a person reads: an email, a key's Client ID, a file name."""
    address: str | None = None
    """The client address the change came from, where there was one."""

    @classmethod
    def of(cls, subject: AuthSubject) -> Actor:
        """Who is behind a request: a signed-in user, or an API key (for its access
        tokens), or a client token."""
        if subject.kind is CredentialKind.DASHBOARD and subject.actor is not None:
            return cls.user(subject.actor, subject.address)
        if subject.kind is CredentialKind.ACCESS_TOKEN:
            key = subject.api_key_id or subject.credential_id
            return cls(ActorKind.API_KEY, str(key), subject.label, subject.address)
        return cls(ActorKind.CLIENT_TOKEN, str(subject.credential_id), subject.label, subject.address)

    @classmethod
    def user(cls, user: User, address: str | None = None) -> Actor:
        """A signed-in dashboard user (``payreq.auth.roles.Actor``)."""
        return cls(ActorKind.USER, str(user.user_id), user.email or None, address)

    @classmethod
    def cli(cls, command: str) -> Actor:
        return cls(ActorKind.CLI, None, command)

    @classmethod
    def worker(cls) -> Actor:
        return cls(ActorKind.WORKER)

    @classmethod
    def payer(cls, address: str | None = None) -> Actor:
        return cls(ActorKind.PAYER, None, "payer at checkout", address)


@dataclass(frozen=True, slots=True)
class Entry:
    id: UUID
    account_id: UUID
    seq: int
    environment: str | None
    at: datetime
    actor: Actor
    action: str
    target_type: str
    target_id: str | None
    changes: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: Row) -> Entry:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            seq=int(row["seq"]),
            environment=row["environment"],
            at=row["at"],
            actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_label"], row["address"]),
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            changes=msgspec.json.decode(row["changes"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


@dataclass(frozen=True, slots=True)
class EntryPage:
    items: list[Entry]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return str(self.items[-1].seq) if self.has_more and self.items else None
