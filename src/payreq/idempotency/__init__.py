"""Idempotency keys: ``Idempotency-Key`` on every POST and PATCH of the API, replayed
for 24 hours (``middleware``), stored beside the change it protects (``hook``,
``store``), and swept by the worker once expired (``sweep``).

This package's ``__init__`` stays import-light: the database modules import ``hook``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payreq.db import Connection


SWEEP_BATCH = 1000


async def sweep(conn: Connection, now: datetime) -> int:
    """The worker's pass: delete keys whose 24 hours have passed (up to 1000 a call);
    how many went. Call it again while it returns 1000."""
    from payreq.idempotency import repository

    return await repository.sweep(conn, now, limit=SWEEP_BATCH)
