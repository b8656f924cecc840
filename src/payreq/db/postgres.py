"""PostgreSQL through an asyncpg pool.

Repositories write ``:name`` parameters; they are translated once per statement to
asyncpg's ``$n``. Connection failures and time-outs become ``DatabaseUnavailable``
(503) rather than hangs: the pool's acquire and every command are bounded by the
configured timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from payreq.db.base import DatabaseUnavailable, Dialect, Params, Row, UniqueViolation

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_translated: dict[str, tuple[str, tuple[str, ...]]] = {}

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """``WHERE id = :id`` -> ``WHERE id = $1`` and the parameter order."""
    cached = _translated.get(sql)
    if cached is not None:
        return cached
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    result = (_PARAM.sub(number, sql), tuple(names))
    _translated[sql] = result
    return result


def _args(sql: str, params: Params | None) -> tuple[str, list[Any]]:
    query, names = translate(sql)
    values = params or {}
    args = [values[name] for name in names]
    for value in args:
        if isinstance(value, datetime) and value.tzinfo is None:
            # asyncpg would read it as the process's local time; SQLite refuses it too
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
    return query, args


class PostgresConnection:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.tx: Any = None
        self.committed_hooks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_hooks.append(callback)

    async def begin(self) -> None:
        if self.tx is None:
            tx = self._conn.transaction()
            try:
                await tx.start()
            except _CONNECTION_ERRORS as exc:
                raise DatabaseUnavailable() from exc
            self.tx = tx

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        query, args = _args(sql, params)
        try:
            row: Row | None = await self._conn.fetchrow(query, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc
        return row

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        query, args = _args(sql, params)
        try:
            rows: list[Row] = await self._conn.fetch(query, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc
        return rows

    async def execute(self, sql: str, params: Params | None = None) -> int:
        query, args = _args(sql, params)
        try:
            status: str = await self._conn.execute(query, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, dsn: str, *, timeout: float = 5.0, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.timeout,
                command_timeout=self.timeout,
                max_inactive_connection_lifetime=60.0,
            )
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable("PostgreSQL could not be reached.") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            conn = await self._pool.acquire(timeout=self.timeout)
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc
        try:
            yield conn
        finally:
            try:
                await self._pool.release(conn, timeout=self.timeout)
            except _CONNECTION_ERRORS:
                conn.terminate()

    @asynccontextmanager
    async def _unit(self, *, write: bool) -> AsyncIterator[PostgresConnection]:
        async with self._acquire() as conn:
            wrapped = PostgresConnection(conn)
            if write:
                await wrapped.begin()
            try:
                yield wrapped
            except BaseException:
                if wrapped.tx is not None and not conn.is_closed():
                    with contextlib.suppress(*_CONNECTION_ERRORS):
                        await wrapped.tx.rollback()
                raise
            else:
                if wrapped.tx is not None:
                    try:
                        await wrapped.tx.commit()
                    except _CONNECTION_ERRORS as exc:
                        raise DatabaseUnavailable() from exc
                for hook in wrapped.committed_hooks:
                    hook()

    def transaction(self) -> AbstractAsyncContextManager[PostgresConnection]:
        return self._unit(write=True)

    def read(self) -> AbstractAsyncContextManager[PostgresConnection]:
        return self._unit(write=False)

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.fetch_one("SELECT 1")
