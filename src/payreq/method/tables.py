"""This feature's tables, on the shared metadata (``payreq.db.tables`` imports this
module so that Alembic and the tests see them)."""

from __future__ import annotations

from payreq.db.tables import metadata

__all__ = ["metadata"]
