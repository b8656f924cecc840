"""The overview's figures through ``GET /api/overview`` on both engines, against
payments whose numbers are known: bulk row ``i`` is paid when ``i % 10 < 6``, after
``30 + 31 i`` seconds, ``100 + 7907 i`` minor units, in EUR, USD, JPY by ``i % 3``."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from payreq.overview.repository import median
from payreq.services import Services
from tests.fixtures.bulk import insert_for
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, imported, new_payment, outcomes, transfer_reference
from tests.method.statements import csv_text


async def _seed(merchant: Merchant, services: Services, count: int = 10) -> None:
    await insert_for(services.db, merchant.credentials.account_id, count=count, now=services.clock())


async def overview(merchant: Merchant) -> dict[str, Any]:
    answer = await merchant.http.get("/api/overview", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_the_figures_are_the_known_ones(merchant: Merchant, services: Services) -> None:
    await _seed(merchant, services)
    figures = await overview(merchant)
    paid = [i for i in range(10) if i % 10 < 6]
    by_currency = Counter()
    volume: Counter[str] = Counter()
    for i in paid:
        currency = ("EUR", "USD", "JPY")[i % 3]
        by_currency[currency] += 1
        volume[currency] += 100 + (i * 7907) % 99900
    assert {s["currencyCode"]: s["totalCount"] for s in figures["paid"]} == dict(by_currency)
    assert {s["currencyCode"]: s["totalVolume"] for s in figures["paid"]} == dict(volume)
    assert all(len(s["days"]) == 30 for s in figures["paid"])
    assert sum(d["count"] for s in figures["paid"] for d in s["days"]) == 6
    assert figures["outcomes"] == {"paid": 6, "expired": 2, "cancelled": 1, "pending": 1}
    delays = sorted(30 + (i * 31) % 3570 for i in paid)
    assert figures["medianSecondsToPay"] == (delays[2] + delays[3]) / 2
    assert figures["failingEndpoints"] == [] and figures["unresolvedStatementLines"] == 0


async def test_old_payments_and_other_tenants_stay_out(
    merchant: Merchant, services: Services, make_merchant: Any
) -> None:
    await _seed(merchant, services)
    other = await make_merchant()
    assert (await overview(other))["paid"] == []
    await insert_for(
        services.db, merchant.credentials.account_id, count=10, now=services.clock() - timedelta(days=60)
    )
    assert sum(s["totalCount"] for s in (await overview(merchant))["paid"]) == 6


async def test_a_failing_endpoint_is_counted(merchant: Merchant, services: Services) -> None:
    client_id = merchant.credentials.application_client_id
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_failing_since = :at WHERE client_id = :c",
            {"at": services.clock(), "c": client_id},
        )
    assert [e["clientId"] for e in (await overview(merchant))["failingEndpoints"]] == [client_id]


def test_median_of_a_histogram() -> None:
    assert median([]) is None
    assert median([(5, 1)]) == 5
    assert median([(1, 1), (2, 1)]) == 1.5
    assert median([(1, 2), (10, 1)]) == 1
    assert median([(1, 1), (3, 2), (9, 1)]) == 3


async def test_statement_lines_to_resolve_leave_the_count_once_resolved(merchant: Merchant) -> None:
    """Only late, partial and overpaid lines without a resolution wait: accepting a line
    or marking it refund_due takes it off the figure, a duplicate never adds to it, and
    the figure equals a recount of the reports' lines still waiting."""
    client_id = await bank_application(merchant)
    short, refunded, over, cancelled, exact = [
        await new_payment(merchant, client_id, amount) for amount in (5000, 5000, 1000, 4000, 2500)
    ]
    refs = [await transfer_reference(merchant, p["id"]) for p in (short, refunded, over, cancelled, exact)]
    cancel = await merchant.http.post(
        f"/payment/request/{cancelled['id']}/cancel", headers=await merchant.headers()
    )
    assert cancel.status_code == 200, cancel.text
    body = csv_text(
        f"U-1,2026-11-21,10.00,EUR,{refs[0]},Una",
        f"U-2,2026-11-21,20.00,EUR,{refs[1]},Ugo",
        f"U-3,2026-11-21,15.00,EUR,{refs[2]},Uma",
        f"U-4,2026-11-21,40.00,EUR,{refs[3]},Uri",
        f"U-5,2026-11-21,25.00,EUR,{refs[4]},Ulf",
    )
    first = await imported(merchant, body)
    assert outcomes(first) == [(2, "partial"), (3, "partial"), (4, "overpaid"), (5, "late"), (6, "matched")]
    assert (await overview(merchant))["unresolvedStatementLines"] == 4

    for line, action in ((2, "accept"), (3, "refund_due")):
        answer = await merchant.http.post(
            f"/api/statements/{first['id']}/lines/{line}/resolve",
            json={"action": action},
            headers=await merchant.headers(),
        )
        assert answer.status_code == 200, answer.text
    again = await imported(merchant, body)  # every line a duplicate: none waits twice
    assert {line["outcome"] for line in again["lines"]} == {"duplicate"}

    figure = (await overview(merchant))["unresolvedStatementLines"]
    reread = await merchant.http.get(f"/api/statements/{first['id']}", headers=await merchant.headers())
    waiting = [
        line["line"]
        for line in reread.json()["lines"]
        if line["outcome"] in ("late", "partial", "overpaid") and "resolution" not in line
    ]
    assert waiting == [4, 5]
    assert figure == len(waiting) == 2
