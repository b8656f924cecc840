"""SQLite through the standard library, called directly in the event loop.

Statements take microseconds, so a thread hop would cost more than it saves. One
connection per process; an ``asyncio.Lock`` keeps units of work from interleaving on
it. Writers from other processes (the worker, the CLI) meet at SQLite's write lock:
``BEGIN IMMEDIATE`` with a short busy timeout, retried with ``asyncio.sleep`` so the
event loop never blocks for long, and ``DatabaseUnavailable`` once the deadline passes.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from payreq.db import observer as hook
from payreq.db.base import DatabaseUnavailable, Dialect, Params, Row, UniqueViolation
from payreq.errors import ValidationFailed

BUSY_TIMEOUT_MS = 20


def _adapt_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use UTC-aware ones")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


_new = object.__new__
_set = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _convert_uuid(raw: bytes) -> uuid.UUID:
    """``uuid.UUID(text)`` without re-validating text we wrote ourselves: about a third
    of the cost, and six of these run on every authenticated read."""
    value = _new(uuid.UUID)
    _set(value, "int", int(raw.replace(b"-", b""), 16))
    _set(value, "is_safe", _SAFE_UNKNOWN)
    return value


sqlite3.register_adapter(uuid.UUID, str)
sqlite3.register_adapter(datetime, _adapt_datetime)
sqlite3.register_converter("UUIDTEXT", _convert_uuid)
sqlite3.register_converter("TIMESTAMPTEXT", lambda raw: datetime.fromisoformat(raw.decode()))
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class SQLiteConnection:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, database: SQLiteDatabase) -> None:
        self._conn = conn
        self._database = database
        self.committed_hooks: list[Callable[[], None]] = []
        self.observer: hook.UnitObserver | None = None

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_hooks.append(callback)

    async def begin(self) -> None:
        if not self._conn.in_transaction:
            await self._database.begin_immediate(self._conn)
            if self.observer is not None:
                await self.observer.began(self)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self._run(sql, params).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        rows: list[Row] = self._run(sql, params).fetchall()
        return rows

    async def execute(self, sql: str, params: Params | None = None) -> int:
        return self._run(sql, params).rowcount

    def _run(self, sql: str, params: Params | None) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params or {})
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise DatabaseUnavailable("The database is busy; retry shortly.") from exc
            raise
        except UnicodeEncodeError as exc:  # a lone surrogate: the client's input, never a 500
            raise ValidationFailed("A value contains a character the database cannot hold.") from exc


class SQLiteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, *, timeout: float = 5.0, synchronous: str = "FULL") -> None:
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._wrapped: SQLiteConnection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            detect_types=sqlite3.PARSE_DECLTYPES,
            cached_statements=512,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn = conn
        self._wrapped = SQLiteConnection(conn, self)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._wrapped = None

    def _connection(self) -> tuple[sqlite3.Connection, SQLiteConnection]:
        if self._conn is None or self._wrapped is None:
            raise DatabaseUnavailable("The database is not open.")
        return self._conn, self._wrapped

    async def begin_immediate(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.002
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseUnavailable("The database stayed locked; retry shortly.") from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)

    @asynccontextmanager
    async def _unit(self, *, write: bool) -> AsyncIterator[SQLiteConnection]:
        observer = hook.current.get()
        if observer is not None:
            await observer.flush()
        await self._lock.acquire()
        handed_over = False
        try:
            conn, wrapped = self._connection()
            wrapped.committed_hooks = []
            wrapped.observer = observer
            try:
                if write:
                    await wrapped.begin()
                yield wrapped
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                    if observer is not None:
                        observer.rolled_back()
                raise
            if conn.in_transaction and observer is not None and observer.keeps(wrapped):
                # the lock stays held until the request's answer is written and committed
                observer.hand_over(wrapped, functools.partial(self._finish, conn, wrapped))
                handed_over = True
                return
            if conn.in_transaction:
                conn.execute("COMMIT")
            for after in wrapped.committed_hooks:
                after()
        finally:
            if not handed_over:
                if self._wrapped is not None:
                    self._wrapped.observer = None
                self._lock.release()

    async def _finish(self, conn: sqlite3.Connection, wrapped: SQLiteConnection, commit: bool) -> None:
        """End a unit that was handed over: commit (or roll back) and free the connection."""
        try:
            if commit:
                try:
                    conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise DatabaseUnavailable("The database could not commit; retry shortly.") from exc
                for after in wrapped.committed_hooks:
                    after()
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            wrapped.observer = None
            self._lock.release()

    def transaction(self) -> AbstractAsyncContextManager[SQLiteConnection]:
        return self._unit(write=True)

    def read(self) -> AbstractAsyncContextManager[SQLiteConnection]:
        return self._unit(write=False)

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.fetch_one("SELECT 1")
