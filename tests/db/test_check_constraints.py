"""CHECK constraints, which Alembic's schema comparison ignores: the migrated database
(reflected on each engine) holds exactly the CHECKs ``payreq.db.tables`` declares, with
the same columns, values and bounds, and each one is enforced: a row that breaks it is
refused by the database itself, whatever the code above it checks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from payreq.db.base import sqlalchemy_url
from payreq.db.tables import metadata
from payreq.services import Services
from tests.application.conftest import new_application
from tests.fixtures.factories import Merchant

MODEL_CHECKS = {
    (table.name, str(constraint.name)): str(constraint.sqltext)
    for table in metadata.sorted_tables
    for constraint in table.constraints
    if isinstance(constraint, sa.CheckConstraint)
}
_LITERAL = re.compile(r"'([^']*)'")
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def meaning(table: str, sqltext: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """What a CHECK says, whichever way the engine spells it back: the table's columns
    it names, its string literals and its numbers (PostgreSQL reflects
    ``environment IN ('a', 'b')`` as ``(environment)::text = ANY (ARRAY[...])``)."""
    quoted = _LITERAL.findall(sqltext)
    bare = _LITERAL.sub("", sqltext)
    columns = frozenset(w for w in _WORD.findall(bare) if w in metadata.tables[table].columns)
    # PostgreSQL may quote a number and cast it ('1000000000000'::bigint)
    numbers = frozenset(_NUMBER.findall(bare)) | {q for q in quoted if q.isdigit()}
    return columns, frozenset(q for q in quoted if not q.isdigit()), numbers


def reflect(connection: sa.Connection) -> dict[tuple[str, str], str]:
    inspector = sa.inspect(connection)
    return {
        (table, str(check["name"])): str(check["sqltext"])
        for table in inspector.get_table_names()
        if table in metadata.tables
        for check in inspector.get_check_constraints(table)
    }


async def reflected_checks(database_url: str) -> dict[tuple[str, str], str]:
    if database_url.startswith("sqlite:"):
        engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return reflect(connection)
        finally:
            engine.dispose()
    async_engine = create_async_engine(sqlalchemy_url(database_url), poolclass=sa.pool.NullPool)
    try:
        async with async_engine.connect() as connection:
            return await connection.run_sync(reflect)
    finally:
        await async_engine.dispose()


async def test_the_migrated_checks_are_the_models_checks(database_url: str) -> None:
    found = await reflected_checks(database_url)
    assert set(found) == set(MODEL_CHECKS), set(found) ^ set(MODEL_CHECKS)
    for (table, name), sqltext in MODEL_CHECKS.items():
        assert meaning(table, found[(table, name)]) == meaning(table, sqltext), (name, found[(table, name)])


# a value that breaks each CHECK, per (table, constraint): (column, bad values)
BREAKING: dict[str, tuple[str, list[Any]]] = {
    "ck_api_keys_environment": ("environment", ["staging", ""]),
    "ck_applications_environment": ("environment", ["staging"]),
    "ck_payments_environment": ("environment", ["Sandbox"]),
    "ck_payments_amount": ("amount", [0, -1, 1_000_000_000_001]),
    "ck_payments_status": ("status", ["refunded", "PAID"]),
    "ck_payment_daily_counts": ("payments", [-1]),
    "ck_payment_daily_status": ("status", ["refunded"]),
    "ck_events_environment": ("environment", ["staging"]),
    "ck_transfer_references_environment": ("environment", ["staging"]),
    "ck_statement_imports_environment": ("environment", ["staging"]),
    "ck_statement_lines_environment": ("environment", ["staging"]),
    "ck_webhook_deliveries_status": ("status", ["sent"]),
    "ck_invitations_role": ("role", ["root", "Owner"]),
    "ck_user_sessions_stage": ("stage", ["password", ""]),
}
# how to find this merchant's row in each table
OWN_ROW = {
    "api_keys": "SELECT id FROM api_keys WHERE account_id = :a",
    "applications": "SELECT id FROM applications WHERE account_id = :a",
    "payments": "SELECT id FROM payments WHERE account_id = :a",
    "payment_daily": "SELECT account_id AS id FROM payment_daily WHERE account_id = :a",
    "events": "SELECT id FROM events WHERE account_id = :a",
    "transfer_references": "SELECT payment_id AS id FROM transfer_references WHERE account_id = :a",
    "statement_imports": "SELECT id FROM statement_imports WHERE account_id = :a",
    "statement_lines": "SELECT id FROM statement_lines WHERE account_id = :a",
    "webhook_deliveries": "SELECT d.id FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
    "WHERE e.account_id = :a",
    "invitations": "SELECT id FROM invitations WHERE account_id = :a",
    "user_sessions": "SELECT s.id_digest AS id FROM user_sessions s JOIN users u ON u.id = s.user_id "
    "WHERE u.account_id = :a",
}
KEY_COLUMN = {
    "transfer_references": "payment_id",
    "user_sessions": "id_digest",
    "payment_daily": "account_id",
}


def test_every_check_has_a_breaking_row() -> None:
    assert set(BREAKING) == {name for _, name in MODEL_CHECKS}, "a new CHECK needs a row that breaks it here"


async def rows_in_every_checked_table(merchant: Merchant) -> None:
    """Through the real endpoints: a payment with its event and webhook delivery, a
    bank-transfer reference, and a statement import with its line."""
    headers = await merchant.headers()
    client_id = merchant.credentials.application_client_id
    patched = await merchant.http.patch(
        f"/api/payment-applications/{client_id}",
        json={"webhookUrl": "https://shop.example/hooks"},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    await merchant.create_payment()
    bank = await new_application(
        merchant,
        name="Bank",
        methods=["bank_transfer"],
        bankDetails={"accountHolder": "Shop", "bankName": "Bank", "iban": "DE89370400440532013000"},
    )
    created = await merchant.http.post(
        "/api/payment/checkout",
        json={
            "amount": 1000,
            "currencyCode": "EUR",
            "reference": "check-1",
            "referenceLabel": "Check",
            "clientId": bank["clientId"],
            "redirectUrl": "https://shop.example/back",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    instructions = await merchant.http.get(
        f"/api/payment/{created.json()['id']}/instructions",
        params={"method": "bank_transfer"},
        headers=headers,
    )
    assert instructions.status_code == 200, instructions.text
    imported = await merchant.http.post(
        "/api/statements",
        content=b"id,amount,currency,reference\nM-1,1.00,EUR,nothing\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text


async def dashboard_rows(services: Services, merchant: Merchant) -> None:
    """A valid invitation and session of the merchant's owner (the dashboard's tables),
    written as its services write them, for the CHECKs to refuse a change of."""
    account = uuid.UUID(merchant.credentials.account_id)
    now = datetime.now(UTC)
    async with services.db.transaction() as conn:
        user = await conn.fetch_one("SELECT id FROM users WHERE account_id = :a", {"a": account})
        assert user is not None
        await conn.execute(
            """INSERT INTO invitations (id, account_id, email, role, token_digest, invited_by, created_at,
               expires_at) VALUES (:id, :a, 'dev@shop.example', 'developer', :digest, :by, :now, :later)""",
            {
                "id": uuid.uuid4(),
                "a": account,
                "digest": uuid.uuid4().hex * 2,
                "by": user["id"],
                "now": now,
                "later": now + timedelta(days=7),
            },
        )
        await conn.execute(
            """INSERT INTO user_sessions (id_digest, user_id, stage, environment, csrf_secret, created_at,
               last_seen_at, expires_at) VALUES (:digest, :user, 'full', 'sandbox', :csrf, :now, :now, :later)""",
            {
                "digest": uuid.uuid4().hex * 2,
                "user": user["id"],
                "csrf": uuid.uuid4().hex,
                "now": now,
                "later": now + timedelta(hours=2),
            },
        )


@pytest.mark.parametrize("constraint", sorted(BREAKING))
async def test_the_database_refuses_a_row_that_breaks_each_check(
    merchant: Merchant, services: Services, constraint: str
) -> None:
    ((table, _),) = [key for key in MODEL_CHECKS if key[1] == constraint]
    column, bad_values = BREAKING[constraint]
    await rows_in_every_checked_table(merchant)
    await dashboard_rows(services, merchant)
    account = uuid.UUID(merchant.credentials.account_id)
    async with services.db.read() as conn:
        row = await conn.fetch_one(OWN_ROW[table], {"a": account})
    assert row is not None, f"no {table} row to break"
    key = KEY_COLUMN.get(table, "id")
    for bad in bad_values:
        with pytest.raises(Exception) as refused:
            async with services.db.transaction() as conn:
                await conn.execute(
                    f"UPDATE {table} SET {column} = :bad WHERE {key} = :id", {"bad": bad, "id": row["id"]}
                )
        assert constraint in str(refused.value), (bad, refused.value)
    # and the row is as it was
    async with services.db.read() as conn:
        still = await conn.fetch_one(
            f"SELECT {column} AS v FROM {table} WHERE {key} = :id", {"id": row["id"]}
        )
    assert still is not None and still["v"] not in bad_values
