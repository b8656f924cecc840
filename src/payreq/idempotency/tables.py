"""This feature's tables, on the shared metadata (``payreq.db.tables`` imports this
module so that Alembic and the tests see them)."""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import metadata
from payreq.db.types import UUID, Timestamp

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    # the key's scope: account, environment, and the application for a client token
    # ("*" for account-wide credentials), so no caller can see another's answers
    sa.Column("account_id", UUID, primary_key=True),
    sa.Column("environment", sa.String(16), primary_key=True),
    sa.Column("caller", sa.String(36), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    # SHA-256 of method, path and body: the same key with another request is refused
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(2048), nullable=False),
    # the first completed answer; NULL while the request that claimed the key runs (or
    # if its server stopped between committing the change and writing the answer)
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("headers", sa.Text, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    # the worker's sweep
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

__all__ = ["idempotency_keys", "metadata"]
