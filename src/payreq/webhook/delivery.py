"""The delivery worker: claim due deliveries, send them concurrently, record every
attempt, schedule the next one.

    claim (a lease: one short write transaction; on PostgreSQL one statement)
      -> sign and send, at most ``concurrency`` at once, outside any transaction
      -> results written in batches (one unit per batch; on PostgreSQL a batch of
         successes is one statement, a failure in it makes the unit a transaction)

A disabled account's deliveries (``payreq admin disable-account``) are not claimed at
all: they wait, due and unattempted, and go out once the account is enabled. A closed
account's are given up.

At-least-once: a worker that dies between its claim and its write leaves leases that
expire (``PAYREQ_WEBHOOK_LEASE``), and another worker sends those deliveries again,
with the same ``webhook-id``. A worker that loses its lease records its attempt but
changes nothing else (every write names the claim token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from payreq import metrics
from payreq.db import Connection, Database, DatabaseUnavailable, Row
from payreq.kit.clock import Clock, utc_now
from payreq.kit.ids import new_ordered_uuid
from payreq.webhook import repository, signing
from payreq.webhook.config import MAX_RETRY_AFTER, WebhookConfig
from payreq.webhook.outbox import doorbell
from payreq.webhook.outcome import Outcome

if TYPE_CHECKING:
    from payreq.webhook.sender import Sender

log = structlog.get_logger("payreq.webhook")

DISABLED_AFTER_FAILURES = "every attempt failed for the configured period (three days by default)"
DISABLED_BY_410 = "the endpoint answered 410 Gone"


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows an attempt."""

    status: str  # pending, delivered or failed
    step: int
    next_attempt_at: datetime | None
    disable: str | None = None


def decide(
    outcome: Outcome, *, step: int, at: datetime, config: WebhookConfig, rand: Callable[[], float]
) -> Decision:
    """The retry policy: 2xx is delivered; 410 fails and disables the endpoint; anything
    else waits for the next delay of the schedule (with jitter; longer if a 429 or 503
    asked so with ``Retry-After``), and fails once the schedule is spent."""
    step += 1
    if outcome.succeeded:
        return Decision("delivered", step, None)
    if outcome.status_code == 410:
        return Decision("failed", step, None, disable=DISABLED_BY_410)
    if step >= len(config.schedule):
        return Decision("failed", step, None)
    delay = config.schedule[step] * (1 + config.jitter * (2 * rand() - 1))
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
    return Decision("pending", step, at + timedelta(seconds=delay))


@dataclass(slots=True)
class Result:
    row: Row
    attempted_at: datetime
    url: str | None
    outcome: Outcome | None
    """None: given up without an attempt (``reason``)."""
    reason: str | None = None
    headers: dict[str, str] | None = None
    """The request's headers as sent (the body is the event's, rebuilt from it)."""


@dataclass(slots=True)
class _Batch:
    """What one transaction of results has written, or left to write, so far."""

    attempts: list[dict[str, object]] = field(default_factory=list)
    """Attempt rows, inserted together at the end."""
    finished: list[repository.Finished] = field(default_factory=list)
    """The deliveries' outcomes, written together at the end (``_end``)."""
    succeeded: set[uuid.UUID] = field(default_factory=set)
    """Applications with a success and no failure since, whose failing streak is not
    yet ended in the database (``_end`` ends it; a failure first)."""


_OUTCOMES = {"delivered": "delivered", "failed_attempts": "failed", "given_up": "given_up"}


@dataclass
class Stats:
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    lost_leases: int = 0
    endpoints_disabled: int = 0


@dataclass
class Dispatcher:
    db: Database
    config: WebhookConfig = field(default_factory=WebhookConfig)
    clock: Clock = utc_now
    sender: Sender | None = None
    rand: Callable[[], float] = random.random
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._own_sender = self.sender is None
        if self.sender is None:
            from payreq.webhook.sender import Sender  # aiohttp, loaded for the first delivery

            self._sender: Sender = Sender(self.config)
        else:
            self._sender = self.sender
        self._inflight: set[asyncio.Task[None]] = set()
        self._results: list[Result] = []
        self._nudge = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._backlog = False

    # -- the loop ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish what is in flight (at most one
        time-out), write its results, and release what was claimed but not sent."""
        doorbell.listen(self._nudge)
        stopper = asyncio.create_task(stop.wait())
        stopper.add_done_callback(lambda _: self._nudge.set())
        writer = asyncio.create_task(self._write_results(stop))
        try:
            while not stop.is_set():
                self._nudge.clear()
                await self._claim_and_send()
                if stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudge.wait(), timeout=self.config.poll_interval)
        finally:
            doorbell.forget(self._nudge)
            stopper.cancel()
            await self._drain()
            self._results_ready.set()
            await writer
            await self._flush()
            if self._own_sender:
                await self._sender.aclose()
            log.info("webhook_worker_stopped", **vars(self.stats))

    async def _claim_and_send(self) -> None:
        free = self.config.concurrency - len(self._inflight)
        if free <= 0:
            return
        try:
            rows = await self._claim(free)
        except DatabaseUnavailable:
            log.warning("webhook_claim_database_unavailable")
            return
        except Exception:
            log.exception("webhook_claim_failed")
            return
        self._backlog = len(rows) == free
        for row in rows:
            task = asyncio.create_task(self._deliver(row))
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook_delivery_crashed", exc_info=task.exception())
        if self._backlog and len(self._inflight) <= self.config.concurrency // 2:
            self._nudge.set()

    async def _claim(self, limit: int) -> Sequence[Row]:
        now = self.clock()
        until, token = now + timedelta(seconds=self.config.lease), uuid.uuid4()
        if self.db.dialect == "postgresql":
            # one statement, its own transaction: one round trip, whether or not any is due
            async with self.db.single() as conn:
                return await repository.claim(conn, now=now, until=until, token=token, limit=limit)
        async with self.db.read() as conn:  # a look first: SQLite has one writer at a time
            if not await repository.any_due(conn, now=now):
                return []
        async with self.db.transaction() as conn:
            return await repository.claim(conn, now=now, until=until, token=token, limit=limit)

    async def _drain(self) -> None:
        if not self._inflight:
            return
        _, pending = await asyncio.wait(self._inflight, timeout=self.config.timeout + 1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- one delivery -----------------------------------------------------------

    async def _deliver(self, row: Row) -> None:
        now = self.clock()
        url: str | None = row["webhook_url"]
        if url is None or row["archived_at"] is not None:
            self._result(Result(row, now, url, None, "the application has no webhook URL"))
            return
        if row["account_closed_at"] is not None:
            self._result(Result(row, now, url, None, "the account is closed"))
            return
        if row["account_disabled_at"] is not None:
            # never claimed while disabled (the claim skips them); should one slip through,
            # it is left as it is: no attempt, and due again when the lease ends, once enabled
            return
        if row["webhook_disabled_at"] is not None:
            self._result(Result(row, now, url, None, "the webhook endpoint is disabled"))
            return
        headers: dict[str, str] = {}
        try:
            payload = signing.body(row["type"], row["created_at"], row["data"])
            secrets = signing.signing_secrets(
                row["webhook_secret"],
                row["previous_webhook_secret"],
                row["previous_webhook_secret_expires_at"],
                now=now,
                older=row["older_webhook_secrets"],
            )
            headers = signing.headers(str(row["event_id"]), now, payload, secrets)
            outcome = await self._sender.send(url, payload, headers)
        except Exception as exc:  # whatever fails, the attempt is recorded and follows the schedule
            # the operator's log gets the message; the merchant's attempt only its kind, as
            # an unforeseen error's text may quote what the receiver sent
            log.warning(
                "webhook_send_failed",
                delivery_id=str(row["id"]),
                error=type(exc).__name__,
                detail=str(exc)[:500],
            )
            outcome = Outcome(None, 0, None, f"could not send: {type(exc).__name__}")
        self._result(Result(row, now, url, outcome, headers=headers))

    def _result(self, result: Result) -> None:
        if result.outcome is not None and not result.row["attempts"]:  # the first attempt
            metrics.webhook_lag.observe(max(0.0, (self.clock() - result.row["created_at"]).total_seconds()))
        self._results.append(result)
        self._results_ready.set()

    # -- writing results --------------------------------------------------------

    async def _write_results(self, stop: asyncio.Event) -> None:
        """Write results as they come, many per transaction when they come fast."""
        while not (stop.is_set() and not self._inflight):
            await self._results_ready.wait()
            self._results_ready.clear()
            try:
                await self._flush()
            except DatabaseUnavailable:
                log.warning("webhook_results_database_unavailable", pending=len(self._results))
                await asyncio.sleep(self.config.poll_interval)
                self._results_ready.set()
            except Exception:
                log.exception("webhook_results_failed")
                await self._flush_singly()

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        counted: list[str] = []
        try:
            async with self.db.single() as conn:  # a batch of successes: finish_batch's one statement
                written = _Batch()
                for result in batch:
                    counted += await self._write(conn, result, written)
                counted += await self._end(conn, written)
        except BaseException:
            self._results = batch + self._results
            raise
        self._count(counted)

    async def _flush_singly(self) -> None:
        """After a batch failed: each result in its own transaction; one that still fails
        is dropped (logged), and its delivery comes back when the lease runs out."""
        batch, self._results = self._results, []
        for index, result in enumerate(batch):
            try:
                async with self.db.single() as conn:
                    written = _Batch()
                    counted = await self._write(conn, result, written)
                    counted += await self._end(conn, written)
            except DatabaseUnavailable:
                self._results = batch[index:] + self._results
                self._results_ready.set()
                await asyncio.sleep(self.config.poll_interval)
                return
            except Exception:
                log.exception("webhook_result_dropped", delivery_id=str(result.row["id"]))
            else:
                self._count(counted)

    def _count(self, counted: list[str]) -> None:
        for name in counted:
            setattr(self.stats, name, getattr(self.stats, name) + 1)
            outcome = _OUTCOMES.get(name)
            if outcome is not None:
                metrics.webhook_attempts.labels(outcome).inc()

    @staticmethod
    async def _end(conn: Connection, written: _Batch) -> list[str]:
        """Write what ``_write`` left for the end of the unit: the deliveries' outcomes
        (a lease lost meanwhile changes nothing and is counted), the attempts, and the
        failing streaks that successes ended."""
        kept = await repository.finish_batch(conn, written.finished, written.attempts, written.succeeded)
        return ["lost_leases" for one in written.finished if one.id not in kept]

    async def _write(self, conn: Connection, result: Result, written: _Batch) -> list[str]:
        """Record one result (its attempt row and its outcome are added to ``written``,
        for ``_end`` to write with the batch's); the names of the ``Stats`` it adds to
        once committed."""
        row, at = result.row, self.clock()
        if result.outcome is None:
            await conn.begin()
            given_up = await repository.give_up(
                conn, id=row["id"], token=row["claim_token"], reason=result.reason or "", at=at
            )
            return ["given_up"] if given_up else []
        outcome = result.outcome
        decision = decide(outcome, step=row["step"], at=at, config=self.config, rand=self.rand)
        written.attempts.append(
            {
                "id": new_ordered_uuid(),
                "delivery_id": row["id"],
                "event_id": row["event_id"],
                "attempted_at": result.attempted_at,
                "url": result.url or "",
                "request_headers": None if result.headers is None else json.dumps(result.headers),
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "response_body": outcome.body,
                "error": outcome.error,
                "succeeded": outcome.succeeded,
            }
        )
        written.finished.append(
            repository.Finished(
                id=row["id"],
                token=row["claim_token"],
                status=decision.status,
                step=decision.step,
                next_attempt_at=decision.next_attempt_at,
                at=at,
                status_code=outcome.status_code,
                error=outcome.error,
            )
        )
        application = row["application_id"]
        if outcome.succeeded:
            written.succeeded.add(application)  # its failing streak ends in _end
            return ["delivered"]
        await conn.begin()
        if application in written.succeeded:  # a success before this failure ends the streak first
            await repository.endpoint_succeeded(conn, application)
            written.succeeded.discard(application)
        counted = ["failed_attempts"]
        if decision.disable is not None:
            disabled = await repository.disable_endpoint(
                conn, row["application_id"], at=at, reason=decision.disable
            )
        else:
            disabled = await repository.endpoint_failed(
                conn,
                row["application_id"],
                at=at,
                disable_before=at - timedelta(seconds=self.config.disable_after),
                reason=DISABLED_AFTER_FAILURES,
            )
        if disabled:
            counted.append("endpoints_disabled")
            log.warning("webhook_endpoint_disabled", application_id=str(row["application_id"]))
        return counted
