"""SQLite's reads share one snapshot a turn of the event loop (db/sqlite.py): the
reads of one turn see the same state, the next turn sees every commit made before it,
and this process's own reads see its writes once they are acknowledged."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from payreq.db.sqlite import SQLiteDatabase


def _insert_elsewhere(path: str, item_id: str) -> None:
    """A commit by another connection (another process: the worker, the CLI)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("INSERT INTO item (id) VALUES (?)", (item_id,))
    finally:
        other.close()


async def _count(database: SQLiteDatabase) -> int:
    async with database.read() as conn:
        row = await conn.fetch_one("SELECT count(*) AS n FROM item")
    assert row is not None
    return int(row["n"])


async def test_the_reads_of_one_turn_share_a_snapshot_and_the_next_turn_sees_other_commits(
    scratch: tuple[SQLiteDatabase, str],
) -> None:
    database, path = scratch
    assert await _count(database) == 0
    _insert_elsewhere(path, "a")
    assert await _count(database) == 0  # the same turn: the same snapshot
    await asyncio.sleep(0)  # the next turn: a snapshot taken after the other commit
    assert await _count(database) == 1
    _insert_elsewhere(path, "b")
    await asyncio.sleep(0)
    assert await _count(database) == 2


async def test_a_read_after_an_acknowledged_write_sees_it_while_others_keep_reading(
    scratch: tuple[SQLiteDatabase, str],
) -> None:
    """Other requests read in every turn while a write commits: once the writer is told
    its unit is durable, its next read sees it."""
    database, _ = scratch
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            await _count(database)
            await asyncio.sleep(0)

    pollers = [asyncio.create_task(poll()) for _ in range(4)]
    try:
        for n in range(20):
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": f"w{n}"})
            assert await _count(database) == n + 1
    finally:
        stop.set()
        await asyncio.gather(*pollers)


async def test_a_memory_database_reads_on_its_one_connection(tmp_path: Path) -> None:
    database = SQLiteDatabase(":memory:")
    await database.open()
    try:
        async with database.transaction() as conn:
            await conn.execute("CREATE TABLE item (id TEXT PRIMARY KEY)")
            await conn.execute("INSERT INTO item (id) VALUES ('m')")
        assert await _count(database) == 1
        async with database.transaction() as conn:  # no read transaction left in the way
            await conn.execute("INSERT INTO item (id) VALUES ('n')")
        assert await _count(database) == 2
    finally:
        await database.close()


async def test_a_read_transaction_left_open_does_not_fail_the_next_reads(
    scratch: tuple[SQLiteDatabase, str],
) -> None:
    """A read transaction the end of a turn could not close (or any left open on the
    reader) is taken as the turn's snapshot and ended after it, not a 500."""
    database, path = scratch
    reader = database._reader
    assert reader is not None
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM item").fetchone()
    _insert_elsewhere(path, "late")
    assert await _count(database) == 0  # the transaction left open, used for this turn
    await asyncio.sleep(0)
    assert not reader.in_transaction
    assert await _count(database) == 1
