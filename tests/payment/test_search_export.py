"""The payments list's filters and search (the dashboard's, over the API too), and the
CSV export of exactly what they show, streamed, on both engines."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.config import Settings
from payreq.services import Services
from tests.fixtures.bulk import insert_for, insert_payments
from tests.fixtures.factories import Merchant
from tests.fixtures.live import environment, serve
from tests.method.conftest import bank_application, new_payment, transfer_reference


async def listed(merchant: Merchant, **params: Any) -> list[dict[str, Any]]:
    """Every page of ``GET /api/payments`` with ``params``."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await merchant.http.get("/api/payments", params=query, headers=await merchant.headers())
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found += body["data"]
        if not body["hasMore"]:
            return found
        cursor = body["nextCursor"]


async def exported(merchant: Merchant, **params: Any) -> list[dict[str, str]]:
    answer = await merchant.http.get("/api/payments/export", params=params, headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(answer.text)))


@pytest.fixture
async def shop(merchant: Merchant) -> dict[str, Any]:
    client_id = await bank_application(merchant, "bank_transfer", "sandbox")
    made = {
        "eur_small": await new_payment(
            merchant, client_id, 1050, "EUR", reference="A-1", referenceLabel="Blue mug"
        ),
        "eur_big": await new_payment(
            merchant, client_id, 250000, "EUR", reference="A-2", referenceLabel="Big =SUM(A1)"
        ),
        "jpy": await new_payment(
            merchant, client_id, 1500, "JPY", reference="A-3", referenceLabel="Green tea"
        ),
        "usd": await new_payment(
            merchant, client_id, 999, "USD", reference="B-1", referenceLabel="blue SHIRT 100%"
        ),
    }
    cancelled = await merchant.http.post(
        f"/payment/request/{made['usd']['id']}/cancel", headers=await merchant.headers()
    )
    assert cancelled.status_code == 200
    made["client_id"] = client_id
    return made


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in rows}


async def test_amount_range_is_in_major_units_of_each_currency(
    merchant: Merchant, shop: dict[str, Any]
) -> None:
    # 10.50 EUR, 15.00 USD... but 1500 JPY: "from 10 to 20" is 10.50 EUR and 9.99 USD is out
    assert ids(await listed(merchant, amountFrom="10", amountTo="20")) == {shop["eur_small"]["id"]}
    assert ids(await listed(merchant, amountFrom="1000", currency="jpy")) == {shop["jpy"]["id"]}
    assert ids(await listed(merchant, amountFrom="10.51")) == {shop["eur_big"]["id"], shop["jpy"]["id"]}
    assert ids(await listed(merchant, amountTo="9.99")) == {shop["usd"]["id"]}


async def test_search_by_id_reference_label_and_transfer_reference(
    merchant: Merchant, shop: dict[str, Any]
) -> None:
    assert ids(await listed(merchant, q=shop["jpy"]["id"])) == {shop["jpy"]["id"]}
    assert ids(await listed(merchant, q="A-2")) == {shop["eur_big"]["id"]}
    assert ids(await listed(merchant, q="BLUE")) == {shop["eur_small"]["id"], shop["usd"]["id"]}
    assert ids(await listed(merchant, q="100%")) == {shop["usd"]["id"]}
    assert await listed(merchant, q="_") == []
    reference = await transfer_reference(merchant, shop["eur_big"]["id"])
    spaced = " ".join(reference[i : i + 4] for i in range(0, len(reference), 4)).lower()
    assert ids(await listed(merchant, q=spaced)) == {shop["eur_big"]["id"]}


async def test_filters_combine_and_never_hide_old_payments(
    merchant: Merchant, shop: dict[str, Any], services: Services
) -> None:
    assert ids(await listed(merchant, status="cancelled")) == {shop["usd"]["id"]}
    assert ids(await listed(merchant, status="pending", currency="EUR", q="a-")) == set()
    assert ids(await listed(merchant, status="pending", currency="EUR")) == {
        shop["eur_small"]["id"],
        shop["eur_big"]["id"],
    }
    # a payment from two years ago is listed with no date filter
    account = uuid.UUID(merchant.credentials.account_id)
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT id FROM applications WHERE client_id = :c", {"c": shop["client_id"]}
        )
    assert row is not None
    await insert_payments(
        services.db,
        account_id=account,
        application_id=row["id"],
        count=1,
        now=services.clock().replace(year=services.clock().year - 2),
    )
    everything = await listed(merchant)
    assert len(everything) == 5
    assert everything[-1]["reference"] == "BULK-0"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"amountFrom": "ten"}, "amountFrom"),
        ({"amountFrom": "1e5"}, "amountFrom"),
        ({"amountFrom": "1_000"}, "amountFrom"),
        ({"amountTo": "+5"}, "amountTo"),
        ({"amountTo": "\u0661\u0662"}, "amountTo"),
        ({"amountFrom": "10."}, "amountFrom"),
        ({"amountTo": "-1"}, "amountTo"),
        ({"amountFrom": "20", "amountTo": "10"}, "amountFrom"),
        ({"currency": "XYZ"}, "currency"),
        ({"q": "a\x00"}, "q"),
    ],
)
async def test_bad_filters_are_422_for_the_list_and_the_export(
    merchant: Merchant, params: dict[str, str], param: str
) -> None:
    for path in ("/api/payments", "/api/payments/export"):
        answer = await merchant.http.get(path, params=params, headers=await merchant.headers())
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"]["param"] == param


async def test_the_export_holds_exactly_what_the_filters_show(
    merchant: Merchant, shop: dict[str, Any]
) -> None:
    for params in ({}, {"currency": "EUR"}, {"status": "cancelled"}, {"q": "blue"}, {"amountFrom": "10.51"}):
        rows = await exported(merchant, **params)
        assert [r["id"] for r in rows] == [p["id"] for p in await listed(merchant, **params)], params
    rows = {r["id"]: r for r in await exported(merchant)}
    small, jpy, big = rows[shop["eur_small"]["id"]], rows[shop["jpy"]["id"]], rows[shop["eur_big"]["id"]]
    assert (small["amount"], small["currency"], jpy["amount"], jpy["currency"]) == (
        "10.50",
        "EUR",
        "1500",
        "JPY",
    )
    assert (
        small["created_at (UTC)"]
        == shop["eur_small"]["createdAt"].replace("Z", "+00:00")[:25][:19] + "+00:00"
    )
    assert small["created_at (UTC)"] == small["created_at (UTC)"]  # the account's zone is UTC until set
    assert rows[shop["usd"]["id"]]["status"] == "cancelled"
    assert rows[shop["usd"]["id"]]["cancelled_at (UTC)"] != ""
    assert big["reference_label"] == "Big =SUM(A1)"  # not at the start of the cell: left as written


async def test_a_formula_at_the_start_of_a_cell_is_defused(merchant: Merchant, shop: dict[str, Any]) -> None:
    made = await new_payment(
        merchant, shop["client_id"], 100, "EUR", reference="=1+1", referenceLabel="@SUM(1)"
    )
    row = next(r for r in await exported(merchant) if r["id"] == made["id"])
    assert (row["reference"], row["reference_label"]) == ("'=1+1", "'@SUM(1)")


async def test_an_other_account_or_environment_exports_none_of_it(
    merchant: Merchant, shop: dict[str, Any], make_merchant: Any, services: Services
) -> None:
    from tests.fixtures.factories import second_key

    other = await make_merchant()
    assert ids(await exported(other)).isdisjoint(ids(await exported(merchant)))
    production = await second_key(services, merchant, "production")
    assert await exported(production) == []
    client = await merchant.http.get(
        "/api/payments/export", headers={"Authorization": f"Bearer {merchant.credentials.client_token}"}
    )
    assert client.status_code == 403


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_100000_rows_stream_in_bounded_memory(
    merchant: Merchant, services: Services, settings: Settings, tmp_path: Path
) -> None:
    """A real server streams the 100,000-row export: the client reads it as it comes,
    and the server's memory grows by a fraction of the file's size."""
    await insert_for(services.db, merchant.credentials.account_id, count=100_000, now=services.clock())
    headers = await merchant.headers()
    with serve(
        environment(settings.database_url, PAYREQ_DEFAULT_RATE_LIMIT="1000"), tmp_path / "serve.log"
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            warm = await client.get("/api/payments/export", params={"q": "BULK-1"}, headers=headers)
            assert warm.status_code == 200
            baseline = peak = _rss(server.process.pid)
            started = time.perf_counter()
            first_byte = None
            lines = size = 0
            async with client.stream("GET", "/api/payments/export", headers=headers) as answer:
                assert answer.status_code == 200
                async for chunk in answer.aiter_bytes():
                    first_byte = first_byte or time.perf_counter() - started
                    lines += chunk.count(b"\n")
                    size += len(chunk)
                    peak = max(peak, _rss(server.process.pid))
            elapsed = time.perf_counter() - started
    assert lines == 100_001
    assert size > 20_000_000
    assert first_byte is not None and first_byte < 2, f"first byte after {first_byte:.1f} s"
    assert peak - baseline < 20_000_000, f"server memory grew {(peak - baseline) / 1e6:.1f} MB"
    print(
        f"\n100,000-row export: {size / 1e6:.1f} MB in {elapsed:.1f} s, first byte after {first_byte:.2f} s, "
        f"server RSS +{(peak - baseline) / 1e6:.1f} MB"
    )
