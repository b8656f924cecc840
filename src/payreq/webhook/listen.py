"""``payreq listen``: an account's events, forwarded to a URL on the developer's machine
as the worker would deliver them (signed with the application's webhook secret, same
headers and body), in the manner of ``stripe listen``.

It reads the events table of the configured database (``PAYREQ_DATABASE_URL``), so it
runs where that database is reachable; it changes nothing there, and the real
deliveries go on as before. Forwarding is once per event, without retries: the
answer is printed, and ``POST /api/events/{id}/redeliver`` or a restart with
``--since`` sends again. The forward URL is the developer's own choice, so it is not
held to the webhook URL policy (it is usually ``http://localhost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import httpx

from payreq.db import Database, Row
from payreq.kit.clock import Clock, rfc3339, utc_now
from payreq.webhook import repository, signing

OVERLAP = timedelta(seconds=10)
"""Events are read again this far back, so that one whose transaction committed after a
later one was read is not missed (each is forwarded once: ids already seen are skipped)."""
BATCH = 500


class ListenError(Exception):
    """What to tell the developer instead of listening."""


@dataclass
class Forwarded:
    event_id: str
    type: str
    status_code: int | None
    latency_ms: int
    error: str | None

    def line(self) -> str:
        answer = str(self.status_code) if self.status_code is not None else f"failed: {self.error}"
        return f"{rfc3339(utc_now())}  {self.type:<18} {self.event_id}  -> {answer} ({self.latency_ms} ms)"


@dataclass
class Listener:
    db: Database
    forward_to: str
    client_id: str | None = None
    account_id: UUID | None = None
    environment: str = "sandbox"
    types: frozenset[str] = frozenset()
    since: datetime | None = None
    interval: float = 0.25
    timeout: float = 10.0
    clock: Clock = utc_now
    printer: Callable[[str], None] = print
    _seen: dict[UUID, datetime] = field(default_factory=dict)

    async def scope(self) -> list[Row]:
        async with self.db.read() as conn:
            apps = await repository.listened_applications(
                conn, client_id=self.client_id, account_id=self.account_id, environment=self.environment
            )
        if not apps:
            raise ListenError(
                f"no application with Client ID {self.client_id}"
                if self.client_id
                else f"no {self.environment} application in account {self.account_id}"
            )
        return apps

    async def run(self, stop: asyncio.Event, ready: Callable[[list[Row]], None] | None = None) -> None:
        apps = await self.scope()
        account_id, environment = apps[0]["account_id"], apps[0]["environment"]
        start = cursor = self.since or self.clock()
        if ready is not None:
            ready(apps)
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            while not stop.is_set():
                async with self.db.read() as conn:
                    rows = await repository.events_since(
                        conn,
                        account_id=account_id,
                        environment=environment,
                        since=max(cursor - OVERLAP, start),
                        limit=BATCH,
                    )
                    listened = {  # read each time: secrets rotate, applications come
                        app["id"]: app
                        for app in await repository.listened_applications(
                            conn, client_id=self.client_id, account_id=account_id, environment=environment
                        )
                    }
                fresh = [r for r in rows if r["id"] not in self._seen]
                for row in fresh:
                    self._seen[row["id"]] = row["created_at"]
                    cursor = max(cursor, row["created_at"])
                    app = listened.get(row["application_id"])
                    if app is not None and (not self.types or row["type"] in self.types):
                        self.printer((await self._forward(client, row, app)).line())
                self._forget(cursor)
                if len(rows) < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.interval)

    def _forget(self, cursor: datetime) -> None:
        horizon = cursor - 2 * OVERLAP
        for event_id in [k for k, at in self._seen.items() if at < horizon]:
            del self._seen[event_id]

    async def _forward(self, client: httpx.AsyncClient, row: Row, app: Row) -> Forwarded:
        now = self.clock()
        payload = signing.body(row["type"], row["created_at"], row["data"])
        secrets = signing.signing_secrets(
            app["webhook_secret"],
            app["previous_webhook_secret"],
            app["previous_webhook_secret_expires_at"],
            now=now,
            older=app["older_webhook_secrets"],
        )
        headers = signing.headers(str(row["id"]), now, payload, secrets)
        started = time.perf_counter()
        try:
            response = await client.post(self.forward_to, content=payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            latency = round((time.perf_counter() - started) * 1000)
            return Forwarded(str(row["id"]), row["type"], None, latency, str(exc) or type(exc).__name__)
        latency = round((time.perf_counter() - started) * 1000)
        return Forwarded(str(row["id"]), row["type"], response.status_code, latency, None)
