"""The ``Database`` interface that repositories and the edge use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from payreq.errors import ServiceUnavailable

if TYPE_CHECKING:
    from payreq.config import Settings

Params = Mapping[str, Any]
Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or did not answer in time (503)."""

    default_code = "database_unavailable"


class UniqueViolation(Exception):
    """An INSERT or UPDATE broke a unique constraint."""


class Connection(Protocol):
    dialect: Dialect

    async def begin(self) -> None:
        """Make the rest of this unit one write transaction (a no-op inside one).

        A unit opened with ``read()`` calls this only when it finds it must write (a
        payment read past its deadline); every write is a conditional update, so what
        was read before the transaction began cannot be overwritten blindly.
        """
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit has committed (never if it rolls back)."""
        ...

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    async def read_first(self, statement: Statement) -> Row | None:
        """The row of ``statement``, the read the unit was opened with
        (``transaction(first=statement)``); on PostgreSQL the claim of the request's
        ``Idempotency-Key`` carries it, so this costs no round trip of its own."""
        ...

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]: ...

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...


class Database(Protocol):
    dialect: Dialect

    def transaction(self, first: Statement | None = None) -> AbstractAsyncContextManager[Connection]:
        """A unit of work that may write; commits on exit, rolls back on error.
        ``first``: the read the unit will make first (``Connection.read_first``)."""
        ...

    def read(self) -> AbstractAsyncContextManager[Connection]:
        """Statements that read, each seeing committed data; ``begin()`` turns the rest
        of the unit into a write transaction, committed on exit."""
        ...

    def single(self) -> AbstractAsyncContextManager[Connection]:
        """A unit whose write is one statement, atomic by itself, unless it calls
        ``begin()`` before writing more. On PostgreSQL the statement runs with no BEGIN
        or COMMIT (one round trip instead of three); on SQLite this is ``transaction()``
        (one writer, group-committed)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``DatabaseUnavailable`` unless the database answers."""
        ...


def connect(url: str, *, timeout: float = 5.0, pool_size: int = 10, synchronous: str = "FULL") -> Database:
    """A Database for ``sqlite:///path`` or ``postgresql://user@host/db``."""
    if url.startswith("sqlite:"):
        from payreq.db.sqlite import SQLiteDatabase

        return SQLiteDatabase(sqlite_path(url), timeout=timeout, synchronous=synchronous)
    if url.startswith(("postgresql:", "postgres:", "postgresql+asyncpg:")):
        from payreq.db.postgres import PostgresDatabase

        return PostgresDatabase(postgres_dsn(url), timeout=timeout, pool_size=pool_size)
    check_url(url)
    raise AssertionError("unreachable")


def from_settings(settings: Settings) -> Database:
    """The database the settings name, as every process opens it (server, worker, CLI):
    ``PAYREQ_DATABASE_TIMEOUT``, ``PAYREQ_DATABASE_POOL_SIZE`` and
    ``PAYREQ_SQLITE_SYNCHRONOUS`` apply to each, the one path that builds a pool."""
    return connect(
        settings.database_url,
        timeout=settings.database_timeout,
        pool_size=settings.database_pool_size,
        synchronous=settings.sqlite_synchronous,
    )


def sqlite_path(url: str) -> str:
    """``sqlite:///var/x.db`` -> ``var/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError("an SQLite URL looks like sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return url[len("sqlite:///") :] or ":memory:"


def postgres_dsn(url: str) -> str:
    scheme, rest = url.split("://", 1)
    del scheme
    return f"postgresql://{rest}"


def check_url(url: str) -> str:
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://", "postgresql+asyncpg://")):
        raise ValueError(
            "PAYREQ_DATABASE_URL must look like sqlite:///path/to.db or postgresql://user@host/db, "
            f"not {url.split(':')[0]}:..."
        )
    if not url.startswith("sqlite:"):
        try:
            urlsplit(url).port  # noqa: B018 (parsing it checks host and port)
        except ValueError as exc:  # the URL may hold a password: it is not repeated
            raise ValueError(f"PAYREQ_DATABASE_URL is not a valid PostgreSQL URL: {exc}") from None
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy (Alembic) should use for the same database."""
    if check_url(url).startswith("sqlite:"):
        return url
    return f"postgresql+asyncpg://{url.split('://', 1)[1]}"


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement that writes, with its parameters: run alone (``execute``), or on
    PostgreSQL as a named part of a larger one (``with_parts``), one round trip for all.
    (Also a unit's first read, ``Database.transaction(first=...)``.)"""

    sql: str
    params: Params

    async def execute(self, conn: Connection) -> int:
        return await conn.execute(self.sql, self.params)


Parts = Sequence[tuple[str, Statement]]
"""Statements to write before another, each with a name for its ``WITH`` entry."""


def with_parts(parts: Parts, sql: str, params: Params) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: ``sql`` preceded by ``parts`` as entries of its ``WITH`` (``sql``
    may begin with ``WITH`` itself); one statement, atomic, whose parts all run even
    though nothing reads them. Parameter names must not collide."""
    merged: dict[str, Any] = dict(params)
    for _, part in parts:
        if merged.keys() & part.params.keys():
            raise ValueError(f"parameters named twice: {sorted(merged.keys() & part.params.keys())}")
        merged.update(part.params)
    entries = ", ".join(f"{name} AS ({part.sql})" for name, part in parts)
    if not entries:
        return sql, merged
    head = sql.lstrip()
    if head[:5].upper() == "WITH ":
        return f"WITH {entries}, {head[5:]}", merged
    return f"WITH {entries} {head}", merged


def placeholders(values: Sequence[object], prefix: str) -> tuple[str, dict[str, object]]:
    """``IN (...)`` support: ``(":p0, :p1", {"p0": a, "p1": b})``."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))
