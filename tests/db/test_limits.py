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
