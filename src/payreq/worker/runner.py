"""The background worker: webhook deliveries, the expiry sweep, pruning of long-expired
access tokens. Runs inside ``payreq serve`` unless ``--no-worker``, or alone as
``payreq worker``; any number may run at once: every change is a conditional update,
and deliveries are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from datetime import timedelta

import structlog

from payreq import idempotency
from payreq.db import DatabaseUnavailable
from payreq.oauth import repository as oauth_repository
from payreq.services import Services
from payreq.webhook.config import WebhookConfig
from payreq.webhook.delivery import Dispatcher
from payreq.worker import heartbeat

log = structlog.get_logger("payreq.worker")
TOKEN_RETENTION = timedelta(days=1)


class Worker:
    def __init__(
        self,
        services: Services,
        *,
        interval: float | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.services = services
        self.interval = interval if interval is not None else services.settings.worker_interval
        self.dispatcher = dispatcher or Dispatcher(
            services.db, config=WebhookConfig.of(services.settings), clock=services.clock
        )
        self._ticks = 0
        self.worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.started_at = services.clock()

    async def run_once(self) -> int:
        """One pass of the sweep; the number of payments it expired."""
        services = self.services
        async with services.db.transaction() as conn:
            expired = await services.payments.expire_due(conn)
            await heartbeat.beat(
                conn,
                worker_id=self.worker_id,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=self.started_at,
                at=services.clock(),
            )
        self._ticks += 1
        if self._ticks % 60 == 1:  # housekeeping about once a minute
            async with services.db.transaction() as conn:
                await oauth_repository.delete_expired_access_tokens(
                    conn, before=services.clock() - TOKEN_RETENTION
                )
            await self.sweep_idempotency_keys()
        if expired:
            log.info("payments_expired", count=expired)
        return expired

    async def sweep_idempotency_keys(self) -> int:
        """Delete idempotency keys past their 24 hours, a batch per transaction."""
        swept = 0
        while True:
            async with self.services.db.transaction() as conn:
                deleted = await idempotency.sweep(conn, self.services.clock())
            swept += deleted
            if deleted < idempotency.SWEEP_BATCH:
                return swept

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every ``interval`` and deliver webhooks until ``stop`` is set (SIGTERM);
        then let the deliveries in flight finish and record them."""
        log.info("worker_started", interval=self.interval)
        deliveries = asyncio.create_task(self.dispatcher.run(stop))
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except DatabaseUnavailable:
                    log.warning("worker_database_unavailable")
                except Exception:
                    log.exception("worker_pass_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
        finally:
            stop.set()
            try:
                await deliveries
            except Exception:
                log.exception("webhook_worker_failed")
            with contextlib.suppress(Exception):
                async with self.services.db.transaction() as conn:
                    await heartbeat.stopped(conn, self.worker_id, now=self.services.clock())
        log.info("worker_stopped")
