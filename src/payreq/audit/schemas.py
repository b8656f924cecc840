"""Contract B's view of the audit log (camelCase)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from payreq.audit.models import Entry, EntryPage
from payreq.kit.clock import rfc3339


class ActorView(msgspec.Struct, kw_only=True, rename="camel"):
    kind: Annotated[
        str, Meta(description="user, api_key, client_token, worker, cli, payer or statement_line.")
    ]
    id: str | None
    label: Annotated[str | None, Meta(description="An email, an API key's Client ID, a token's label.")]
    address: Annotated[str | None, Meta(description="The client address the change came from.")]


class AuditEntryView(msgspec.Struct, kw_only=True, rename="camel"):
    """One recorded change. ``hash`` is the SHA-256 of its content, ``prevHash`` that of
    the account's entry before it."""

    id: str
    seq: int
    at: str
    environment: Annotated[str | None, Meta(description="null for account-wide changes (team, sign-in).")]
    actor: ActorView
    kind: Annotated[str, Meta(description="What happened, e.g. application.updated, payment.cancelled.")]
    target_type: str
    target_id: str | None
    changes: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> AuditEntryView:
        actor = entry.actor
        return cls(
            id=str(entry.id),
            seq=entry.seq,
            at=rfc3339(entry.at) or "",
            environment=entry.environment,
            actor=ActorView(kind=actor.kind.value, id=actor.id, label=actor.label, address=actor.address),
            kind=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            changes=entry.changes,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


class AuditLog(msgspec.Struct, rename="camel"):
    """One page, newest first; pass ``cursor=nextCursor`` for the next (null on the last)."""

    data: list[AuditEntryView]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, page: EntryPage) -> AuditLog:
        return cls(
            data=[AuditEntryView.of(e) for e in page.items],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )
