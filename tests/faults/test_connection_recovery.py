"""The PostgreSQL pool recovers from connections the server closed (a restart, an
administrator's pg_terminate_backend, a network cut): the first statement of a unit
is retried once on a fresh connection, so no request meets a stale one; a connection
lost in the middle of a transaction answers 503 at once and is not retried."""

from __future__ import annotations

import asyncpg
import pytest

from payreq.db import DatabaseUnavailable
from payreq.db.postgres import PostgresDatabase
from tests.fixtures.backends import POSTGRES_ADMIN_URL, require_postgres


async def terminate(pid: int) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def backend_pid(db: PostgresDatabase) -> int:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


@pytest.mark.parametrize("unit", ["read", "transaction"])
async def test_a_pooled_connection_the_server_closed_is_replaced(unit: str) -> None:
    await require_postgres()
    db = PostgresDatabase(POSTGRES_ADMIN_URL, timeout=5, pool_size=1)
    await db.open()
    try:
        before = await backend_pid(db)
        await terminate(before)

        async with db.read() if unit == "read" else db.transaction() as conn:
            row = await conn.fetch_one("SELECT pg_backend_pid() AS pid")

        assert row is not None and row["pid"] != before
        assert await backend_pid(db) == row["pid"]  # the pool keeps the fresh one
    finally:
        await db.close()


async def test_a_connection_lost_inside_a_transaction_answers_503_without_retrying() -> None:
    await require_postgres()
    db = PostgresDatabase(POSTGRES_ADMIN_URL, timeout=5, pool_size=1)
    await db.open()
    try:
        with pytest.raises(DatabaseUnavailable):
            async with db.transaction() as conn:
                row = await conn.fetch_one("SELECT pg_backend_pid() AS pid")
                assert row is not None
                await terminate(int(row["pid"]))
                await conn.fetch_one("SELECT 1 AS one")
        assert await backend_pid(db) > 0  # and the pool is usable again right after
    finally:
        await db.close()
