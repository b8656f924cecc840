"""Writing and reading the audit log.

``record`` is called by every service that changes something worth auditing, on the
connection of that change's unit of work: the entry commits with the change or not at
all. Services never commit; ``verify`` reads on its own (the CLI's command).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from payreq.audit import repository
from payreq.audit.chain import ChainCheck, Problem, content_hash
from payreq.audit.models import ACTOR_KINDS, Actor, ActorKind, Entry, EntryPage
from payreq.auth.roles import Actor as User
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject, CredentialKind
from payreq.db import Connection, Database
from payreq.db.held import Held
from payreq.errors import Forbidden, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.jsonbody import check_text
from payreq.kit.pagination import clamp_limit

SECRET_PREFIXES = ("prq_cs_", "prq_at_", "prq_ct_", "whsec_")
"""What a secret looks like (SPEC §1): such a value never enters the log."""


def _scrub(value: Any) -> Any:
    """``changes`` with every secret-looking string replaced: the log holds no secret,
    even if a caller passed one by mistake."""
    if isinstance(value, str):
        return "[redacted]" if value.startswith(SECRET_PREFIXES) else value
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


_held: Held[list[dict[str, Any]]] = Held("payreq.audit.held")


async def _append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Chain ``entries`` (each without its ``seq`` and hashes) onto their accounts'
    heads and write them: each head is locked and moved once, accounts in id order."""
    by_account: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for entry in entries:
        by_account.setdefault(entry["account_id"], []).append(entry)
    for account_id in sorted(by_account):
        seq, previous = await repository.take_head(conn, account_id)
        chained = by_account[account_id]
        for entry in chained:
            seq += 1
            entry["seq"], entry["prev_hash"] = seq, previous
            entry["hash"] = previous = content_hash(**entry)
        await repository.append(conn, chained)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    """An actor's id or label (an API key's Client ID, a user's email), or a kind."""
    kind: str | None = None
    """An action (``payment.cancelled``) or a family of them (``payment``)."""
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    chains: int
    entries: int
    problems: list[Problem]


_KIND_NAMES: dict[str, str] = {
    ActorKind.USER: "a former team member",
    ActorKind.API_KEY: "an API key",
    ActorKind.CLIENT_TOKEN: "a client token",
    ActorKind.CLI: "the command line",
    ActorKind.WORKER: "payreq",
}
"""How ``names`` calls an actor it cannot name better."""
_NAMED_KINDS = (ActorKind.USER.value, ActorKind.API_KEY.value)
"""The kinds whose recorded id ``names`` looks up (a user's e-mail, an API key's label)."""


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class AuditService:
    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock

    async def record(
        self,
        conn: Connection,
        actor: Actor,
        *,
        account_id: uuid.UUID,
        environment: str | None,
        action: str,
        target_type: str,
        target_id: str | uuid.UUID | None,
        changes: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append an entry to the account's chain, in the caller's unit of work (at
        the end of a ``holding`` block, if the unit is in one)."""
        entry: dict[str, Any] = {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "environment": environment,
            "at": at or self.clock(),
            "actor_kind": actor.kind.value,
            "actor_id": actor.id,
            "actor_label": actor.label,
            "address": actor.address,
            "action": action,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "changes": msgspec.json.encode(_scrub(dict(changes or {}))).decode(),
        }
        held = _held.of(conn)
        if held is not None:
            held.append(entry)
        else:
            await _append(conn, [entry])

    def holding(self, conn: Connection) -> AbstractAsyncContextManager[None]:
        """Hold ``conn``'s unit's entries (``record``) back to the end of the block
        and append them then, in the order they were recorded (``payreq.db.held``):
        for a unit that changes many payments, so that it takes the account's chain
        head once, after every payment row and rollup it changes."""
        return _held.holding(conn, [], _append)

    async def record_by(
        self,
        conn: Connection,
        subject: AuthSubject,
        *,
        action: str,
        target_type: str,
        target_id: str | uuid.UUID | None,
        changes: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """``record`` for a change an API credential made, in its tenant."""
        await self.record(
            conn,
            Actor.of(subject),
            account_id=subject.tenant.account_id,
            environment=subject.tenant.environment,
            action=action,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
            at=at,
        )

    async def record_user(
        self,
        conn: Connection,
        user: User,
        *,
        action: str,
        target_type: str,
        target_id: str | uuid.UUID | None,
        changes: Mapping[str, Any] | None = None,
        address: str | None = None,
    ) -> None:
        """``record`` for an account-wide change a signed-in user made (team, two-factor)."""
        await self.record(
            conn,
            Actor.user(user, address),
            account_id=user.account_id,
            environment=None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
        )

    async def list(self, conn: Connection, subject: AuthSubject, query: AuditFilter) -> EntryPage:
        """For a dashboard user whose role manages the team (admins, owners): this
        environment's entries and the account-wide ones (team, sign-ins, two-factor).
        For an access token: this environment's entries only. An API key is an
        account credential that developers may mint, and a developer may not see the
        team's part of the log (members' emails, their sign-ins and addresses) in the
        dashboard either."""
        if subject.kind is CredentialKind.DASHBOARD and subject.actor is not None:
            subject.actor.require(Permission.TEAM)
            account_wide = True
        elif subject.kind is CredentialKind.ACCESS_TOKEN:
            account_wide = False
        else:
            raise Forbidden(code="access_token_required")
        return await self.page(
            conn,
            account_id=subject.tenant.account_id,
            environment=subject.tenant.environment,
            query=query,
            account_wide=account_wide,
        )

    async def page(
        self,
        conn: Connection,
        *,
        account_id: uuid.UUID,
        environment: str | None,
        query: AuditFilter,
        account_wide: bool = True,
    ) -> EntryPage:
        """One page, newest first (the dashboard calls this with its session's tenant);
        ``account_wide``: with the entries of no environment (team, sign-ins)."""
        actor, actor_kind = query.actor, None
        if actor is not None:
            check_text(actor, "actor")
            if actor in ACTOR_KINDS:
                actor, actor_kind = None, actor
        if query.kind is not None:
            check_text(query.kind, "kind")
        for name, moment in (("since", query.since), ("until", query.until)):
            if moment is not None and moment.tzinfo is None:
                raise ValidationFailed(f"{name} must be an RFC 3339 timestamp with an offset.", param=name)
        before = None
        if query.cursor is not None:
            if not query.cursor.isdigit() or len(query.cursor) > 18:
                raise ValidationFailed(
                    "cursor must be the nextCursor of a previous page.", code="invalid_cursor", param="cursor"
                )
            before = int(query.cursor)
        size = clamp_limit(query.limit)
        rows = await repository.page(
            conn,
            account_id=account_id,
            environment=environment,
            account_wide=account_wide,
            actor=actor,
            actor_kind=actor_kind,
            action=query.kind,
            since=query.since,
            until=query.until,
            before_seq=before,
            limit=size + 1,
        )
        return EntryPage(items=[Entry.of(r) for r in rows[:size]], has_more=len(rows) > size)

    async def for_target(
        self, conn: Connection, account_id: uuid.UUID, target_id: str
    ) -> builtins.list[Entry]:
        """Everything recorded about one thing (a payment's status changes), oldest first."""
        return [Entry.of(r) for r in await repository.for_target(conn, account_id, target_id)]

    async def names(
        self, conn: Connection, account_id: uuid.UUID, recorded: Iterable[str | None]
    ) -> dict[str, str]:
        """What a person reads for each actor recorded as ``kind:id`` or ``kind`` (a
        statement line's ``resolved_by``): a user's e-mail, ``API key <label>``, ``the
        command line``; one query, however many there are. An id no longer found
        in the account (a deleted user) reads as its kind, such as ``a former team member``."""
        parsed: dict[str, tuple[str, uuid.UUID | None]] = {}
        for value in set(recorded):
            if value:
                kind, _, text = value.partition(":")
                parsed[value] = (kind, _uuid(text))

        wanted = {k: [i for kind, i in parsed.values() if kind == k and i is not None] for k in _NAMED_KINDS}
        found = await repository.actor_names(conn, account_id, wanted)
        found = {
            key: (f"API key {name}" if key[0] == ActorKind.API_KEY else name) for key, name in found.items()
        }
        names = {}
        for value, (kind, ident) in parsed.items():
            name = found.get((kind, ident)) if ident is not None else None
            names[value] = name or _KIND_NAMES.get(kind, kind.replace("_", " "))
        return names

    async def verify(self, db: Database, *, batch: int = 1000) -> Verified:
        """Walk every account's chain; the first problem of each broken one."""
        problems: list[Problem] = []
        entries = 0
        async with db.read() as conn:
            chains = await repository.chains(conn)
        for account_id, head_seq, head_hash in chains:
            check = ChainCheck(account_id)
            after = 0
            while True:
                async with db.read() as conn:
                    rows = await repository.chain_rows(conn, account_id, after_seq=after, limit=batch)
                if not rows or not check.feed(rows):
                    break
                after = int(rows[-1]["seq"])
            entries += check.checked
            problem = check.finish(head_seq, head_hash)
            if problem is not None:
                problems.append(problem)
        return Verified(chains=len(chains), entries=entries, problems=problems)
