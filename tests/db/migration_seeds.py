"""Rows for every Alembic revision, written right after upgrading to it, so that the
migration test upgrades (and downgrades) a database that holds data from every
earlier revision, as a deployed one does.

Adding a revision: add ``SEEDS["00NN"] = Seed({table: [row, ...]})`` with rows that are
valid at that revision (the tables and columns it creates, plus any earlier table its
rows need). The test checks each seeded row at head and after each downgrade still at
or above its revision, column by column for the columns it seeded. A revision that
rewrites data adds ``at_head``, an async check of what the rewrite should have made.
A revision without a seed fails ``tests/db/test_migrations.py`` by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from payreq.db import Connection

Rows = dict[str, list[dict[str, Any]]]
"""table -> rows (column -> value), inserted in this order."""

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-000000000001")
API_KEY = uuid.UUID("00000000-0000-4000-8000-000000000002")
APPLICATION = uuid.UUID("00000000-0000-4000-8000-000000000003")
PAYMENT = uuid.UUID("00000000-0000-4000-8000-000000000004")
EVENT = uuid.UUID("00000000-0000-4000-8000-000000000005")
DELIVERY = uuid.UUID("00000000-0000-4000-8000-000000000006")
IMPORT = uuid.UUID("00000000-0000-4000-8000-000000000007")
ZONED_ACCOUNT = uuid.UUID("00000000-0000-4000-8000-000000000008")


@dataclass(frozen=True)
class Seed:
    rows: Rows
    at_head: Callable[[Connection], Awaitable[None]] | None = None
    """Extra checks at head, for a revision that rewrites data."""
    key: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """A table's key columns when they are not ``id``."""


async def _0006_at_head(conn: Connection) -> None:
    """0006 gave every earlier account UTC and every earlier import a finished status."""
    zone = await conn.fetch_one("SELECT timezone FROM accounts WHERE id = :id", {"id": ACCOUNT})
    assert zone is not None and zone["timezone"] == "UTC"
    done = await conn.fetch_one("SELECT status FROM statement_imports WHERE id = :id", {"id": IMPORT})
    assert done is not None and done["status"] == "finished"


SEEDS: dict[str, Seed] = {
    "0001": Seed(
        {
            "accounts": [{"id": ACCOUNT, "name": "Seeded shop", "created_at": NOW}],
            "users": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000011"),
                    "account_id": ACCOUNT,
                    "email": "seed@shop.example",
                    "password_hash": "scrypt$seed",
                    "created_at": NOW,
                }
            ],
            "api_keys": [
                {
                    "id": API_KEY,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "label": "Seeded key",
                    "client_id": "seed-client-id",
                    "secret_digest": "a" * 64,
                    "rate_limit": 7,
                    "created_at": NOW,
                }
            ],
            "applications": [
                {
                    "id": APPLICATION,
                    "client_id": "s" * 32,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "name": "Seeded application",
                    "is_default": True,
                    "webhook_url": "https://shop.example/hooks",
                    "webhook_secret": "whsec_seed",
                    "currencies": '["EUR"]',
                    "methods": '["sandbox"]',
                    "created_at": NOW,
                }
            ],
            "access_tokens": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000012"),
                    "api_key_id": API_KEY,
                    "token_digest": "b" * 64,
                    "scope": "*",
                    "created_at": NOW,
                    "expires_at": NOW + timedelta(hours=1),
                }
            ],
            "client_tokens": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000013"),
                    "application_id": APPLICATION,
                    "label": "Seeded token",
                    "token_digest": "c" * 64,
                    "scopes": "payments.create",
                    "created_at": NOW,
                }
            ],
            "payments": [
                {
                    "id": PAYMENT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "application_id": APPLICATION,
                    "status": "paid",
                    "amount": 1_000_000_000_000,
                    "currency": "EUR",
                    "redirect_url": "https://shop.example/back",
                    "reference_id": "SEED-1",
                    "metadata": '{"order": "1"}',
                    "created_at": NOW,
                    "expires_at": NOW + timedelta(days=1),
                    "paid_at": NOW + timedelta(minutes=5),
                }
            ],
            "events": [
                {
                    "id": EVENT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "application_id": APPLICATION,
                    "payment_id": PAYMENT,
                    "type": "payment.paid",
                    "data": '{"id": "seed"}',
                    "created_at": NOW,
                }
            ],
        }
    ),
    "0002": Seed(
        {
            "applications": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000021"),
                    "client_id": "r" * 32,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "name": "Rotated",
                    "webhook_secret": "whsec_new",
                    "previous_webhook_secret": "whsec_old",
                    "previous_webhook_secret_expires_at": NOW + timedelta(hours=24),
                    "created_at": NOW,
                }
            ]
        }
    ),
    "0003": Seed(
        {
            "webhook_deliveries": [
                {
                    "id": DELIVERY,
                    "event_id": EVENT,
                    "application_id": APPLICATION,
                    "status": "failed",
                    "attempts": 3,
                    "last_status_code": 500,
                    "created_at": NOW,
                    "failed_at": NOW + timedelta(hours=1),
                }
            ],
            "webhook_attempts": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000031"),
                    "delivery_id": DELIVERY,
                    "event_id": EVENT,
                    "attempted_at": NOW,
                    "url": "https://shop.example/hooks",
                    "status_code": 500,
                    "latency_ms": 12,
                    "succeeded": False,
                }
            ],
        }
    ),
    "0004": Seed(
        {
            "transfer_references": [
                {
                    "payment_id": PAYMENT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "reference": "RF18539007547034",
                    "created_at": NOW,
                }
            ],
            "statement_imports": [
                {
                    "id": IMPORT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "format": "csv",
                    "source": "api",
                    "line_count": 1,
                    "summary": '{"matched": 1}',
                    "created_at": NOW,
                }
            ],
            "statement_lines": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000041"),
                    "import_id": IMPORT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "line_key": "d" * 64,
                    "line_number": 1,
                    "outcome": "matched",
                    "payment_id": PAYMENT,
                    "amount": 1_000_000_000_000,
                    "currency": "EUR",
                    "created_at": NOW,
                }
            ],
        },
        key={"transfer_references": ("payment_id",)},
    ),
    "0005": Seed(
        {
            "idempotency_keys": [
                {
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "caller": "*",
                    "idempotency_key": "seed-key",
                    "fingerprint": "e" * 64,
                    "method": "POST",
                    "path": "/payment/request",
                    "status": 201,
                    "headers": "[]",
                    "body": b'{"id": "seed"}',
                    "created_at": NOW,
                    "expires_at": NOW + timedelta(hours=24),
                }
            ]
        },
        key={"idempotency_keys": ("account_id", "environment", "caller", "idempotency_key")},
    ),
    "0006": Seed(
        {
            "accounts": [
                {"id": ZONED_ACCOUNT, "name": "Zoned shop", "created_at": NOW, "timezone": "Europe/Budapest"}
            ],
            "statement_report_lines": [
                {
                    "import_id": IMPORT,
                    "line": 1,
                    "statement_line_id": uuid.UUID("00000000-0000-4000-8000-000000000041"),
                    "outcome": "matched",
                    "message": "Matched.",
                    "amount": 1_000_000_000_000,
                    "currency": "EUR",
                    "payment_id": PAYMENT,
                    "payment_status": "paid",
                }
            ],
        },
        at_head=_0006_at_head,
        key={"statement_report_lines": ("import_id", "line")},
    ),
}


async def insert(conn: Connection, seed: Seed) -> None:
    for table, rows in seed.rows.items():
        for row in rows:
            columns = ", ".join(row)
            values = ", ".join(f":{name}" for name in row)
            await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", row)


def _same(value: Any) -> Any:
    """What a stored value reads back as on either engine (SQLite keeps booleans as 0/1)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


async def missing_or_changed(conn: Connection, revision: str, seed: Seed) -> list[str]:
    """Every seeded row of ``seed`` that is gone or reads back differently."""
    problems: list[str] = []
    for table, rows in seed.rows.items():
        key = seed.key.get(table, ("id",))
        for row in rows:
            where = " AND ".join(f"{k} = :{k}" for k in key)
            found = await conn.fetch_one(
                f"SELECT {', '.join(row)} FROM {table} WHERE {where}",
                {k: row[k] for k in key},
            )
            if found is None:
                problems.append(f"{revision}: {table} row {[row[k] for k in key]} is gone")
                continue
            for column, value in row.items():
                if _same(found[column]) != _same(value):
                    problems.append(f"{revision}: {table}.{column} is {found[column]!r}, was {value!r}")
    return problems
