"""``payreq.db.held``: writes held back to the end of a block, for one unit only."""

from __future__ import annotations

import pytest

from payreq.db import Connection, Database
from payreq.db.held import Held


async def test_held_writes_reach_the_end_of_the_block_for_its_unit_only(db: Database) -> None:
    held: Held[list[str]] = Held("test.held")
    written: list[tuple[Connection, list[str]]] = []

    async def write(conn: Connection, value: list[str]) -> None:
        written.append((conn, list(value)))

    async with db.transaction() as conn, held.holding(conn, [], write):
        kept = held.of(conn)
        assert kept == []
        kept.append("a")
        async with db.read() as other:  # another unit of the same task writes at once
            assert held.of(other) is None
        assert written == []
    assert written == [(conn, ["a"])]
    assert held.of(conn) is None  # the block ended: writes go at once again


async def test_a_block_that_raises_writes_nothing_it_held(db: Database) -> None:
    held: Held[list[str]] = Held("test.held")
    written: list[list[str]] = []

    async def write(conn: Connection, value: list[str]) -> None:
        written.append(value)

    with pytest.raises(RuntimeError):
        async with db.transaction() as conn, held.holding(conn, ["a"], write):
            raise RuntimeError("the unit rolls back")
    assert written == []
    assert held.of(conn) is None
