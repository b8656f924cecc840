"""The ``Database`` interface on both engines: transactions, type round-trips, unique
violations, parameter translation, and SQLite's write lock (SPEC §8, ARCHITECTURE)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from payreq.account.repository import insert_account, insert_user
from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database, DatabaseUnavailable, UniqueViolation, connect
from payreq.db.base import Statement, placeholders, sqlite_path, with_parts
from payreq.db.migrate import upgrade
from payreq.db.postgres import PostgresDatabase, translate
from payreq.db.sqlite import SQLiteDatabase
from payreq.errors import ServiceUnavailable
from tests.fixtures.backends import migrated_database

NOW = datetime(2026, 11, 22, 10, 30, 15, 123456, tzinfo=UTC)


class BoomError(Exception):
    pass


async def _account_name(db: Database, account_id: uuid.UUID) -> str | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT name FROM accounts WHERE id = :id", {"id": account_id})
    return None if row is None else str(row["name"])


async def _seen_elsewhere(backend: str, database_url: str, account_id: uuid.UUID) -> bool:
    """Whether a separate connection (not the Database's) sees the account."""
    if backend == "sqlite":
        other = sqlite3.connect(sqlite_path(database_url))
        try:
            found = other.execute("SELECT 1 FROM accounts WHERE id = ?", (str(account_id),)).fetchone()
        finally:
            other.close()
        return found is not None
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is not None
    finally:
        await conn.close()


# --- transactions -------------------------------------------------------------------


async def test_transaction_commits_on_exit(db: Database, backend: str, database_url: str) -> None:
    account_id = uuid.uuid4()
    async with db.transaction() as conn:
        await insert_account(conn, id=account_id, name="committed", created_at=NOW)
        assert not await _seen_elsewhere(backend, database_url, account_id)
    assert await _account_name(db, account_id) == "committed"
    assert await _seen_elsewhere(backend, database_url, account_id)


async def test_exception_inside_transaction_rolls_back_and_propagates(db: Database) -> None:
    account_id = uuid.uuid4()
    with pytest.raises(BoomError):
        async with db.transaction() as conn:
            await insert_account(conn, id=account_id, name="rolled back", created_at=NOW)
            assert await conn.fetch_one("SELECT 1 AS one FROM accounts WHERE id = :id", {"id": account_id})
            raise BoomError
    assert await _account_name(db, account_id) is None
    # and the Database is usable afterwards
    async with db.transaction() as conn:
        await insert_account(conn, id=account_id, name="second try", created_at=NOW)
    assert await _account_name(db, account_id) == "second try"


async def test_cancelled_transaction_rolls_back(db: Database) -> None:
    account_id = uuid.uuid4()
    inserted = asyncio.Event()

    async def unit_of_work() -> None:
        async with db.transaction() as conn:
            await insert_account(conn, id=account_id, name="cancelled", created_at=NOW)
            inserted.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(unit_of_work())
    await asyncio.wait_for(inserted.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _account_name(db, account_id) is None


async def test_execute_returns_the_number_of_changed_rows(db: Database) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    async with db.transaction() as conn:
        for account_id in ids:
            await insert_account(conn, id=account_id, name="count me", created_at=NOW)
        changed = await conn.execute(
            "UPDATE accounts SET name = :name WHERE id IN (:a, :b, :c)",
            {"name": "counted", "a": ids[0], "b": ids[1], "c": ids[2]},
        )
        unchanged = await conn.execute(
            "UPDATE accounts SET name = :name WHERE id = :id", {"name": "x", "id": uuid.uuid4()}
        )
    assert (changed, unchanged) == (3, 0)


# --- type round-trips ---------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        NOW,
        datetime(2026, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 6, 1, 1, 0, 0, 0, tzinfo=timezone(timedelta(hours=-7))),
    ],
    ids=["micro", "micro-0", "leap-day-max-micro", "one-micro", "plus-0530", "minus-0700"],
)
async def test_uuid_and_aware_datetime_round_trip_exactly_in_utc(db: Database, moment: datetime) -> None:
    account_id = uuid.uuid4()
    async with db.transaction() as conn:
        await insert_account(conn, id=account_id, name="times", created_at=moment)
        await conn.execute(
            "UPDATE accounts SET disabled_at = :at WHERE id = :id", {"at": moment, "id": account_id}
        )
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT id, created_at, disabled_at FROM accounts WHERE id = :id", {"id": account_id}
        )
    assert row is not None
    assert isinstance(row["id"], uuid.UUID)
    assert row["id"] == account_id
    assert str(row["id"]) == str(account_id)
    expected = moment.astimezone(UTC)
    for value in (row["created_at"], row["disabled_at"]):
        assert isinstance(value, datetime)
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == moment
        assert value.replace(tzinfo=None) == expected.replace(tzinfo=None)
        assert value.microsecond == expected.microsecond


async def test_null_timestamp_comes_back_as_none(db: Database) -> None:
    account_id = uuid.uuid4()
    async with db.transaction() as conn:
        await insert_account(conn, id=account_id, name="no disable", created_at=NOW)
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT disabled_at FROM accounts WHERE id = :id", {"id": account_id})
    assert row is not None
    assert row["disabled_at"] is None


async def test_timestamps_compare_and_sort_by_instant(db: Database) -> None:
    """SQLite keeps timestamps as text; the fixed-width UTC form must still order by time,
    including a whole second (microsecond 0) next to fractions and other offsets."""
    name = f"order-{uuid.uuid4().hex}"
    base = datetime(2026, 3, 1, 12, 0, 0, 0, tzinfo=UTC)
    moments = {
        "a": base,
        "b": base + timedelta(microseconds=1),
        "c": (base + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-5))),
        "d": (base + timedelta(seconds=1, microseconds=100000)).astimezone(timezone(timedelta(hours=9))),
    }
    async with db.transaction() as conn:
        for label, moment in moments.items():
            await insert_account(conn, id=uuid.uuid4(), name=f"{name}-{label}", created_at=moment)
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT name FROM accounts WHERE name LIKE :prefix AND created_at > :after ORDER BY created_at DESC",
            {"prefix": f"{name}-%", "after": base.astimezone(timezone(timedelta(hours=3)))},
        )
    assert [row["name"][-1] for row in rows] == ["d", "c", "b"]


async def test_naive_datetime_is_refused(db: Database) -> None:
    account_id = uuid.uuid4()
    with pytest.raises((ValueError, TypeError)):
        async with db.transaction() as conn:
            await insert_account(conn, id=account_id, name="naive", created_at=datetime(2026, 1, 1, 12, 0))
    assert await _account_name(db, account_id) is None


# --- unique violations --------------------------------------------------------------

INSERT_USER = """
    INSERT INTO users (id, account_id, email, password_hash, created_at)
    VALUES (:id, :account_id, :email, :password_hash, :created_at)
"""


async def _new_account(db: Database) -> uuid.UUID:
    account_id = uuid.uuid4()
    async with db.transaction() as conn:
        await insert_account(conn, id=account_id, name="users", created_at=NOW)
    return account_id


async def test_duplicate_email_raises_unique_violation_and_rolls_back(db: Database) -> None:
    account_id = await _new_account(db)
    email = f"{uuid.uuid4().hex}@shop.example"
    async with db.transaction() as conn:
        await insert_user(
            conn, id=uuid.uuid4(), account_id=account_id, email=email, password_hash="h1", created_at=NOW
        )
    other_account = uuid.uuid4()
    with pytest.raises(UniqueViolation):
        async with db.transaction() as conn:
            await insert_account(conn, id=other_account, name="same unit of work", created_at=NOW)
            await insert_user(
                conn,
                id=uuid.uuid4(),
                account_id=other_account,
                email=email,
                password_hash="h2",
                created_at=NOW,
            )
    assert await _account_name(db, other_account) is None
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT password_hash FROM users WHERE email = :email", {"email": email})
    assert [row["password_hash"] for row in rows] == ["h1"]


async def test_duplicate_primary_key_raises_unique_violation(db: Database) -> None:
    account_id = await _new_account(db)
    with pytest.raises(UniqueViolation):
        async with db.transaction() as conn:
            await insert_account(conn, id=account_id, name="again", created_at=NOW)


@pytest.mark.parametrize("method", ["execute", "fetch_one", "fetch_all"])
async def test_unique_violation_is_raised_by_every_statement_method(db: Database, method: str) -> None:
    account_id = await _new_account(db)
    email = f"{uuid.uuid4().hex}@shop.example"
    params = {"account_id": account_id, "email": email, "password_hash": "h", "created_at": NOW}
    async with db.transaction() as conn:
        await conn.execute(INSERT_USER, {"id": uuid.uuid4(), **params})
    with pytest.raises(UniqueViolation):
        async with db.transaction() as conn:
            run = getattr(conn, method)
            await run(INSERT_USER + " RETURNING id", {"id": uuid.uuid4(), **params})


async def test_ping_answers_on_an_open_database(db: Database) -> None:
    assert await db.ping() is None


async def test_unopened_sqlite_database_is_unavailable(tmp_path: Path) -> None:
    database = SQLiteDatabase(str(tmp_path / "never-opened.db"))
    with pytest.raises(DatabaseUnavailable):
        await database.ping()
    with pytest.raises(DatabaseUnavailable):
        async with database.transaction():
            pass


async def test_unreachable_postgres_is_unavailable_not_a_hang() -> None:
    database = connect("postgresql://postgres@127.0.0.1:1/nowhere", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        await database.open()
    assert time.monotonic() - started < 5
    await database.close()


async def test_placeholders_expand_an_in_list(db: Database) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    async with db.transaction() as conn:
        for account_id in ids:
            await insert_account(conn, id=account_id, name="in-list", created_at=NOW)
    marks, params = placeholders([ids[0], ids[2]], "acct")
    assert marks == ":acct0, :acct1"
    assert params == {"acct0": ids[0], "acct1": ids[2]}
    async with db.read() as conn:
        rows = await conn.fetch_all(f"SELECT id FROM accounts WHERE id IN ({marks})", params)
    assert {row["id"] for row in rows} == {ids[0], ids[2]}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # with_parts is PostgreSQL's
async def test_with_parts_writes_every_part_in_one_statement_or_none(db: Database) -> None:
    """The parts of ``with_parts`` run although nothing reads them, in the one statement,
    which fails whole (a payment creation is written this way)."""
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    insert = "INSERT INTO accounts (id, name, created_at) VALUES (:{0}, 'part', :at{0})"
    parts = [
        ("one", Statement(insert.format("a"), {"a": first, "ata": NOW})),
        ("two", Statement(insert.format("b"), {"b": second, "atb": NOW})),
    ]
    async with db.transaction() as conn:
        await conn.execute(*with_parts(parts, insert.format("c"), {"c": third, "atc": NOW}))
    assert [await _account_name(db, one) for one in (first, second, third)] == ["part"] * 3

    fourth = uuid.uuid4()
    with pytest.raises(UniqueViolation):  # the last INSERT fails: its parts are not written
        async with db.transaction() as conn:
            await conn.execute(
                *with_parts(
                    [("one", Statement(insert.format("a"), {"a": fourth, "ata": NOW}))],
                    insert.format("c"),
                    {"c": third, "atc": NOW},
                )
            )
    assert await _account_name(db, fourth) is None
    with pytest.raises(ValueError, match="parameters named twice"):
        with_parts(parts, insert.format("a"), {"a": fourth, "ata": NOW})


# --- :name parameters ---------------------------------------------------------------


def test_translate_numbers_parameters_in_order_of_first_use() -> None:
    sql, names = translate("SELECT * FROM t WHERE a = :alpha AND b = :beta AND c = :gamma_2")
    assert sql == "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3"
    assert names == ("alpha", "beta", "gamma_2")


def test_translate_reuses_one_number_for_a_repeated_name() -> None:
    sql, names = translate("UPDATE t SET a = :v, b = :w WHERE c = :v OR d = :v AND e = :w")
    assert sql == "UPDATE t SET a = $1, b = $2 WHERE c = $1 OR d = $1 AND e = $2"
    assert names == ("v", "w")


def test_translate_leaves_casts_untouched() -> None:
    sql, names = translate("SELECT :id::text AS a, x::uuid, y :: int, CAST(:n AS bigint), now()::date FROM t")
    assert sql == "SELECT $1::text AS a, x::uuid, y :: int, CAST($2 AS bigint), now()::date FROM t"
    assert names == ("id", "n")


def test_translate_without_parameters_changes_nothing() -> None:
    text = "SELECT '12:30' AS t, a::text FROM t WHERE b = 'x'"
    assert translate(text) == (text, ())


def test_translate_is_stable_across_calls() -> None:
    text = "SELECT :b, :a, :b"
    assert translate(text) == translate(text) == ("SELECT $1, $2, $1", ("b", "a"))


async def test_repeated_named_parameters_run_on_the_backend(db: Database) -> None:
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT CAST(:x AS TEXT) AS a, CAST(:y AS INTEGER) AS b, CAST(:x AS TEXT) AS c",
            {"x": "same", "y": 7},
        )
    assert row is not None
    assert (row["a"], row["b"], row["c"]) == ("same", 7, "same")


async def test_casts_and_repeated_parameters_execute(db: Database, backend: str) -> None:
    """On PostgreSQL with its ``::`` casts, which the parameter translation must leave alone."""
    account_id = await _new_account(db)
    sql = (
        "SELECT id::text AS text_id, :label::text AS label, :label::text || '!' AS shout "
        "FROM accounts WHERE id = :id OR (id = :id AND name = :label)"
    )
    if backend == "sqlite":
        sql = sql.replace("id::text", "CAST(id AS TEXT)").replace(":label::text", "CAST(:label AS TEXT)")
    async with db.read() as conn:
        row = await conn.fetch_one(sql, {"id": account_id, "label": "users"})
    assert row is not None
    assert (row["text_id"], row["label"], row["shout"]) == (str(account_id), "users", "users!")


# --- SQLite specifics ---------------------------------------------------------------


@pytest.fixture
async def scratch_sqlite_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[[float], Awaitable[SQLiteDatabase]]]:
    """Freshly migrated SQLite files, each with the lock timeout asked for."""
    made: list[SQLiteDatabase] = []

    async def make(timeout: float) -> SQLiteDatabase:
        path = str(tmp_path / f"locks-{len(made)}.db")
        await asyncio.to_thread(upgrade, f"sqlite:///{path}")
        database = SQLiteDatabase(path, timeout=timeout)
        made.append(database)
        await database.open()
        return database

    yield make
    for database in made:
        await database.close()


@pytest.fixture
async def scratch_sqlite(
    scratch_sqlite_factory: Callable[[float], Awaitable[SQLiteDatabase]],
) -> tuple[SQLiteDatabase, str]:
    """A freshly migrated SQLite file with a 0.5 s lock timeout, and its path."""
    database = await scratch_sqlite_factory(0.5)
    return database, database.path


class Ticker:
    """Counts how often the event loop lets another task run."""

    def __init__(self) -> None:
        self.beats: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.beats.append(time.monotonic())
            await asyncio.sleep(0.005)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    @property
    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.beats, self.beats[1:], strict=False))


def _hold_write_lock(path: str) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES (?, 'holder', '2026-01-01')", (str(uuid.uuid4()),)
    )
    return holder


async def test_sqlite_waits_for_the_write_lock_then_raises_database_unavailable(
    scratch_sqlite: tuple[SQLiteDatabase, str],
) -> None:
    database, path = scratch_sqlite
    holder = _hold_write_lock(path)
    ticker = Ticker()
    try:
        ticker.start()
        await asyncio.sleep(0.02)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as caught:
            async with database.transaction() as conn:
                await insert_account(conn, id=uuid.uuid4(), name="never", created_at=NOW)
        waited = time.monotonic() - started
        await ticker.stop()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert 0.45 <= waited < 3.0
    assert isinstance(caught.value, ServiceUnavailable)
    assert caught.value.status == 503
    assert caught.value.code == "database_unavailable"
    # the event loop kept running while the transaction waited: a blocking wait would
    # leave one gap as long as the whole timeout
    assert len(ticker.beats) >= 10
    assert ticker.longest_gap < 0.25
    # once the lock is free, the same Database works again
    account_id = uuid.uuid4()
    async with database.transaction() as conn:
        await insert_account(conn, id=account_id, name="after", created_at=NOW)
    assert await _account_name(database, account_id) == "after"


async def test_sqlite_transaction_succeeds_when_the_lock_is_released_in_time(
    scratch_sqlite_factory: Callable[[float], Awaitable[SQLiteDatabase]],
) -> None:
    # a roomy timeout, so that a slow machine firing the release late still passes
    database = await scratch_sqlite_factory(3.0)
    path = database.path
    holder = _hold_write_lock(path)
    account_id = uuid.uuid4()
    ticker = Ticker()
    try:
        ticker.start()
        asyncio.get_running_loop().call_later(0.2, holder.execute, "COMMIT")
        started = time.monotonic()
        async with database.transaction() as conn:
            await insert_account(conn, id=account_id, name="waited", created_at=NOW)
        waited = time.monotonic() - started
        await ticker.stop()
    finally:
        holder.close()
    assert 0.15 <= waited < 2.5
    assert ticker.longest_gap < 0.25
    assert await _account_name(database, account_id) == "waited"
    async with database.read() as conn:
        row = await conn.fetch_one("SELECT COUNT(*) AS n FROM accounts WHERE name = 'holder'")
    assert row is not None
    assert row["n"] == 1


async def test_sqlite_reads_are_not_blocked_by_another_writer(
    scratch_sqlite: tuple[SQLiteDatabase, str],
) -> None:
    database, path = scratch_sqlite
    account_id = uuid.uuid4()
    async with database.transaction() as conn:
        await insert_account(conn, id=account_id, name="visible", created_at=NOW)
    holder = _hold_write_lock(path)
    try:
        started = time.monotonic()
        assert await _account_name(database, account_id) == "visible"
        assert time.monotonic() - started < 0.2
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def _pragmas(database: Database) -> dict[str, object]:
    async with database.read() as conn:
        found: dict[str, object] = {}
        for name in ("journal_mode", "foreign_keys", "synchronous"):
            row = await conn.fetch_one(f"PRAGMA {name}")
            assert row is not None
            found[name] = row[0]  # type: ignore[index]
    return found


async def _server_database(tmp_path: Path, **settings: object) -> Database:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    await asyncio.to_thread(upgrade, url)
    app = create_app(
        Settings(database_url=url, embedded_worker=False, log_level="WARNING", **settings),  # type: ignore[arg-type]
        run_worker=False,
    )
    database: Database = app.state.services.db
    await database.open()
    return database


async def test_server_sqlite_connection_uses_wal_foreign_keys_and_full_sync(tmp_path: Path) -> None:
    database = await _server_database(tmp_path)
    try:
        assert await _pragmas(database) == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}
    finally:
        await database.close()


async def test_server_sqlite_synchronous_normal_when_configured(tmp_path: Path) -> None:
    database = await _server_database(tmp_path, sqlite_synchronous="NORMAL")
    try:
        assert await _pragmas(database) == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1}
    finally:
        await database.close()


async def test_sqlite_enforces_foreign_keys(scratch_sqlite: tuple[SQLiteDatabase, str]) -> None:
    database, _ = scratch_sqlite
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with database.transaction() as conn:
            await insert_user(
                conn,
                id=uuid.uuid4(),
                account_id=uuid.uuid4(),
                email="orphan@shop.example",
                password_hash="h",
                created_at=NOW,
            )


async def test_a_read_unit_that_begins_commits_its_writes_on_exit(db: Database) -> None:
    account_id = uuid.uuid4()
    async with db.read() as conn:
        assert await conn.fetch_one("SELECT id FROM accounts WHERE id = :id", {"id": account_id}) is None
        await conn.begin()
        await conn.begin()  # a no-op inside a transaction
        await insert_account(conn, id=account_id, name="begun", created_at=NOW)
    assert await _account_name(db, account_id) == "begun"


async def test_a_read_unit_that_begins_rolls_back_on_error(db: Database) -> None:
    account_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with db.read() as conn:
            await conn.begin()
            await insert_account(conn, id=account_id, name="lost", created_at=NOW)
            raise RuntimeError("boom")
    assert await _account_name(db, account_id) is None


def test_the_sqlite_uuid_converter_builds_ordinary_uuids() -> None:
    from payreq.db.sqlite import _convert_uuid

    for _ in range(100):
        original = uuid.uuid4()
        converted = _convert_uuid(str(original).encode())
        assert converted == original
        assert hash(converted) == hash(original)
        assert str(converted) == str(original)
        assert converted.version == 4
        assert {converted: 1}[original] == 1


async def test_a_released_postgres_connection_runs_no_reset_and_keeps_no_transaction(tmp_path: Path) -> None:
    """The pool gives a connection back without asyncpg's reset query (a round trip per
    unit; payreq keeps no session state), yet a unit that failed leaves no transaction."""
    async for database_url in migrated_database("postgres", tmp_path):
        await _no_reset(database_url)


async def _no_reset(database_url: str) -> None:
    pool = connect(database_url, pool_size=1)
    await pool.open()
    observer = await asyncpg.connect(database_url)
    try:
        async with pool.read() as conn:
            row = await conn.fetch_one("SELECT pg_backend_pid() AS pid, 4242 AS released_marker")
        assert row is not None
        pid = row["pid"]
        last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        assert "released_marker" in last and "RESET ALL" not in last

        with pytest.raises(ZeroDivisionError):
            async with pool.transaction() as conn:
                await conn.execute("SELECT 1")
                raise ZeroDivisionError
        state = await observer.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", pid)
        assert state == "idle"  # rolled back, not "idle in transaction"
        async with pool.read() as conn:
            again = await conn.fetch_one("SELECT pg_backend_pid() AS pid, current_setting('TimeZone') AS tz")
        assert again is not None and again["pid"] == pid  # the same pooled connection, reused
    finally:
        await observer.close()
        await pool.close()


async def test_postgres_turns_for_connections_are_all_given_back_whatever_the_units_did(
    tmp_path: Path,
) -> None:
    """Units take turns for the pool's connections, first come first served (asyncpg's
    own queue let late arrivals take a connection coming back: the loaded poll's p99 was
    three times its median). Every turn is given back: after units that committed,
    failed, were cancelled or timed out waiting, the whole pool is free again."""
    async for database_url in migrated_database("postgres", tmp_path):
        pool = connect(database_url, pool_size=2, timeout=0.3)
        await pool.open()
        try:
            assert isinstance(pool, PostgresDatabase)
            await _units_of_every_ending(pool)
            assert pool._turns._value == 2
            both = [pool.read() for _ in range(2)]
            async with both[0] as a, both[1] as b:  # the whole pool, at once
                one, two = await a.fetch_one("SELECT 1 AS n"), await b.fetch_one("SELECT 2 AS n")
                assert one is not None and two is not None and (one["n"], two["n"]) == (1, 2)
        finally:
            await pool.close()


async def _units_of_every_ending(pool: PostgresDatabase) -> None:
    async with pool.transaction() as conn:
        await conn.execute("SELECT 1")
    with pytest.raises(ZeroDivisionError):
        async with pool.read():
            raise ZeroDivisionError
    holders = [pool.read() for _ in range(2)]
    async with holders[0], holders[1]:
        with pytest.raises(DatabaseUnavailable):  # no turn free within the time-out
            async with pool.read():
                pass
        waiting = asyncio.create_task(pool.read().__aenter__())
        await asyncio.sleep(0.05)
        waiting.cancel()  # cancelled while it waited for a turn
        with pytest.raises(asyncio.CancelledError):
            await waiting
