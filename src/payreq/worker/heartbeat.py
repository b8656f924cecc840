"""Worker heartbeats: each worker writes its row on every pass; ``/readyz`` and
``/metrics`` read the newest one, whichever process the worker runs in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from payreq.db import Connection

FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Beats:
    workers: int
    """Workers that reported in the last ``recent`` seconds."""
    age: float | None
    """Seconds since the newest heartbeat; None if no worker ever reported."""


async def beat(
    conn: Connection, *, worker_id: str, host: str, pid: int, started_at: datetime, at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)
        VALUES (:id, :host, :pid, :started_at, :at)
        ON CONFLICT (worker_id) DO UPDATE SET beat_at = excluded.beat_at
        """,
        {"id": worker_id, "host": host, "pid": pid, "started_at": started_at, "at": at},
    )


async def stopped(conn: Connection, worker_id: str, *, now: datetime) -> None:
    """A worker that stops cleanly takes its row with it; long-dead ones are forgotten."""
    await conn.execute(
        "DELETE FROM worker_heartbeats WHERE worker_id = :id OR beat_at < :before",
        {"id": worker_id, "before": now - FORGET_AFTER},
    )


async def latest(conn: Connection, *, now: datetime, recent: float) -> Beats:
    newest = await conn.fetch_one("SELECT max(beat_at) AS at FROM worker_heartbeats")
    live = await conn.fetch_one(
        "SELECT count(*) AS n FROM worker_heartbeats WHERE beat_at >= :since",
        {"since": now - timedelta(seconds=recent)},
    )
    at = newest["at"] if newest is not None else None
    if isinstance(at, str):  # SQLite's max() loses the column's declared type
        at = datetime.fromisoformat(at)
    return Beats(
        workers=int(live["n"]) if live is not None else 0,
        # a beat "in the future" is a worker whose clock runs ahead of ours: just now
        age=max(0.0, (now - at).total_seconds()) if at is not None else None,
    )
