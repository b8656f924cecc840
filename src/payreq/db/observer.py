"""Unit observers: how a request's idempotency key joins the request's own write transaction.

The middleware cannot see inside a handler, but every write in payreq happens in a
unit of work (``db.transaction()``, or ``read()`` followed by ``begin()``). While a
request that carries an ``Idempotency-Key`` runs, the middleware puts an observer in
``current``; the SQLite and PostgreSQL units call it:

- ``began(conn)`` right after a write transaction begins: the first time, the key is
  claimed in that same transaction (or the stored answer is replayed, or the key is
  found in use or reused with another body: the observer raises, and the unit rolls
  back before the handler changed anything);
- ``keeps(conn)`` when that unit ends without error: the unit is not committed but
  handed over (``hand_over``) with a ``finish(commit)`` callable, so that the
  middleware writes the answer into the same transaction and commits the change, the
  key and the answer at once. A crash anywhere loses all three or none;
- ``rolled_back()`` when a unit that began rolls back (the claim went with it);
- ``flush()`` before any new unit in the same request: a unit still handed over is
  committed first (without the answer, which is then written on its own), so a
  handler with two units never waits on itself;
- ``last_write(conn)`` when a handler with several units (a statement import) says
  that this unit is its last write: it is handed over too, so that the answer is
  written into it and a crash cannot leave the whole change saved without its answer.

It is a mechanism of the database layer (imports nothing else from payreq), so the
units depend on nothing above them; idempotency is today its only user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol

Finish = Callable[[bool], Awaitable[None]]


class UnitObserver(Protocol):
    async def flush(self) -> None: ...

    async def began(self, conn: Any) -> None: ...

    def keeps(self, conn: Any) -> bool: ...

    def hand_over(self, conn: Any, finish: Finish) -> None: ...

    def rolled_back(self) -> None: ...

    def last_write(self, conn: Any) -> None: ...


def last_write(conn: Any) -> None:
    """Inside a write unit: this is the request's last write, so the request's answer
    (if it carries an ``Idempotency-Key``) is committed with it. Nothing may open a unit
    after it in the same request: that would commit it without the answer."""
    observer = current.get()
    if observer is not None:
        observer.last_write(conn)


current: ContextVar[UnitObserver | None] = ContextVar("payreq_idempotency_observer", default=None)
