"""SQLite's group commit (db/sqlite.py): concurrent writers share one transaction and
one COMMIT, each unit rolls back alone, and none is acknowledged before its commit is
durable (a separate connection already sees it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from payreq.db import DatabaseUnavailable
from payreq.db.sqlite import SQLiteDatabase


def _visible(path: str, item_id: str) -> bool:
    other = sqlite3.connect(path)
    try:
        return other.execute("SELECT 1 FROM item WHERE id = ?", (item_id,)).fetchone() is not None
    finally:
        other.close()


async def test_concurrent_writers_share_commits_and_each_is_durable_when_acknowledged(
    scratch: tuple[SQLiteDatabase, str],
) -> None:
    database, path = scratch
    seen_at_ack: list[bool] = []

    async def write(n: int) -> None:
        item_id = f"i{n}"
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": item_id})
            await asyncio.sleep(0)  # let the others queue for the writer
        seen_at_ack.append(_visible(path, item_id))  # acknowledged: another connection sees it

    await asyncio.gather(*(write(n) for n in range(64)))
    assert seen_at_ack == [True] * 64
    assert database.units == 64
    assert database.commits < 32, f"{database.commits} commits for 64 concurrent units: not grouped"


async def test_a_failing_unit_rolls_back_alone_in_its_batch(scratch: tuple[SQLiteDatabase, str]) -> None:
    database, path = scratch

    async def write(item_id: str, fail: bool) -> None:
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": item_id})
            await asyncio.sleep(0)
            if fail:
                raise RuntimeError("this unit fails")

    results = await asyncio.gather(
        *(write(f"k{n}", fail=n % 3 == 0) for n in range(12)), return_exceptions=True
    )
    for n, result in enumerate(results):
        assert isinstance(result, RuntimeError) == (n % 3 == 0)
        assert _visible(path, f"k{n}") == (n % 3 != 0)


async def test_a_failed_commit_fails_every_unit_of_its_batch(scratch: tuple[SQLiteDatabase, str]) -> None:
    """A deferred foreign key makes the batch's COMMIT itself fail: every unit that
    shared it hears DatabaseUnavailable and none of their rows exist."""
    database, path = scratch
    started = asyncio.Event()

    async def bad() -> None:
        async with database.transaction() as conn:
            await conn.execute("PRAGMA defer_foreign_keys = ON")
            await conn.execute(
                "INSERT INTO item (id, parent_id) VALUES ('bad', :p)", {"p": str(uuid.uuid4())}
            )
            started.set()
            await asyncio.sleep(0.05)  # the good ones queue behind it and join its batch

    async def good(n: int) -> None:
        await started.wait()
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": f"g{n}"})

    results = await asyncio.gather(bad(), *(good(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(r, DatabaseUnavailable) for r in results), results
    assert not any(_visible(path, i) for i in ("bad", "g0", "g1", "g2", "g3", "g4"))
    async with database.transaction() as conn:  # the writer works again afterwards
        await conn.execute("INSERT INTO item (id) VALUES ('after')")
    assert _visible(path, "after")


async def test_reads_do_not_see_a_batch_before_its_commit(scratch: tuple[SQLiteDatabase, str]) -> None:
    database, _ = scratch
    inside = asyncio.Event()
    done = asyncio.Event()

    async def writer() -> None:
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO item (id) VALUES ('pending')")
            inside.set()
            await done.wait()

    task = asyncio.create_task(writer())
    await inside.wait()
    async with database.read() as conn:  # not blocked by the open write unit
        assert await conn.fetch_one("SELECT 1 FROM item WHERE id = 'pending'") is None
    done.set()
    await task
    async with database.read() as conn:
        assert await conn.fetch_one("SELECT 1 FROM item WHERE id = 'pending'") is not None


async def test_every_unit_runs_the_same_savepoint_statements(scratch: tuple[SQLiteDatabase, str]) -> None:
    """One savepoint name for all units, so that SQLite prepares the three statements
    once: a name per unit compiled two new statements for every unit."""
    database, path = scratch
    async with database.transaction() as conn:  # the writer connection exists from here
        await conn.execute("INSERT INTO item (id) VALUES ('first')")
    seen: list[str] = []
    writer = database._writer()
    writer.set_trace_callback(seen.append)
    try:

        async def write(n: int) -> None:
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": f"s{n}"})
                await asyncio.sleep(0)
                if n % 4 == 0:
                    raise RuntimeError("rolled back alone")

        await asyncio.gather(*(write(n) for n in range(16)), return_exceptions=True)
    finally:
        writer.set_trace_callback(None)
    savepoints = [s for s in seen if s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]
    assert len(savepoints) == 16 + 16 + 4  # each unit's savepoint and release, the failures' rollback
    assert set(savepoints) == {"SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit"}
    assert [_visible(path, f"s{n}") for n in range(16)] == [n % 4 != 0 for n in range(16)]


def _temporary_files() -> list[str]:
    """SQLite's temporary files open in this process (named ``etilqs_…``, unlinked)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [n for n in names if "etilqs" in n]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files through /proc")
async def test_a_unit_journals_the_pages_it_changes_in_memory(scratch: tuple[SQLiteDatabase, str]) -> None:
    """A unit's savepoint keeps the pages it changes so that it can roll back alone; in
    memory (``temp_store``), not in a temporary file once past 64 KiB, a write per page.
    It still rolls back alone."""
    database, _ = scratch
    async with database.transaction() as conn:
        for n in range(200):
            await conn.execute("INSERT INTO item (id) VALUES (:id)", {"id": f"{n:04}" + "x" * 2000})
    with pytest.raises(RuntimeError):
        async with database.transaction() as conn:
            changed = await conn.execute("UPDATE item SET id = 'y' || id")  # every page, ~400 KiB
            assert changed == 200
            assert _temporary_files() == []
            raise RuntimeError("rolled back alone")
    async with database.read() as conn:
        row = await conn.fetch_one("SELECT COUNT(*) AS n FROM item WHERE id LIKE 'y%'")
        assert row is not None and row["n"] == 0


async def test_a_unit_starts_no_async_generator(scratch: tuple[SQLiteDatabase, str]) -> None:
    """Units are plain context managers: an ``asynccontextmanager``'s generator is
    registered with the event loop and forgotten again around every unit."""
    database, path = scratch
    started: list[object] = []
    hooks = sys.get_asyncgen_hooks()

    def firstiter(agen: AsyncGenerator[Any, Any]) -> None:
        started.append(agen)
        if hooks.firstiter is not None:
            hooks.firstiter(agen)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=hooks.finalizer)
    try:
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO item (id) VALUES ('plain')")
        async with database.read() as conn:
            assert await conn.fetch_one("SELECT 1 AS one FROM item WHERE id = 'plain'") is not None
            await conn.begin()
            await conn.execute("INSERT INTO item (id) VALUES ('begun')")
        with pytest.raises(RuntimeError):
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO item (id) VALUES ('failed')")
                raise RuntimeError("rolled back")
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert started == []
    assert [_visible(path, i) for i in ("plain", "begun", "failed")] == [True, True, False]
