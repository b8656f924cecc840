"""PostgreSQL through an asyncpg pool.

Repositories write ``:name`` parameters; they are translated once per statement to
asyncpg's ``$n``. Connection failures and time-outs become ``DatabaseUnavailable``
(503) rather than hangs: the pool's acquire and every command are bounded by the
configured timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import asyncpg

from payreq.db import observer as hook
from payreq.db.base import DatabaseUnavailable, Dialect, Params, Row, Statement, UniqueViolation
from payreq.errors import ValidationFailed

T = TypeVar("T")

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_translated: dict[str, tuple[str, tuple[str, ...]]] = {}

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # what asyncpg raises on a connection whose server ended it (pg_terminate_backend,
    # a fast shutdown) before the client noticed: "another operation is in progress"
    asyncpg.InternalClientError,
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


def literal(value: Any) -> str:
    """``value`` as SQL text that is made of digits, hex digits and fixed words only,
    whatever the value holds (a client's key, a response body): nothing in it can end
    a string or begin another statement. For ``commit_with``, whose statement has no
    parameters; each type as asyncpg would bind it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, uuid.UUID):
        return f"'{uuid.UUID(int=value.int)}'::uuid"
    if isinstance(value, str):
        return f"convert_from(decode('{value.encode().hex()}', 'hex'), 'UTF8')"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"decode('{bytes(value).hex()}', 'hex')"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def inline(sql: str, params: Params) -> str:
    """``sql`` with each ``:name`` replaced by ``literal(params[name])``."""
    return _PARAM.sub(lambda match: literal(params[match.group(1)]), sql)


class PostgresConnection:
    dialect: Dialect = "postgresql"

    def __init__(
        self,
        conn: asyncpg.Connection,
        database: PostgresDatabase,
        observer: hook.UnitObserver | None = None,
        first: Statement | None = None,
    ) -> None:
        self._conn: asyncpg.Connection | None = conn
        self._database = database
        self.observer = observer
        self.tx: Any = None
        self.committed_hooks: list[Callable[[], None]] = []
        self._used = False
        self.first = first
        """The read the unit was opened with (``transaction(first=...)``), which its
        first statement may carry (``answered_first``); ``read_first`` gives its row."""
        self._first_row: Row | None = None
        self._first_answered = False
        self._last = ""
        """A last statement, its values written in (``commit_with``), sent with COMMIT."""

    @property
    def raw(self) -> asyncpg.Connection | None:
        """The pooled connection this unit holds now (it may change before first use)."""
        return self._conn

    @property
    def _live(self) -> asyncpg.Connection:
        if self._conn is None:
            raise DatabaseUnavailable()
        return self._conn

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_hooks.append(callback)

    async def begin(self) -> None:
        if self.tx is None:
            self.tx = await self._run(_start, retry=True)
            if self.observer is not None:
                await self.observer.began(self)

    def answered_first(self, row: Row | None) -> None:
        """A statement that carried the unit's first read (the idempotency claim) read
        ``row`` for it: ``read_first`` returns that instead of reading again."""
        self._first_row, self._first_answered = row, True

    async def read_first(self, statement: Statement) -> Row | None:
        """The row of ``statement``: already read if it is the read this unit was opened
        with and the unit's first statement carried it (``answered_first``), else read now."""
        if self._first_answered and statement == self.first:
            row, self._first_row, self._first_answered, self.first = self._first_row, None, False, None
            return row
        return await self.fetch_one(statement.sql, statement.params)

    def commit_with(self, sql: str, params: Params) -> None:
        """Send ``sql`` (one statement that writes, its result not needed) with this
        unit's COMMIT: one round trip for both. Its values are written into it as
        literals (``literal``), since a COMMIT goes in the simple protocol. If it fails,
        so does the commit: nothing of the unit is kept."""
        self._last = f"{inline(sql, params)};"

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        query, args = _args(sql, params)
        row: Row | None = await self._run(lambda conn: conn.fetchrow(query, *args), retry=True)
        return row

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        query, args = _args(sql, params)
        rows: list[Row] = await self._run(lambda conn: conn.fetch(query, *args), retry=True)
        return rows

    async def execute(self, sql: str, params: Params | None = None) -> int:
        query, args = _args(sql, params)
        status: str = await self._run(lambda conn: conn.execute(query, *args), retry=False)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, retry: bool) -> T:
        """Run one statement. The unit's first one gets a second chance: nothing has
        happened on this connection yet, so if it turns out dead (the server restarted
        since the pool last used it) a fresh connection takes its place, and a read or
        BEGIN is sent again. After an outage the first request then succeeds instead of
        meeting a stale connection, without a ping before every unit."""
        first = self.tx is None and not self._used
        self._used = True
        if first and closed(self._live):
            await self._replace()
        try:
            return await self._attempt(work)
        except _CONNECTION_ERRORS as exc:
            if not (first and retry and _connection_lost(exc, self._live)):
                raise DatabaseUnavailable() from exc
        await self._replace()
        try:
            return await self._attempt(work)
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc

    async def _attempt(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """One try, with the database's refusals translated into ours."""
        try:
            return await work(self._live)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        except asyncpg.DataError as exc:
            raise unstorable_value() from exc
        except asyncpg.TransactionRollbackError as exc:
            # a deadlock or serialization failure (SQLSTATE class 40): the database chose
            # this unit to roll back so that another could go on; a retry succeeds
            raise DatabaseUnavailable(
                "The change met a concurrent one and was rolled back; retry with the same request."
            ) from exc
        except asyncpg.QueryCanceledError as exc:
            # the server's statement_timeout (the same bound as the client's): a
            # time-out like any other, 503, not a 500
            raise DatabaseUnavailable("The database did not answer in time; retry shortly.") from exc

    async def _commit(self, last: str) -> None:
        """COMMIT, after ``last`` (a statement with its values written in, or "")."""
        await self._live.execute(f"{last}COMMIT;")

    async def _replace(self) -> None:
        dead, self._conn = self._conn, None
        if dead is not None:
            await self._database.discard(dead)
        self._conn = await self._database.checkout()


def unstorable_value() -> ValidationFailed:
    """A value PostgreSQL refuses as data (SQLSTATE class 22: a NUL character, a lone
    surrogate, an out-of-range number) is the client's input, never a 500. Routes
    should refuse such values first and name the parameter; this is the safety net."""
    return ValidationFailed(
        "A value contains a character or number the database cannot hold (such as a NUL character).",
        code="invalid_value",
    )


async def _start(conn: asyncpg.Connection) -> Any:
    """BEGIN, as asyncpg's ``Transaction.start`` sends it; the unit ends it itself
    (``PostgresDatabase.commit``, ``_rollback``), so that COMMIT can carry a last
    statement (``commit_with``)."""
    await conn.execute("BEGIN;")
    return True


async def _rollback(wrapped: PostgresConnection) -> None:
    """Roll back a unit's transaction, if its connection still lives (else the server
    has rolled it back already)."""
    if wrapped.raw is not None and not closed(wrapped.raw):
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await wrapped.raw.execute("ROLLBACK;")


def closed(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection is unusable; asyncpg detaches the proxy by itself
    when the server ends a connection, and then every call on it raises."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True


def _connection_lost(exc: BaseException, conn: asyncpg.Connection) -> bool:
    """A connection the server (or the network) closed, rather than a slow server."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return False
    return closed(conn) or isinstance(
        exc,
        asyncpg.ConnectionDoesNotExistError
        | asyncpg.AdminShutdownError
        | asyncpg.InternalClientError
        | ConnectionError,
    )


STATEMENT_CACHE_SIZE = 256


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset, instead of asyncpg's default (``SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``): one more round trip on every release, a second
    one for each poll. payreq keeps no session state to undo: no ``SET`` outside a
    transaction, no cursors, ``LISTEN`` or session advisory locks (the idempotency lock
    is ``pg_try_advisory_xact_lock``, released at commit). asyncpg still rolls back an
    open transaction before it calls this."""


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, dsn: str, *, timeout: float = 5.0, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        # the pool's connections go to the units that asked first: a waiter asyncpg's
        # queue wakes for a connection can lose it to a unit that asks meanwhile, and
        # wait again. Once a release stopped costing a round trip (``_keep_session``),
        # the loaded poll's p99 went from 20-29 ms to 62-92 ms; with these turns 13-21 ms
        self._turns = asyncio.Semaphore(pool_size)

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
                # asyncpg prepares every statement once per connection and reuses it;
                # payreq has about a hundred, so the cache holds them all
                statement_cache_size=STATEMENT_CACHE_SIZE,
                reset=_keep_session,
                # the server gives up too (a client that timed out must not leave a
                # statement or an open transaction holding locks behind it)
                server_settings={
                    "statement_timeout": str(int(self.timeout * 1000)),
                    "idle_in_transaction_session_timeout": str(int(self.timeout * 4000)),
                    "application_name": "payreq",
                },
            )
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable("PostgreSQL could not be reached.") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def checkout(self) -> asyncpg.Connection:
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        turns = self._turns
        if turns.locked():  # every connection is out: wait for a turn, for a while
            try:
                async with asyncio.timeout(self.timeout):
                    await turns.acquire()
            except TimeoutError as exc:
                raise DatabaseUnavailable() from exc
        else:  # a turn is free: taken at once, no timer to arm and cancel
            await turns.acquire()
        try:
            # with a turn, the pool has a connection free (turns = pool size): acquire
            # waits for nothing but a new connection's set-up, which the pool's connect
            # timeout bounds; asyncpg's own timeout would cost a task per acquire
            return await self._pool.acquire()
        except BaseException as exc:
            self._turns.release()
            if isinstance(exc, _CONNECTION_ERRORS):
                raise DatabaseUnavailable() from exc
            raise

    async def checkin(self, conn: asyncpg.Connection | None) -> None:
        """Give back a connection ``checkout`` gave (exactly once each)."""
        if conn is None:
            return
        pool = self._pool
        try:
            if pool is None:
                conn.terminate()
            else:
                await pool.release(conn, timeout=self.timeout)
        except Exception:  # a broken connection: the pool opens a new one when needed
            with contextlib.suppress(Exception):
                conn.terminate()
        finally:
            self._turns.release()

    async def discard(self, dead: asyncpg.Connection) -> None:
        """Give back a connection found dead (the pool reconnects its slot)."""
        with contextlib.suppress(Exception):
            dead.terminate()
        await self.checkin(dead)

    @staticmethod
    async def commit(wrapped: PostgresConnection) -> None:
        """Commit a unit's transaction (if it began one), with its last statement if it
        has one (``commit_with``), then run its after-commit hooks."""
        if wrapped.tx is not None:
            last, wrapped._last = wrapped._last, ""
            try:
                await wrapped._commit(last)
            except _CONNECTION_ERRORS as exc:
                raise DatabaseUnavailable() from exc
            except BaseException:
                if last:  # the last statement failed: its transaction is still open
                    await _rollback(wrapped)
                raise
        for after in wrapped.committed_hooks:
            after()

    async def _finish(self, wrapped: PostgresConnection, commit: bool) -> None:
        """End a unit that was handed over: commit (or roll back) and return the connection."""
        try:
            if commit:
                await self.commit(wrapped)
            else:
                await _rollback(wrapped)
        finally:
            wrapped.observer = None
            await self.checkin(wrapped.raw)

    def transaction(self, first: Statement | None = None) -> AbstractAsyncContextManager[PostgresConnection]:
        return _Unit(self, write=True, first=first)

    def read(self) -> AbstractAsyncContextManager[PostgresConnection]:
        return _Unit(self, write=False)

    def single(self) -> AbstractAsyncContextManager[PostgresConnection]:
        return _Unit(self, write=False)  # one statement is its own transaction here

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.fetch_one("SELECT 1")


class _Unit(AbstractAsyncContextManager[PostgresConnection]):
    """One unit of work (``transaction()``, ``read()``) on a pooled connection: a class
    rather than an ``asynccontextmanager`` (whose async generator the event loop
    registers and forgets around every unit), as SQLite's (``db/sqlite.py``)."""

    __slots__ = ("_database", "_first", "_observer", "_wrapped", "_write")

    def __init__(self, database: PostgresDatabase, *, write: bool, first: Statement | None = None) -> None:
        self._database = database
        self._write = write
        self._first = first
        self._observer: hook.UnitObserver | None = None
        self._wrapped: PostgresConnection | None = None

    async def __aenter__(self) -> PostgresConnection:
        database = self._database
        observer = self._observer = hook.current.get()
        if observer is not None:
            await observer.flush()
        wrapped = self._wrapped = PostgresConnection(
            await database.checkout(), database, observer, self._first
        )
        if self._write:
            try:
                await wrapped.begin()
            except BaseException:
                await self._give_back(wrapped)
                raise
        return wrapped

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        wrapped, observer = self._wrapped, self._observer
        assert wrapped is not None
        if exc_type is not None:
            await self._give_back(wrapped)
            return
        handed_over = False
        try:
            if wrapped.tx is not None and observer is not None and observer.keeps(wrapped):
                # the connection stays checked out until the request's answer is committed
                observer.hand_over(wrapped, functools.partial(self._database._finish, wrapped))
                handed_over = True
                return
            await self._database.commit(wrapped)
        finally:
            if not handed_over:
                await self._database.checkin(wrapped.raw)

    async def _give_back(self, wrapped: PostgresConnection) -> None:
        """A unit that failed: its transaction rolled back (if it began), its connection returned."""
        try:
            if wrapped.tx is not None:
                await _rollback(wrapped)
                if self._observer is not None:
                    self._observer.rolled_back()
        finally:
            await self._database.checkin(wrapped.raw)
