"""What the crash tests share: a database of either engine that a killed server left
behind, read straight from its files or server, and the writes they kill the server
during (creates, cancels, sandbox settlements, statement imports, client tokens),
each with a way to tell whether it committed and what its retry must answer."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from payreq.db.base import sqlite_path
from tests.faults.conftest import create_body, new_reference
from tests.fixtures.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
    require_postgres,
)

# invariants of a database whatever moment the server died at; each query counts what
# must not exist, so every value must be 0
INVARIANTS = {
    "payments_without_created_event": "SELECT COUNT(*) FROM payments p WHERE NOT EXISTS "
    "(SELECT 1 FROM events e WHERE e.payment_id = p.id AND e.type = 'payment.created')",
    "settled_without_its_event": "SELECT COUNT(*) FROM payments p WHERE p.status <> 'pending' AND NOT EXISTS "
    "(SELECT 1 FROM events e WHERE e.payment_id = p.id AND e.type = 'payment.' || p.status)",
    "events_without_their_payments_status": "SELECT COUNT(*) FROM events e JOIN payments p ON p.id = e.payment_id "
    "WHERE e.type <> 'payment.created' AND e.type <> 'payment.' || p.status",
    "events_without_delivery": "SELECT COUNT(*) FROM events e JOIN applications a ON a.id = e.application_id "
    "WHERE a.webhook_url IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)",
    "matched_lines_on_unpaid_payments": "SELECT COUNT(*) FROM statement_lines l JOIN payments p ON "
    "p.id = l.payment_id WHERE l.outcome = 'matched' AND p.status <> 'paid'",
    # each batch commits its lines' report rows with the import's progress, so however
    # far an import got, what it says it did is what its report lists
    "imports_whose_progress_is_not_their_report": "SELECT COUNT(*) FROM statement_imports i "
    "WHERE i.lines_done <> (SELECT COUNT(*) FROM statement_report_lines r WHERE r.import_id = i.id)",
    "finished_imports_with_lines_left": "SELECT COUNT(*) FROM statement_imports "
    "WHERE status = 'finished' AND lines_done <> line_count",
    "single_unit_keys_without_answer": "SELECT COUNT(*) FROM idempotency_keys WHERE status IS NULL "
    "AND path NOT LIKE '/api/statements%'",
}


@dataclass
class Store:
    """The database under test, read from outside the server."""

    url: str

    async def scalar(self, sql: str, *args: Any) -> Any:
        if self.url.startswith("sqlite:"):
            return await asyncio.to_thread(self._sqlite_scalar, sql, args)
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(sql.replace("?", "$1"), *args)
        finally:
            await conn.close()

    def _sqlite_scalar(self, sql: str, args: tuple[Any, ...]) -> Any:
        with sqlite3.connect(sqlite_path(self.url), timeout=10) as conn:
            return conn.execute(sql, args).fetchone()[0]

    async def broken_invariants(self) -> dict[str, int]:
        found = {name: int(await self.scalar(sql)) for name, sql in INVARIANTS.items()}
        if self.url.startswith("sqlite:"):
            check = await self.scalar("PRAGMA integrity_check")
            found["integrity_check_not_ok"] = 0 if check == "ok" else 1
        return {name: n for name, n in found.items() if n}


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty database of each engine (PostgreSQL: a fresh database on the machine's
    server, which these tests never stop; see test_postgres_restart.py for that)."""
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'crash.db'}")
        return
    await require_postgres()
    name = await create_postgres_database()
    try:
        yield Store(postgres_url(name))
    finally:
        await drop_postgres_database(name)


STATEMENT_LINE = "CR-{n},12.34,EUR,{reference}\n"


@dataclass
class Write:
    """One keyed write and how to judge it after a crash."""

    kind: str
    method: str
    path: str
    key: str
    ok: int
    """The status its success answers (SPEC: 201 for what it creates, 200 otherwise)."""
    json: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    marker: str = ""  # what identifies its effect: a reference, a payment id, a label

    async def send(self, client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response | None:
        try:
            return await client.request(
                self.method,
                self.path,
                json=self.json,
                content=self.content,
                headers={**auth, **(self.headers or {}), "Idempotency-Key": self.key},
            )
        except httpx.HTTPError:
            return None

    async def committed(self, store: Store) -> bool:
        """Whether its change is in the database (read from outside the server)."""
        if self.kind == "create":
            n = await store.scalar("SELECT COUNT(*) FROM payments WHERE reference_id = ?", self.marker)
            assert n in (0, 1), f"{n} payments carry {self.marker}"
            return bool(n)
        if self.kind in ("cancel", "simulate"):
            status = await store.scalar("SELECT status FROM payments WHERE reference_id = ?", self.marker)
            return bool(status != "pending")
        if self.kind == "token":
            n = await store.scalar("SELECT COUNT(*) FROM client_tokens WHERE label = ?", self.marker)
            assert n in (0, 1), f"{n} client tokens are labelled {self.marker}"
            return bool(n)
        n = await store.scalar("SELECT COUNT(*) FROM statement_imports WHERE filename = ?", self.marker)
        assert n in (0, 1), f"{n} imports are named {self.marker}"
        # whole: finished, with one report row per line it applied, and every line applied
        return bool(n) and bool(
            await store.scalar(
                "SELECT COUNT(*) FROM statement_imports i WHERE i.filename = ? AND i.status = 'finished' "
                "AND i.lines_done = i.line_count AND i.lines_done = "
                "(SELECT COUNT(*) FROM statement_report_lines r WHERE r.import_id = i.id)",
                self.marker,
            )
        )


def create(round_: int, i: int) -> Write:
    reference = new_reference()
    return Write(
        "create",
        "POST",
        "/payment/request",
        f"c-{round_}-{i}-{uuid.uuid4().hex[:8]}",
        201,
        json=create_body(reference),
        marker=reference,
    )


def cancel(payment: dict[str, Any]) -> Write:
    return Write(
        "cancel",
        "POST",
        f"/payment/request/{payment['id']}/cancel",
        f"x-{uuid.uuid4().hex}",
        200,
        marker=payment["reference_id"],
    )


def simulate(payment: dict[str, Any]) -> Write:
    return Write(
        "simulate",
        "POST",
        f"/api/sandbox/payment/{payment['id']}/simulate",
        f"s-{uuid.uuid4().hex}",
        200,
        json={"outcome": "paid"},
        marker=payment["reference_id"],
    )


def token(application_client_id: str) -> Write:
    label = f"crash-token-{uuid.uuid4().hex[:10]}"
    return Write(
        "token",
        "POST",
        f"/api/payment-applications/{application_client_id}/tokens",
        f"t-{uuid.uuid4().hex}",
        201,
        json={"label": label, "scopes": ["payments.get"]},
        marker=label,
    )


def statement_import(lines: int) -> Write:
    name = f"crash-{uuid.uuid4().hex[:10]}.csv"
    rows = "".join(STATEMENT_LINE.format(n=f"{name}-{n}", reference=f"nothing-{n}") for n in range(lines))
    return Write(
        "import",
        "POST",
        f"/api/statements?filename={name}",
        f"i-{uuid.uuid4().hex}",
        201,
        content=("id,amount,currency,reference\n" + rows).encode(),
        headers={"Content-Type": "text/csv"},
        marker=name,
    )


async def verify_acknowledged(
    client: httpx.AsyncClient, auth: dict[str, str], write: Write, answer: dict[str, Any]
) -> None:
    """An acknowledged write is in the database as its answer said, and its key replays it
    (a client token's key answers 409: its secret was never stored)."""
    if write.kind == "create":
        read = await client.get(f"/payment/request/{answer['id']}", headers=auth)
        assert read.json() == answer, write
    elif write.kind in ("cancel", "simulate"):
        path = f"/payment/request/{answer['id']}"
        assert (await client.get(path, headers=auth)).json()["status"] == (
            "cancelled" if write.kind == "cancel" else "paid"
        )
    elif write.kind == "import":
        read = await client.get(f"/api/statements/{answer['id']}", headers=auth)
        assert read.status_code == 200 and read.json() == answer, read.text
    else:
        listed = await client.get(write.path, headers=auth)
        assert answer["id"] in [t["id"] for t in listed.json()["data"]], write
    replay = await write.send(client, auth)
    assert replay is not None
    if write.kind == "token":
        assert (replay.status_code, replay.json()["error"]["code"]) == (409, "idempotency_key_used"), (
            replay.text
        )
        return
    assert replay.status_code == write.ok and replay.headers.get("idempotent-replayed") == "true", replay.text
    assert replay.json() == answer


async def retry_unanswered(
    client: httpx.AsyncClient, auth: dict[str, str], store: Store, write: Write
) -> bool:
    """Retry a write whose answer was lost: if it had committed its key replays it (or,
    for a secret, answers 409 without running again); if not it runs now. Whether it
    had committed."""
    had = await write.committed(store)
    retry = await write.send(client, auth)
    assert retry is not None
    if write.kind == "import" and not had and retry.status_code == 409:
        # killed between its units: the claim committed, the answer never did; the key
        # is never run again ("interrupted"), and the unfinished import is not shown
        assert "interrupted" in retry.json()["error"]["message"], retry.text
        return False
    if had and write.kind == "token":
        assert (retry.status_code, retry.json()["error"]["code"]) == (409, "idempotency_key_used"), retry.text
        return True
    assert retry.status_code == write.ok, (write, retry.text)
    assert (retry.headers.get("idempotent-replayed") == "true") == had, (write, had, retry.headers)
    assert await write.committed(store)
    return had
