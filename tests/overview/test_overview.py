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
