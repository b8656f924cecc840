"""Writes a unit of work holds back to its end, so that it takes their locks once.

A unit that changes many payments (a statement import's batch) would otherwise take
rows shared by the whole tenant (its rollup rows, its audit chain's head) one payment
at a time, between taking the payments' own rows. Two such units, or one of them and a
single payment's change, then hold some of those rows each and wait for each other's:
on PostgreSQL a deadlock, which ends one of them (503). Held back, the shared rows are
taken at the unit's end, after every payment row it changes, in the order a single
change takes them (its payment, then the rollups in key order, then the chain's head).

``Held(name)`` is one kind of held write (the rollups' sums, the audit entries). Its
``holding(conn, value, write)`` marks ``conn``'s unit as holding them in ``value``
until the block ends, and calls ``write(conn, value)`` then, unless the block raised
(the unit then rolls back anyway). Writers ask ``held.of(conn)``: the value to add to,
or None to write at once. The mark is the task's (a context variable) and names the
connection, so that another unit the same task opens meanwhile writes at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from payreq.db.base import Connection

T = TypeVar("T")


class Held(Generic[T]):
    def __init__(self, name: str) -> None:
        self._current: ContextVar[tuple[Connection, T] | None] = ContextVar(name, default=None)

    def of(self, conn: Connection) -> T | None:
        """What ``conn``'s unit holds back of this kind, or None (write at once)."""
        held = self._current.get()
        return held[1] if held is not None and held[0] is conn else None

    @asynccontextmanager
    async def holding(
        self, conn: Connection, value: T, write: Callable[[Connection, T], Awaitable[None]]
    ) -> AsyncIterator[None]:
        token = self._current.set((conn, value))
        try:
            yield
        finally:
            self._current.reset(token)
        await write(conn, value)
