"""The audit log's tables, on the shared metadata (``payreq.db.tables`` imports this).

- ``audit_entries``: one row per change, never updated or deleted (a trigger refuses
  both on either engine). Each account has its own chain: ``seq`` counts from 1,
  ``prev_hash`` is the SHA-256 of the account's previous entry (64 zeros for the
  first), ``hash`` the SHA-256 of the entry's own content, ``prev_hash`` included.
- ``audit_heads``: per account, the last ``seq`` and ``hash``. Taking its row lock is
  what orders concurrent writers of one account, and it lets the verifier notice
  that entries were cut off the end of a chain.
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import metadata
from payreq.db.types import UUID, Timestamp

__all__ = ["audit_entries", "audit_heads", "metadata"]

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # null: account-wide (team, sign-in); else the environment the change belongs to
    sa.Column("environment", sa.String(16), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("actor_label", sa.String(320), nullable=True),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("account_id", "seq"),
    # the page and the API: one account, newest first, by time; one target's history
    sa.Index("ix_audit_entries_account_at", "account_id", "at"),
    sa.Index("ix_audit_entries_target", "account_id", "target_id"),
)

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
