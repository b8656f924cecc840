"""The overview's rollups (payment/rollup_repository.py) against a recount of the
payments table, on both engines: after creates, payments, cancels, the worker's expiry sweep and
statement lines (matched, and late ones accepted from expired and from cancelled),
each tenant's rollup rows are exactly the recount of its payments, the overview reads
the same figures a scan of its payments gives, and a status change that is rolled
back leaves the rollups as they were."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from payreq.audit.models import Actor
from payreq.payment import rollup_repository
from payreq.payment.lifecycle import Status
from payreq.payment.rollup_repository import bucket, day, seconds_to_pay, slot
from payreq.services import Services
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, imported, new_payment, outcomes, transfer_reference
from tests.method.statements import csv_text
from tests.method.test_settlement_rules import resolve
from tests.overview.test_overview import overview
from tests.payment.conftest import tenant_of

MakeMerchant = Callable[..., Awaitable[Merchant]]
Rollups = dict[str, Counter[tuple[Any, ...]]]


async def rollups(services: Services, merchant: Merchant) -> Rollups:
    """The merchant's rollup rows as (key columns, amount) -> payments, rows of no payments left out."""
    tenant = {"a": uuid.UUID(merchant.credentials.account_id), "e": merchant.credentials.environment}
    scope = "WHERE account_id = :a AND environment = :e"
    found: Rollups = {}
    async with services.db.read() as conn:
        for table, columns in (
            ("payment_daily", "day, currency, status, slot, amount, payments"),
            ("payment_paid_daily", "day, currency, slot, amount, payments"),
            ("payment_pay_times", "day, bucket, slot, payments"),
            ("payment_pay_seconds", "bucket, day, seconds, slot, payments"),
        ):
            rows = await conn.fetch_all(f"SELECT {columns} FROM {table} {scope}", tenant)
            found[table] = Counter({tuple(r)[:-1]: int(tuple(r)[-1]) for r in rows if int(r["payments"])})
    return found


async def payments_of(services: Services, merchant: Merchant) -> list[Any]:
    async with services.db.read() as conn:
        return list(
            await conn.fetch_all(
                "SELECT id, status, amount, currency, created_at, expires_at, paid_at FROM payments "
                "WHERE account_id = :a AND environment = :e",
                {"a": uuid.UUID(merchant.credentials.account_id), "e": merchant.credentials.environment},
            )
        )


def recount(payments: list[Any]) -> Rollups:
    """What the rollups should hold, counted from the payment rows alone."""
    daily: Counter[tuple[Any, ...]] = Counter()
    paid: Counter[tuple[Any, ...]] = Counter()
    times: Counter[tuple[Any, ...]] = Counter()
    seconds: Counter[tuple[Any, ...]] = Counter()
    for p in payments:
        # (..., payments) -> count rows: the amount sits in the key of a count-and-amount row;
        # each payment is counted in its own slot (the last hex digit of its id)
        part = slot(p["id"] if isinstance(p["id"], uuid.UUID) else uuid.UUID(str(p["id"])))
        daily[(day(p["created_at"]), p["currency"], p["status"], part)] += 1
        if p["paid_at"] is not None:
            paid[(day(p["paid_at"]), p["currency"], part)] += 1
            s = seconds_to_pay(p["created_at"], p["paid_at"])
            times[(day(p["created_at"]), bucket(s), part)] += 1
            seconds[(bucket(s), day(p["created_at"]), s, part)] += 1
    amounts: dict[str, Counter[tuple[Any, ...]]] = {
        "payment_daily": Counter(),
        "payment_paid_daily": Counter(),
    }
    for p in payments:
        part = slot(p["id"] if isinstance(p["id"], uuid.UUID) else uuid.UUID(str(p["id"])))
        amounts["payment_daily"][(day(p["created_at"]), p["currency"], p["status"], part)] += int(p["amount"])
        if p["paid_at"] is not None:
            amounts["payment_paid_daily"][(day(p["paid_at"]), p["currency"], part)] += int(p["amount"])
    return {
        "payment_daily": Counter({(*k, amounts["payment_daily"][k]): n for k, n in daily.items()}),
        "payment_paid_daily": Counter({(*k, amounts["payment_paid_daily"][k]): n for k, n in paid.items()}),
        "payment_pay_times": times,
        "payment_pay_seconds": seconds,
    }


def scanned_figures(payments: list[Any], now: datetime) -> dict[str, Any]:
    """The overview's payment figures as a scan of every payment computes them."""
    first = now.date() - timedelta(days=29)
    recent = [p for p in payments if p["created_at"].date() >= first]
    shares = Counter(
        "expired" if p["status"] == "pending" and p["expires_at"] <= now else p["status"] for p in recent
    )
    delays = [seconds_to_pay(p["created_at"], p["paid_at"]) for p in recent if p["paid_at"] is not None]
    paid = Counter(
        p["currency"] for p in payments if p["paid_at"] is not None and p["paid_at"].date() >= first
    )
    return {
        "outcomes": dict(shares),
        "medianSecondsToPay": statistics.median(delays) if delays else None,
        "paid": dict(paid),
    }


async def simulate(merchant: Merchant, payment_id: str, outcome: str) -> None:
    answer = await merchant.http.post(
        f"/api/sandbox/payment/{payment_id}/simulate",
        json={"outcome": outcome},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 200, answer.text


async def test_the_rollups_equal_a_recount_after_every_kind_of_status_change(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services, clock: MovableClock
) -> None:
    # other tenants, another environment: their changes stay in their own rows
    neighbours = [await make_merchant(), await make_merchant("production")]
    for other in neighbours:
        await other.create_payment(currency="EUR")
    before = [await rollups(services, other) for other in neighbours]

    client_id = await bank_application(merchant)
    matched = await new_payment(merchant, client_id, 12500)
    cancelled = await new_payment(merchant, client_id, 4000)
    late = await new_payment(merchant, client_id, 3300, expiresIn=60)
    [await new_payment(merchant, client_id, 700 + n, "USD", expiresIn=60) for n in range(3)]
    simulated = [await merchant.create_payment(currency=c) for c in ("EUR", "USD", "JPY", "EUR")]
    await new_payment(merchant, client_id, 1100)  # stays pending
    references = {
        name: await transfer_reference(merchant, p["id"])
        for name, p in (("matched", matched), ("cancelled", cancelled), ("late", late))
    }
    answer = await merchant.http.post(
        f"/payment/request/{cancelled['id']}/cancel", headers=await merchant.headers()
    )
    assert answer.status_code == 200, answer.text
    for payment, outcome in zip(simulated, ("paid", "paid", "cancelled", "expired"), strict=True):
        clock.advance(7)  # times to pay of a few distinct seconds
        await simulate(merchant, payment["id"], outcome)

    clock.advance(120)
    async with services.db.transaction() as conn:
        assert await services.payments.expire_due(conn, limit=10_000) >= 4  # the sweep, all tenants
    await new_payment(merchant, client_id, 900, expiresIn=60)
    clock.advance(61)  # past its deadline, not swept: it reads as expired

    expired_on = datetime.fromisoformat(late["expiresAt"]).date()
    today = services.clock().date().isoformat()
    report = await imported(
        merchant,
        csv_text(
            f"T-1,{today},125.00,EUR,{references['matched']},Jane",
            f"T-2,{today},40.00,EUR,{references['cancelled']},Larry",
            f"T-3,{(expired_on + timedelta(days=1)).isoformat()},33.00,EUR,{references['late']},Sam",
        ),
    )
    assert outcomes(report) == [(2, "matched"), (3, "late"), (4, "late")]
    for line in (3, 4):
        clock.advance(3)
        answer = await resolve(merchant, report["id"], line, "accept")
        assert answer.status_code == 200, answer.text

    payments = await payments_of(services, merchant)
    assert Counter(p["status"] for p in payments) == {"paid": 5, "expired": 4, "cancelled": 1, "pending": 2}
    assert [p["expires_at"] > services.clock() for p in payments if p["status"] == "pending"] == [
        False,
        True,
    ] or [p["expires_at"] > services.clock() for p in payments if p["status"] == "pending"] == [True, False]
    assert await rollups(services, merchant) == recount(payments)
    assert [await rollups(services, other) for other in neighbours] == before

    figures = await overview(merchant)
    scanned = scanned_figures(payments, services.clock())
    assert (
        figures["outcomes"] == scanned["outcomes"] == {"paid": 5, "expired": 5, "cancelled": 1, "pending": 1}
    )
    assert figures["medianSecondsToPay"] == scanned["medianSecondsToPay"]
    assert {s["currencyCode"]: s["totalCount"] for s in figures["paid"]} == scanned["paid"]


async def test_imports_paying_many_payments_per_batch_leave_the_rollups_equal_to_a_recount(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    """A batch sums its rollups and writes them at its end, many rows per statement
    (on PostgreSQL one ``unnest`` upsert per table); the second import's rows meet the
    first's (the same days, slots and seconds to pay), so every upsert also adds to
    rows that exist."""
    client_id = await bank_application(merchant)
    made = [await new_payment(merchant, client_id, 100 + n) for n in range(48)]
    references = [await transfer_reference(merchant, p["id"]) for p in made]
    clock.advance(5)
    today = services.clock().date().isoformat()
    for half in (0, 1):
        lines = [
            f"H{half}-{n},{today},{(100 + n) / 100:.2f},EUR,{references[n]},Payer"
            for n in range(half, len(made), 2)
        ]
        assert {outcome for _, outcome in outcomes(await imported(merchant, csv_text(*lines)))} == {"matched"}
    payments = await payments_of(services, merchant)
    assert Counter(p["status"] for p in payments) == {"paid": 48}
    assert await rollups(services, merchant) == recount(payments)


async def test_a_status_change_rolled_back_leaves_the_rollups_as_they_were(
    merchant: Merchant, services: Services
) -> None:
    kept = await merchant.create_payment()
    before = await rollups(services, merchant)
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as conn:
            await services.payments.settle(
                conn, tenant_of(merchant), uuid.UUID(kept["id"]), Status.PAID, actor=Actor.cli("test")
            )
            raise RuntimeError("rolled back after the change")
    assert await rollups(services, merchant) == before
    payments = await payments_of(services, merchant)
    assert [p["status"] for p in payments] == ["pending"]
    assert before == recount(payments)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, -1),
        (0, 0),
        (59, 59),
        (60, 60),
        (65, 60),
        (599, 590),
        (600, 600),
        (3599, 3540),
        (3600, 3600),
        (86_399, 85_800),
        (86_400, 86_400),
        (90_005, 90_000),
        (40 * 86_400 + 5, 40 * 86_400),
    ],
)
def test_buckets_are_monotonic_lower_bounds(seconds: int, expected: int) -> None:
    assert bucket(seconds) == expected
    assert all(bucket(s) <= bucket(s + 1) for s in range(seconds - 2, seconds + 2))


def test_seconds_round_half_up_and_days_are_utc() -> None:
    at = datetime.fromisoformat("2026-12-01T23:59:59.400000+00:00")
    assert seconds_to_pay(at, at + timedelta(seconds=2, microseconds=500_000)) == 3
    assert seconds_to_pay(at, at + timedelta(seconds=2, microseconds=499_999)) == 2
    assert day(datetime.fromisoformat("2026-12-02T00:30:00+01:00")) == date(2026, 12, 1).isoformat()


def _upsert_as_built_per_call(table: str, rows: int) -> tuple[str, list[str]]:
    """The upsert as ``_upsert`` built it for every call before its text was kept."""
    keys, values = rollup_repository._UPSERT[table]
    columns = (*keys, *values)
    tuples = ["(" + ", ".join(f":{column}{n}" for column in columns) + ")" for n in range(rows)]
    sql = f"""INSERT INTO {table} ({", ".join(columns)}) VALUES {", ".join(tuples)}
        ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
        {", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)}"""
    return sql, [f"{column}{n}" for n in range(rows) for column in columns]


@pytest.mark.parametrize("table", list(rollup_repository._UPSERT))
@pytest.mark.parametrize("rows", [1, 2, 16, 17, 500])
def test_an_upsert_keeps_its_text_and_its_parameter_names(table: str, rows: int) -> None:
    sql, names = rollup_repository.upsert_sql(table, rows)
    assert (sql, [name for row in names for name in row]) == _upsert_as_built_per_call(table, rows)
    again = rollup_repository.upsert_sql(table, rows)
    assert again == (sql, names)
    assert (again[0] is sql) == (rows <= 16)  # a small one is built once
