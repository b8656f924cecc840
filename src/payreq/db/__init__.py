"""Storage: one small ``Database`` interface over stdlib sqlite3 and asyncpg.

Repositories write portable SQL with ``:name`` parameters; the implementations
translate. Table definitions (SQLAlchemy Core, migrated by Alembic) live in
``tables``; no ORM session ever runs on a request path.
"""

from payreq.db.base import (
    Connection,
    Database,
    DatabaseUnavailable,
    Row,
    UniqueViolation,
    connect,
    from_settings,
)

__all__ = [
    "Connection",
    "Database",
    "DatabaseUnavailable",
    "Row",
    "UniqueViolation",
    "connect",
    "from_settings",
]
