"""SQLite through the standard library: reads on the event loop, writes group-committed.

Statements take microseconds, so they run in the event loop; the slow part of a write
is its COMMIT (with ``synchronous=FULL``, an fsync of the WAL), which used to block the
loop for the whole server (py-spy: 40 % of a POST's time). So:

- **Reads** (``read()``) use a connection of their own (``query_only``), with no lock:
  in WAL mode they see the last committed state and never wait for writers. The reads
  of one turn of the event loop share one read transaction, begun by the turn's first
  read and ended by a callback queued then (``_open_snapshot``): a read transaction
  alone costs two ``fcntl`` locks, the poll's only system calls besides its socket's.
  It stays honest: the snapshot is taken after every request it serves has arrived,
  so it holds every commit whose acknowledgement (an answer, a webhook) a client can
  have seen before asking; and a unit told its commit is durable resumes in a later
  turn than the one that told it, after the end of any snapshot older than the commit
  (callbacks run in the order they were queued).
- **Writes** (``transaction()``, or a read unit that calls ``begin()``) share one writer
  connection, one unit at a time (an ``asyncio.Lock``). They are **group-committed**:
  the first unit of a batch opens the transaction (``BEGIN IMMEDIATE``), every unit runs
  inside its own SAVEPOINT (an error rolls back that unit alone), and a finished unit
  waits until its batch's COMMIT is durable before its caller goes on: none is
  acknowledged before its commit. The COMMIT runs on a dedicated writer thread while
  the loop goes on serving; the units that queued meanwhile form the next batch, so
  under load many writers share one transaction and one fsync. If the COMMIT fails,
  every unit of that batch fails with ``DatabaseUnavailable`` (nothing of it is kept).
- Writers from other processes (the worker, the CLI) meet at SQLite's write lock:
  ``BEGIN IMMEDIATE`` with a short busy timeout, retried with ``asyncio.sleep`` so the
  event loop never blocks for long, and ``DatabaseUnavailable`` once the deadline passes.

A batch is committed as soon as no unit waits for the writer any more, or once it holds
``MAX_BATCH`` units. ``:memory:`` databases have one connection (reads may then see a
batch before its commit); they are for experiments, not for serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from payreq.db import observer as hook
from payreq.db.base import DatabaseUnavailable, Dialect, Params, Row, Statement, UniqueViolation
from payreq.errors import ValidationFailed
from payreq.kit.clock import stored_text

BUSY_TIMEOUT_MS = 20
MAX_BATCH = 256
"""Units one COMMIT may carry at most; past it the batch commits although others wait."""
_SAVEPOINT, _RELEASE, _ROLLBACK_TO = "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit"
"""One name for every unit's savepoint: units hold the writer one at a time, so at most
one is open, and the three statements stay prepared (a name per unit was two prepares
per unit, and two entries pushed through the statement cache)."""


def _adapt_datetime(value: datetime) -> str:
    """``2026-12-01T14:00:00.000000+00:00``: one width, so that text order is time order."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use UTC-aware ones")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year >= 1000:  # isoformat is a third of strftime's cost; both pad from here
        return stored_text(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


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


UUID_TEXTS_KEPT = 4096
_uuid_texts: dict[int, str] = {}


def _adapt_uuid(value: uuid.UUID, texts: dict[int, str] = _uuid_texts) -> str:
    """``str(value)``, kept for the ids a request binds again and again (its account,
    application, the payment it makes: 14 UUIDs bound per creation, 5 distinct); the
    text of a UUID bound before is a dictionary look-up, not a formatting in Python.
    Emptied when full, so it never holds more than ``UUID_TEXTS_KEPT``."""
    number = value.int
    text = texts.get(number)
    if text is None:
        if len(texts) >= UUID_TEXTS_KEPT:
            texts.clear()
        hex_ = f"{number:032x}"
        text = texts[number] = f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"
    return text


sqlite3.register_adapter(uuid.UUID, _adapt_uuid)
sqlite3.register_adapter(datetime, _adapt_datetime)
sqlite3.register_converter("UUIDTEXT", _convert_uuid)
sqlite3.register_converter("TIMESTAMPTEXT", lambda raw: datetime.fromisoformat(raw.decode()))
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class SQLiteConnection:
    """One unit of work's view of the database: the reader connection until it begins
    writing, then the writer connection inside its own savepoint."""

    dialect: Dialect = "sqlite"

    def __init__(
        self, conn: sqlite3.Connection, database: SQLiteDatabase, observer: hook.UnitObserver | None
    ) -> None:
        self._conn = conn
        self._database = database
        self.committed_hooks: list[Callable[[], None]] = []
        self.observer = observer
        self.writing = False

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_hooks.append(callback)

    async def begin(self) -> None:
        if self.writing:
            return
        self._conn = await self._database.join(self)
        self.writing = True
        if self.observer is not None:
            await self.observer.began(self)

    async def read_first(self, statement: Statement) -> Row | None:
        """The row of ``statement``, the read this unit was opened with: here always read
        now (a statement is a call into the library, not a round trip, so the claim of an
        ``Idempotency-Key`` does not carry it as on PostgreSQL)."""
        return await self.fetch_one(statement.sql, statement.params)

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
        self._conn: sqlite3.Connection | None = None  # the writer
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # the writer, one unit at a time
        self._batch: list[tuple[asyncio.Future[None], SQLiteConnection]] = []
        self._committer: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._snapshot_open = False
        self.commits = 0
        """COMMITs so far; with ``units`` it shows how well writes are grouped."""
        self.units = 0

    def _open_connection(self) -> sqlite3.Connection:
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
        return conn

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open_connection()
        # the units' savepoints journal every page they change (so that one unit can roll
        # back alone); in memory, not in a temporary file past 64 KiB, which cost a write
        # per page. Nothing durable is in it: the WAL alone recovers from a crash.
        self._conn.execute("PRAGMA temp_store = MEMORY")
        if self.path == ":memory:":
            self._reader = self._conn
        else:
            self._reader = self._open_connection()
            self._reader.execute("PRAGMA query_only = ON")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="payreq-sqlite-writer")

    async def close(self) -> None:
        if self._conn is None:
            return
        if self._batch:  # units waiting for their commit get it (or its failure) first
            async with self._lock:
                await self._commit()
        self._end_snapshot()
        for conn in {id(c): c for c in (self._reader, self._conn) if c is not None}.values():
            conn.close()
        self._conn = self._reader = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    def _writer(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DatabaseUnavailable("The database is not open.")
        return self._conn

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

    # -- the writer: one unit at a time, each in a savepoint of the batch's transaction --

    async def join(self, unit: SQLiteConnection) -> sqlite3.Connection:
        """Give ``unit`` the writer (waiting for the units before it), inside the open
        batch or a new one, in a savepoint of its own."""
        await self._lock.acquire()  # cancelled here: nothing held, nothing to undo
        try:
            conn = self._writer()
            if not conn.in_transaction:
                await self.begin_immediate(conn)
            conn.execute(_SAVEPOINT)
        except BaseException:
            self._release()
            raise
        return conn

    async def end(self, unit: SQLiteConnection, commit: bool) -> None:
        """End a unit that holds the writer: keep its work for the batch's COMMIT and
        wait until that is durable (``commit``), or roll it back alone."""
        conn = self._writer()
        kept: asyncio.Future[None] | None = None
        try:
            if commit:
                conn.execute(_RELEASE)
                kept = asyncio.get_running_loop().create_future()
                self._batch.append((kept, unit))
            else:
                self._rollback_unit(conn, unit)
        finally:
            self._release()
        if kept is not None:
            await asyncio.shield(kept)

    def _rollback_unit(self, conn: sqlite3.Connection, unit: SQLiteConnection) -> None:
        if unit.observer is not None:
            unit.observer.rolled_back()
        try:
            conn.execute(_ROLLBACK_TO)
            conn.execute(_RELEASE)
        except sqlite3.Error:
            # the transaction itself is gone (SQLite rolled it back on an I/O error):
            # the batch's earlier units are lost with it, and must hear so
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail_batch(DatabaseUnavailable("The database could not commit; retry shortly."))

    def _release(self) -> None:
        """Free the writer; a batch waiting for its COMMIT gets a committer, queued
        behind the units already waiting so that they join this batch."""
        self._lock.release()
        if self._batch and self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_when_free())
        elif (
            not self._batch
            and not self._lock.locked()
            and self._conn is not None
            and self._conn.in_transaction
        ):
            self._conn.execute("ROLLBACK")  # only rolled-back units: nothing to keep

    async def _commit_when_free(self) -> None:
        try:
            async with self._lock:
                await self._commit()
        finally:
            self._committer = None
            if self._batch:  # a batch filled while this one committed
                self._committer = asyncio.get_running_loop().create_task(self._commit_when_free())

    async def _commit(self) -> None:
        """COMMIT the open batch on the writer thread (the writer lock held), then
        tell its units; on failure they all get ``DatabaseUnavailable``."""
        batch, self._batch = self._batch[:MAX_BATCH], self._batch[MAX_BATCH:]
        if not batch:
            return
        conn = self._writer()
        try:
            if conn.in_transaction:
                await asyncio.get_running_loop().run_in_executor(self._thread, conn.execute, "COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = DatabaseUnavailable("The database could not commit; retry shortly.")
            error.__cause__ = exc
            self._fail(batch, error)
            return
        self.commits += 1
        self.units += len(batch)
        for done, unit in batch:
            for after in unit.committed_hooks:
                after()
            if not done.done():
                done.set_result(None)

    def _fail_batch(self, error: DatabaseUnavailable) -> None:
        batch, self._batch = self._batch, []
        self._fail(batch, error)

    @staticmethod
    def _fail(batch: list[tuple[asyncio.Future[None], SQLiteConnection]], error: Exception) -> None:
        for done, _ in batch:
            if not done.done():
                done.set_exception(error)

    # -- the reader's snapshot: one a turn of the event loop -----------------------------

    def _open_snapshot(self, reader: sqlite3.Connection) -> None:
        """Begin the reader's transaction for what is left of this turn of the event
        loop, so that the turn's reads share one snapshot (``_end_snapshot``)."""
        if self._snapshot_open or reader is self._conn:  # :memory: reads on the writer
            return
        if not reader.in_transaction:  # (one an end could not close is ended next turn)
            reader.execute("BEGIN")
        self._snapshot_open = True
        asyncio.get_running_loop().call_soon(self._end_snapshot)

    def _end_snapshot(self) -> None:
        if not self._snapshot_open:
            return
        self._snapshot_open = False
        reader = self._reader
        if reader is not None and reader.in_transaction:
            try:
                reader.execute("COMMIT")
            except sqlite3.Error:  # a read transaction: nothing to keep
                with contextlib.suppress(sqlite3.Error):
                    reader.execute("ROLLBACK")

    # -- units of work ------------------------------------------------------------------

    def transaction(self, first: Statement | None = None) -> AbstractAsyncContextManager[SQLiteConnection]:
        """``first``: the unit's first read (``read_first``), read as it asks."""
        return _Unit(self, write=True)

    def read(self) -> AbstractAsyncContextManager[SQLiteConnection]:
        return _Unit(self, write=False)

    def single(self) -> AbstractAsyncContextManager[SQLiteConnection]:
        return _Unit(self, write=True)  # the reads' connection is query_only: writes take the writer

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.fetch_one("SELECT 1")


class _Unit(AbstractAsyncContextManager[SQLiteConnection]):
    """One unit of work (``transaction()``, ``read()``): a class rather than an
    ``asynccontextmanager``, whose async generator the event loop registers and
    forgets again around every unit: 2 of the 14 us a trivial write unit cost."""

    __slots__ = ("_database", "_observer", "_unit", "_write")

    def __init__(self, database: SQLiteDatabase, *, write: bool) -> None:
        self._database = database
        self._write = write
        self._observer: hook.UnitObserver | None = None
        self._unit: SQLiteConnection | None = None

    async def __aenter__(self) -> SQLiteConnection:
        database = self._database
        observer = self._observer = hook.current.get()
        if observer is not None:
            await observer.flush()
        reader = database._reader
        if reader is None:
            raise DatabaseUnavailable("The database is not open.")
        unit = self._unit = SQLiteConnection(reader, database, observer)
        if self._write:
            try:
                await unit.begin()
            except BaseException:
                if unit.writing:
                    await database.end(unit, False)
                raise
        else:  # a write unit reads on the writer
            database._open_snapshot(reader)
        return unit

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        unit, database, observer = self._unit, self._database, self._observer
        assert unit is not None
        if exc_type is not None:
            if unit.writing:
                await database.end(unit, False)
            return
        if not unit.writing:
            return
        if observer is not None and observer.keeps(unit):
            # the writer stays with this unit until the request's answer is written
            observer.hand_over(unit, lambda commit: database.end(unit, commit))
            return
        await database.end(unit, True)
