"""The background loop: claim due work, do it, commit. Today: the expiry sweep and
pruning of long-expired access tokens. Runs inside ``payreq serve`` unless
``--no-worker``, or alone as ``payreq worker``; any number may run at once, since
every change is a conditional update."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from payreq.db import DatabaseUnavailable
from payreq.oauth import repository as oauth_repository
from payreq.services import Services

log = structlog.get_logger("payreq.worker")
TOKEN_RETENTION = timedelta(days=1)


class Worker:
    def __init__(self, services: Services, *, interval: float | None = None) -> None:
        self.services = services
        self.interval = interval if interval is not None else services.settings.worker_interval
        self._ticks = 0

    async def run_once(self) -> int:
        """One pass; the number of payments it expired."""
        services = self.services
        async with services.db.transaction() as conn:
            expired = await services.payments.expire_due(conn)
        self._ticks += 1
        if self._ticks % 600 == 1:
            async with services.db.transaction() as conn:
                await oauth_repository.delete_expired_access_tokens(
                    conn, before=services.clock() - TOKEN_RETENTION
                )
        if expired:
            log.info("payments_expired", count=expired)
        return expired

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker_started", interval=self.interval)
        while not stop.is_set():
            try:
                await self.run_once()
            except DatabaseUnavailable:
                log.warning("worker_database_unavailable")
            except Exception:
                log.exception("worker_pass_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
        log.info("worker_stopped")
