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

from payreq.audit.chain import GENESIS, content_hash
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
USER = uuid.UUID("00000000-0000-4000-8000-000000000011")
LIMITED_ACCOUNT = uuid.UUID("00000000-0000-4000-8000-000000000009")
CANCELLED_PAYMENT = uuid.UUID("00000000-0000-4000-8000-000000000071")
CANCELLED_EVENT = uuid.UUID("00000000-0000-4000-8000-000000000072")
MEMBER = uuid.UUID("00000000-0000-4000-8000-000000000081")
RUNNING_IMPORT = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


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


async def _0012_at_head(conn: Connection) -> None:
    """0012 gave no finished import a time of progress (only running ones need one)."""
    done = await conn.fetch_one("SELECT progress_at FROM statement_imports WHERE id = :id", {"id": IMPORT})
    assert done is not None and done["progress_at"] is None


async def _0007_at_head(conn: Connection) -> None:
    """0007 gave every earlier event a negative log position in its old order, and no
    earlier account a rate limit of its own."""
    event = await conn.fetch_one("SELECT log_position FROM events WHERE id = :id", {"id": EVENT})
    assert event is not None and event["log_position"] == -1
    unlimited = await conn.fetch_all(
        "SELECT rate_limit FROM accounts WHERE id IN (:a, :b)", {"a": ACCOUNT, "b": ZONED_ACCOUNT}
    )
    assert [row["rate_limit"] for row in unlimited] == [None, None]


async def _0008_at_head(conn: Connection) -> None:
    """0008 made every earlier user an owner without two-factor, every earlier account
    one that does not require it, and every earlier API key one without a roll."""
    user = await conn.fetch_one(
        "SELECT role, totp_secret, totp_enabled_at, password_changed_at FROM users WHERE id = :id",
        {"id": USER},
    )
    assert user is not None and user["role"] == "owner"
    assert (user["totp_secret"], user["totp_enabled_at"], user["password_changed_at"]) == (None, None, None)
    accounts = await conn.fetch_all(
        "SELECT require_totp FROM accounts WHERE id IN (:a, :b, :c)",
        {"a": ACCOUNT, "b": ZONED_ACCOUNT, "c": LIMITED_ACCOUNT},
    )
    assert [bool(row["require_totp"]) for row in accounts] == [False, False, False]
    key = await conn.fetch_one("SELECT previous_secret_digest FROM api_keys WHERE id = :id", {"id": API_KEY})
    assert key is not None and key["previous_secret_digest"] is None


async def _0009_at_head(conn: Connection) -> None:
    """Attempts made before 0009 have no recorded request headers; the seeded chain is
    whole (what ``payreq admin verify-audit`` checks)."""
    from payreq.audit import repository
    from payreq.audit.chain import ChainCheck

    attempt = await conn.fetch_one(
        "SELECT request_headers FROM webhook_attempts WHERE id = :id",
        {"id": uuid.UUID("00000000-0000-4000-8000-000000000031")},
    )
    assert attempt is not None and attempt["request_headers"] is None
    [(account_id, head_seq, head_hash)] = await repository.chains(conn)
    check = ChainCheck(account_id)
    check.feed(await repository.chain_rows(conn, account_id, after_seq=0, limit=100))
    assert check.finish(head_seq, head_hash) is None and check.checked == len(AUDIT_ENTRIES)


def _audit_chain(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries of ACCOUNT's chain, seq, prev_hash and hash filled in as the service does."""
    chain: list[dict[str, Any]] = []
    previous = GENESIS
    for seq, fields in enumerate(entries, start=1):
        entry = {"account_id": ACCOUNT, "seq": seq, **fields, "prev_hash": previous}
        entry["hash"] = previous = content_hash(**entry)
        chain.append(entry)
    return chain


AUDIT_ENTRIES = _audit_chain(
    {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000091"),
        "environment": None,
        "at": NOW + timedelta(days=9),
        "actor_kind": "user",
        "actor_id": str(USER),
        "actor_label": "seed@shop.example",
        "address": "203.0.113.7",
        "action": "user.invited",
        "target_type": "invitation",
        "target_id": "00000000-0000-4000-8000-000000000082",
        "changes": '{"email":"dev@shop.example","role":"developer"}',
    },
    {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000092"),
        "environment": "sandbox",
        "at": NOW + timedelta(days=9, minutes=5),
        "actor_kind": "api_key",
        "actor_id": str(API_KEY),
        "actor_label": "seed-client-id",
        "address": "198.51.100.4",
        "action": "payment.cancelled",
        "target_type": "payment",
        "target_id": str(CANCELLED_PAYMENT),
        "changes": '{"status":"cancelled"}',
    },
)


async def _0011_at_head(conn: Connection) -> None:
    """0011 counted the payments seeded before it into the overview's rollups."""
    tenant = {"a": ACCOUNT}
    daily = await conn.fetch_all(
        "SELECT day, currency, status, slot, payments, amount FROM payment_daily WHERE account_id = :a "
        "ORDER BY day",
        tenant,
    )
    # the slot is the payment id's last hex digit (…0004 and …0071)
    assert [tuple(r) for r in daily] == [
        ("2026-11-22", "EUR", "paid", "4", 1, 1_000_000_000_000),
        ("2026-12-01", "EUR", "cancelled", "1", 1, 2500),
    ]
    paid = await conn.fetch_all(
        "SELECT day, currency, slot, payments, amount FROM payment_paid_daily WHERE account_id = :a", tenant
    )
    assert [tuple(r) for r in paid] == [("2026-11-22", "EUR", "4", 1, 1_000_000_000_000)]
    times = await conn.fetch_all(
        "SELECT day, bucket, payments FROM payment_pay_times WHERE account_id = :a", tenant
    )
    assert [tuple(r) for r in times] == [("2026-11-22", 300, 1)]
    seconds = await conn.fetch_all(
        "SELECT bucket, day, seconds, payments FROM payment_pay_seconds WHERE account_id = :a", tenant
    )
    assert [tuple(r) for r in seconds] == [(300, "2026-11-22", 300, 1)]


SEEDS: dict[str, Seed] = {
    "0001": Seed(
        {
            "accounts": [{"id": ACCOUNT, "name": "Seeded shop", "created_at": NOW}],
            "users": [
                {
                    "id": USER,
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
    "0007": Seed(
        {
            "accounts": [
                {"id": LIMITED_ACCOUNT, "name": "Limited shop", "created_at": NOW, "rate_limit": 30}
            ],
            "payments": [
                {
                    "id": CANCELLED_PAYMENT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "application_id": APPLICATION,
                    "status": "cancelled",
                    "amount": 2500,
                    "currency": "EUR",
                    "redirect_url": "https://shop.example/back",
                    "reference_id": "SEED-2",
                    "created_at": NOW + timedelta(days=9),
                    "expires_at": NOW + timedelta(days=10),
                    "cancelled_at": NOW + timedelta(days=9, minutes=5),
                }
            ],
            "events": [
                {
                    "id": CANCELLED_EVENT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "application_id": APPLICATION,
                    "payment_id": CANCELLED_PAYMENT,
                    "type": "payment.cancelled",
                    "data": '{"id": "seed-2"}',
                    "created_at": NOW + timedelta(days=9, minutes=5),
                    "log_position": 1,
                }
            ],
        },
        at_head=_0007_at_head,
    ),
    "0008": Seed(
        {
            "accounts": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-00000000000a"),
                    "name": "Strict shop",
                    "created_at": NOW + timedelta(days=9),
                    "require_totp": True,
                }
            ],
            "users": [
                {
                    "id": MEMBER,
                    "account_id": ACCOUNT,
                    "email": "dev@shop.example",
                    "password_hash": "scrypt$member",
                    "created_at": NOW + timedelta(days=9),
                    "role": "developer",
                    "totp_secret": "JBSWY3DPEHPK3PXP",
                    "totp_enabled_at": NOW + timedelta(days=9, hours=1),
                    "totp_last_step": 59_000_000,
                    "password_changed_at": NOW + timedelta(days=9, hours=2),
                }
            ],
            "api_keys": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000083"),
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "label": "Rolled key",
                    "client_id": "seed-rolled-client-id",
                    "secret_digest": "f" * 64,
                    "previous_secret_digest": "9" * 64,
                    "previous_secret_expires_at": NOW + timedelta(days=10),
                    "created_at": NOW + timedelta(days=9),
                }
            ],
            "user_sessions": [
                {
                    "id_digest": "1" * 64,
                    "user_id": MEMBER,
                    "stage": "full",
                    "environment": "sandbox",
                    "csrf_secret": "2" * 32,
                    "address": "203.0.113.7",
                    "user_agent": "Mozilla/5.0 (seed)",
                    "created_at": NOW + timedelta(days=9),
                    "last_seen_at": NOW + timedelta(days=9, minutes=10),
                    "expires_at": NOW + timedelta(days=10),
                }
            ],
            "invitations": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000082"),
                    "account_id": ACCOUNT,
                    "email": "dev@shop.example",
                    "role": "developer",
                    "token_digest": "3" * 64,
                    "invited_by": USER,
                    "created_at": NOW + timedelta(days=8),
                    "expires_at": NOW + timedelta(days=15),
                    "accepted_at": NOW + timedelta(days=9),
                }
            ],
            "recovery_codes": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000084"),
                    "user_id": MEMBER,
                    "code_digest": "4" * 64,
                    "used_at": None,
                },
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000085"),
                    "user_id": MEMBER,
                    "code_digest": "5" * 64,
                    "used_at": NOW + timedelta(days=9, hours=3),
                },
            ],
            "password_resets": [
                {
                    "token_digest": "6" * 64,
                    "user_id": MEMBER,
                    "created_at": NOW + timedelta(days=9, hours=1),
                    "expires_at": NOW + timedelta(days=9, hours=2),
                    "used_at": NOW + timedelta(days=9, hours=2) - timedelta(minutes=30),
                }
            ],
            "login_attempts": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000086"),
                    "address": "203.0.113.7",
                    "user_id": MEMBER,
                    "succeeded": True,
                    "at": NOW + timedelta(days=9),
                },
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000087"),
                    "address": "198.51.100.9",
                    "user_id": None,
                    "succeeded": False,
                    "at": NOW + timedelta(days=9, minutes=1),
                },
            ],
        },
        at_head=_0008_at_head,
        key={"user_sessions": ("id_digest",), "password_resets": ("token_digest",)},
    ),
    "0009": Seed(
        {
            "webhook_attempts": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000093"),
                    "delivery_id": DELIVERY,
                    "event_id": EVENT,
                    "attempted_at": NOW + timedelta(days=9),
                    "url": "https://shop.example/hooks",
                    "request_headers": (
                        '{"content-type": "application/json", "webhook-id": "'
                        + str(EVENT)
                        + '", "webhook-timestamp": "1796126400", "webhook-signature": "v1,c2VlZA=="}'
                    ),
                    "status_code": 200,
                    "latency_ms": 8,
                    "succeeded": True,
                }
            ],
            "audit_entries": AUDIT_ENTRIES,
            "audit_heads": [
                {"account_id": ACCOUNT, "seq": AUDIT_ENTRIES[-1]["seq"], "hash": AUDIT_ENTRIES[-1]["hash"]}
            ],
        },
        at_head=_0009_at_head,
        key={"audit_heads": ("account_id",)},
    ),
    "0010": Seed(
        {
            "worker_heartbeats": [
                {
                    "worker_id": "worker-seed-1",
                    "host": "worker-1.payreq.internal",
                    "pid": 4242,
                    "started_at": NOW + timedelta(days=9),
                    "beat_at": NOW + timedelta(days=9, minutes=1),
                }
            ]
        },
        key={"worker_heartbeats": ("worker_id",)},
    ),
    "0011": Seed(
        {
            "payment_daily": [
                {
                    "account_id": LIMITED_ACCOUNT,
                    "environment": "production",
                    "day": "2026-12-01",
                    "currency": "CHF",
                    "status": "expired",
                    "slot": "7",
                    "payments": 3,
                    "amount": 4500,
                }
            ],
            "payment_paid_daily": [
                {
                    "account_id": LIMITED_ACCOUNT,
                    "environment": "production",
                    "day": "2026-12-01",
                    "currency": "CHF",
                    "slot": "7",
                    "payments": 2,
                    "amount": 3000,
                }
            ],
            "payment_pay_times": [
                {
                    "account_id": LIMITED_ACCOUNT,
                    "environment": "production",
                    "day": "2026-12-01",
                    "bucket": 600,
                    "slot": "7",
                    "payments": 2,
                }
            ],
            "payment_pay_seconds": [
                {
                    "account_id": LIMITED_ACCOUNT,
                    "environment": "production",
                    "bucket": 600,
                    "day": "2026-12-01",
                    "seconds": 605,
                    "slot": "7",
                    "payments": 2,
                }
            ],
        },
        at_head=_0011_at_head,
        key={
            "payment_daily": ("account_id", "environment", "day", "currency", "status", "slot"),
            "payment_paid_daily": ("account_id", "environment", "day", "currency", "slot"),
            "payment_pay_times": ("account_id", "environment", "day", "bucket", "slot"),
            "payment_pay_seconds": ("account_id", "environment", "bucket", "day", "seconds", "slot"),
        },
    ),
    "0012": Seed(
        {
            "statement_imports": [
                {
                    "id": RUNNING_IMPORT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "format": "csv",
                    "source": "api",
                    "line_count": 40,
                    "lines_done": 20,
                    "status": "running",
                    "summary": '{"unmatched": 20}',
                    "created_at": NOW,
                    "progress_at": NOW + timedelta(seconds=3),
                }
            ],
        },
        at_head=_0012_at_head,
    ),
    "0013": Seed(
        {
            "applications": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000022"),
                    "client_id": "t" * 32,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "name": "Rotated twice",
                    "webhook_secret": "whsec_third",
                    "previous_webhook_secret": "whsec_second",
                    "previous_webhook_secret_expires_at": NOW + timedelta(hours=24),
                    "older_webhook_secrets": '[{"secret": "whsec_first", "expiresAt": "2026-12-02T11:00:00Z"}]',
                    "created_at": NOW,
                }
            ]
        }
    ),
    "0014": Seed(
        {
            "webhook_deliveries": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000023"),
                    "event_id": EVENT,
                    "application_id": uuid.UUID("00000000-0000-4000-8000-000000000022"),
                    "status": "pending",
                    "attempts": 1,
                    "next_attempt_at": NOW,
                    "claimed_until": NOW + timedelta(seconds=60),
                    "claim_token": uuid.UUID("00000000-0000-4000-8000-000000000024"),
                    "redelivery_requested_at": NOW + timedelta(seconds=5),
                    "created_at": NOW,
                }
            ]
        }
    ),
    "0015": Seed(
        {
            "accounts": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000025"),
                    "name": "Closed by its owner",
                    "disabled_at": NOW,
                    "closed_at": NOW,
                    "timezone": "UTC",
                    "created_at": NOW,
                }
            ]
        }
    ),
    "0016": Seed(
        {
            "pending_signups": [
                {
                    "token_digest": "7" * 64,
                    "email": "pending@example.com",
                    "account_name": "Waiting for its link",
                    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2VlZA$c2VlZA",
                    "created_at": NOW,
                    "expires_at": NOW + timedelta(hours=24),
                    "used_at": None,
                }
            ]
        },
        key={"pending_signups": ("token_digest",)},
    ),
    "0017": Seed(
        {
            "statement_lines": [
                {
                    "id": uuid.UUID("00000000-0000-4000-8000-000000000042"),
                    "import_id": IMPORT,
                    "account_id": ACCOUNT,
                    "environment": "sandbox",
                    "line_key": "e" * 64,
                    "entry_key": "f" * 64,
                    "line_number": 2,
                    "outcome": "unmatched",
                    "created_at": NOW,
                }
            ]
        }
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
