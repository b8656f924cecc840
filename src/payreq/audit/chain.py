"""The hash chain: what an entry's hash covers, and the check of a whole chain.

An entry's content is its fields in a fixed order, JSON-encoded; its ``hash`` is the
SHA-256 of that content, which includes ``prev_hash``, the hash of the entry before
it in its account's chain (``GENESIS`` for the first). Editing any field changes the
entry's hash; deleting or moving an entry breaks the link of the one after it, or
(at the end) the chain's head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from payreq.db import Row

GENESIS = "0" * 64


def instant(at: datetime) -> str:
    """The one text form of an entry's time that its hash covers."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_hash(
    *,
    id: UUID,
    account_id: UUID,
    seq: int,
    environment: str | None,
    at: datetime,
    actor_kind: str,
    actor_id: str | None,
    actor_label: str | None,
    address: str | None,
    action: str,
    target_type: str,
    target_id: str | None,
    changes: str,
    prev_hash: str,
) -> str:
    content: list[Any] = [
        str(id),
        str(account_id),
        seq,
        environment,
        instant(at),
        actor_kind,
        actor_id,
        actor_label,
        address,
        action,
        target_type,
        target_id,
        changes,
        prev_hash,
    ]
    return hashlib.sha256(msgspec.json.encode(content)).hexdigest()


def row_hash(row: Row) -> str:
    return content_hash(
        id=row["id"],
        account_id=row["account_id"],
        seq=int(row["seq"]),
        environment=row["environment"],
        at=row["at"],
        actor_kind=row["actor_kind"],
        actor_id=row["actor_id"],
        actor_label=row["actor_label"],
        address=row["address"],
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        changes=row["changes"],
        prev_hash=row["prev_hash"],
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with one account's chain."""

    account_id: UUID
    seq: int
    entry_id: UUID | None
    kind: str
    """edited, deleted, reordered or truncated."""
    message: str


class ChainCheck:
    """Feed one account's entries in ``seq`` order; ``problem`` is the first break."""

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        self.expected_seq = 1
        self.previous = GENESIS
        self.problem: Problem | None = None
        self.checked = 0

    def feed(self, rows: Iterable[Row]) -> bool:
        """False once a problem is found (the rest of the chain is not worth reading)."""
        return all(self._one(row) for row in rows)

    def _one(self, row: Row) -> bool:
        seq, entry_id = int(row["seq"]), row["id"]
        intact = row_hash(row) == row["hash"]
        if not intact:
            return self._fail(
                seq,
                entry_id,
                "edited",
                f"entry #{seq} ({entry_id}) was edited: its hash no longer matches its content",
            )
        if seq != self.expected_seq:
            if seq > self.expected_seq:
                missing = (
                    f"#{self.expected_seq}"
                    if seq == self.expected_seq + 1
                    else f"#{self.expected_seq}-#{seq - 1}"
                )
                return self._fail(
                    seq,
                    entry_id,
                    "deleted",
                    f"entry {missing} was deleted: the chain jumps to #{seq} ({entry_id})",
                )
            return self._fail(seq, entry_id, "reordered", f"entry #{seq} ({entry_id}) appears out of order")
        if row["prev_hash"] != self.previous:
            return self._fail(
                seq,
                entry_id,
                "reordered",
                f"entry #{seq} ({entry_id}) does not follow the entry before it: entries were reordered or replaced",
            )
        self.previous = row["hash"]
        self.expected_seq += 1
        self.checked += 1
        return True

    def finish(self, head_seq: int | None, head_hash: str | None) -> Problem | None:
        """Compare the end of the chain with its recorded head."""
        if self.problem is None and head_seq is None:
            self._fail(
                self.expected_seq,
                None,
                "deleted",
                "the chain's head record was deleted: its end cannot be checked",
            )
        if self.problem is None and head_seq is not None:
            last = self.expected_seq - 1
            if head_seq != last or (head_seq > 0 and head_hash != self.previous):
                self._fail(
                    last + 1,
                    None,
                    "deleted",
                    f"the chain ends at #{last} but its head records #{head_seq}: entries after #{last} were deleted",
                )
        return self.problem

    def _fail(self, seq: int, entry_id: UUID | None, kind: str, message: str) -> bool:
        self.problem = Problem(self.account_id, seq, entry_id, kind, message)
        return False
