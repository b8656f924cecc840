"""The background worker: webhook deliveries, the expiry sweep, pruning of long-expired
access tokens and idempotency keys, and retention (``PAYREQ_RETENTION_*``: attempts'
answer bodies, events, statement lines), each in small batches, one transaction each. Runs inside ``payreq serve`` unless ``--no-worker``, or alone as
``payreq worker``; any number may run at once: every change is a conditional update,
and deliveries are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from payreq import idempotency
from payreq.db import Connection, DatabaseUnavailable
from payreq.method import repository as method_repository
from payreq.method.statements.importer import STALE_AFTER
from payreq.oauth import repository as oauth_repository
from payreq.services import Services
from payreq.webhook import repository as webhook_repository
from payreq.webhook.config import WebhookConfig
from payreq.webhook.delivery import Dispatcher
from payreq.worker import heartbeat

log = structlog.get_logger("payreq.worker")
TOKEN_RETENTION = timedelta(days=1)
RETENTION_BATCH = 500
"""Rows per transaction: short enough never to hold SQLite's write lock for long."""
RETENTION_BATCHES = 20
"""Batches per table per housekeeping pass (about a minute apart): a backlog drains over
several passes instead of one long one."""

EXPIRY_BATCH = 500
"""Payments per expiry transaction. A full batch means more are overdue: the worker
goes on with the next at once instead of after its interval, so that a backlog
(100,000 payments after an outage) drains in seconds, one short transaction each (on
PostgreSQL one statement, 30-80 ms; batches of 1,000 measured no faster, bench/expiry.py)."""

EXPIRY_PARALLEL = 2
"""Batches of a backlog swept at once on PostgreSQL, each in its own transaction: the
database does nearly all of a batch's work, in one backend per connection, so two use
two of its cores (SQLite has one writer: one batch at a time there)."""

Sweep = Callable[[Connection, datetime, int], Awaitable[int]]


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
        self._width = 1
        """Batches the next pass sweeps at once: ``EXPIRY_PARALLEL`` while a backlog lasts."""
        self.worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.started_at = services.clock()

    async def run_once(self) -> int:
        """One pass of the sweep; the number of payments it expired. A pass that found a
        full batch is followed, on PostgreSQL, by passes of ``EXPIRY_PARALLEL`` batches
        at once until the backlog is gone."""
        services = self.services
        width = self._width
        if width == 1:
            expired = await self._expire_batch(beat=True)
        else:
            try:
                async with asyncio.TaskGroup() as group:  # a failure cancels the others (rolled back)
                    batches = [group.create_task(self._expire_batch(beat=i == 0)) for i in range(width)]
            except BaseExceptionGroup as failed:  # as one batch fails: DatabaseUnavailable stays one
                raise failed.exceptions[0] from None
            expired = sum(batch.result() for batch in batches)
        backlog = expired >= EXPIRY_BATCH * width
        self._width = EXPIRY_PARALLEL if backlog and services.db.dialect == "postgresql" else 1
        self._ticks += 1
        if self._ticks % 60 == 1:  # housekeeping about once a minute
            async with services.db.transaction() as conn:
                await oauth_repository.delete_expired_access_tokens(
                    conn, before=services.clock() - TOKEN_RETENTION
                )
                await services.sessions.sweep(conn)  # ended dashboard sessions, old sign-in attempts
                await services.users.sweep_pending_signups(conn)  # sign-up links a day past expiry
                now = services.clock()
                interrupted = await method_repository.interrupt_stale_imports(
                    conn, before=now - STALE_AFTER, now=now
                )
            if interrupted:
                log.warning("statement_imports_interrupted", count=interrupted)
            await self.sweep_idempotency_keys()
            await self.sweep_retention()
        if expired:
            log.info("payments_expired", count=expired)
        return expired

    async def _expire_batch(self, *, beat: bool) -> int:
        """One batch of the sweep in its transaction, with the worker's heartbeat if
        ``beat`` (one per pass: batches side by side would queue on its row)."""
        services = self.services
        async with services.db.transaction() as conn:
            expired = await services.payments.expire_due(conn, limit=EXPIRY_BATCH)
            if beat:
                await heartbeat.beat(
                    conn,
                    worker_id=self.worker_id,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=self.started_at,
                    at=services.clock(),
                )
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

    async def sweep_retention(self) -> dict[str, int]:
        """Apply the retention settings: how many rows each sweep touched."""
        settings, now = self.services.settings, self.services.clock()
        sweeps: dict[str, tuple[int, Sweep]] = {
            "attempt_bodies": (
                settings.retention_attempt_body_days,
                lambda c, b, n: webhook_repository.forget_attempt_bodies(c, before=b, limit=n),
            ),
            "events": (
                settings.retention_event_days,
                lambda c, b, n: webhook_repository.delete_events_before(c, before=b, limit=n),
            ),
            "statement_lines": (
                settings.retention_statement_line_days,
                lambda c, b, n: method_repository.delete_statement_lines_before(c, before=b, limit=n),
            ),
        }
        done: dict[str, int] = {}
        for name, (days, sweep) in sweeps.items():
            if days <= 0:
                continue
            done[name] = 0
            for _ in range(RETENTION_BATCHES):
                async with self.services.db.transaction() as conn:
                    count = await sweep(conn, now - timedelta(days=days), RETENTION_BATCH)
                done[name] += count
                if count < RETENTION_BATCH:
                    break
        if any(done.values()):
            log.info("retention_swept", **done)
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every ``interval`` and deliver webhooks until ``stop`` is set (SIGTERM);
        then let the deliveries in flight finish and record them."""
        log.info("worker_started", interval=self.interval)
        deliveries = asyncio.create_task(self.dispatcher.run(stop))
        try:
            while not stop.is_set():
                expired = 0
                try:
                    expired = await self.run_once()
                except DatabaseUnavailable:
                    log.warning("worker_database_unavailable")
                except Exception:
                    log.exception("worker_pass_failed")
                if expired >= EXPIRY_BATCH:
                    await asyncio.sleep(0)  # a backlog: the next pass now, after whatever else is ready
                    continue
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
