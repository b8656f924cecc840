"""Limits on the database resources: the pool's size comes from the settings, and on
PostgreSQL the server itself bounds every statement and every idle transaction."""

from __future__ import annotations

import pytest

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.db.postgres import PostgresDatabase


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # a PostgreSQL setting
async def test_postgres_bounds_statements_and_idle_transactions_on_the_server(
    db: Database, backend: str
) -> None:
    async with db.read() as conn:
        statement = await conn.fetch_one("SELECT current_setting('statement_timeout') AS v")
        idle = await conn.fetch_one("SELECT current_setting('idle_in_transaction_session_timeout') AS v")
    assert statement is not None and statement["v"] == "5s"  # the suite's database_timeout
    assert idle is not None and idle["v"] == "20s"


@pytest.mark.parametrize(
    "backend", ["postgres"], indirect=True
)  # SQLite has no pool (one writer, one reader)
async def test_the_pool_is_sized_from_the_settings(database_url: str, backend: str) -> None:
    app = create_app(
        Settings(
            database_url=database_url, embedded_worker=False, database_pool_size=3, database_timeout=2.5
        ),
        run_worker=False,
    )
    database = app.state.services.db
    assert isinstance(database, PostgresDatabase)
    await database.open()
    try:
        assert database._pool is not None and database._pool.get_max_size() == 3
        async with database.read() as conn:
            row = await conn.fetch_one("SELECT current_setting('statement_timeout') AS v")
        assert row is not None and row["v"] == "2500ms"
    finally:
        await database.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite has one writer: no lock cycle
async def test_a_deadlock_rolls_one_unit_back_as_unavailable_never_a_500(db: Database, backend: str) -> None:
    """Two units that lock two rows in opposite orders: PostgreSQL breaks the cycle by
    rolling one back (SQLSTATE 40P01). That unit fails as DatabaseUnavailable (a 503
    that says to retry), the other commits, and nothing of the first is kept."""
    import asyncio

    from payreq.db import DatabaseUnavailable

    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE deadlock_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        await conn.execute("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
    try:
        both_hold = asyncio.Barrier(2)

        async def lock(first: int, second: int) -> None:
            async with db.transaction() as conn:
                await conn.execute("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id", {"id": first})
                await both_hold.wait()
                await conn.execute("UPDATE deadlock_probe SET n = n + 10 WHERE id = :id", {"id": second})

        results = await asyncio.gather(lock(1, 2), lock(2, 1), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 1 and isinstance(failed[0], DatabaseUnavailable), results
        assert failed[0].status == 503 and "retry" in failed[0].message
        async with db.read() as conn:
            rows = await conn.fetch_all("SELECT n FROM deadlock_probe ORDER BY id")
        assert sorted(r["n"] for r in rows) == [1, 10]  # the winner's two updates alone
    finally:
        async with db.transaction() as conn:
            await conn.execute("DROP TABLE deadlock_probe")
