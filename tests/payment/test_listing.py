"""``GET /payment/request`` (SPEC §2): newest first, cursor pagination with
``limit`` / ``starting_after`` / ``has_more`` / ``next_starting_after``, filters."""

from __future__ import annotations

from typing import Any

import pytest

from payreq.kit.clock import FrozenClock
from payreq.payment.models import PaymentDraft
from payreq.payment.service import PaymentService
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of, pay, ts

URL = "/payment/request"


async def listing(merchant: Merchant, **params: Any) -> dict[str, Any]:
    answer = await merchant.http.get(URL, params=params, headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"data", "has_more", "next_starting_after"}
    return body


async def every_page(merchant: Merchant, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Follow ``next_starting_after`` to the end; check each page's paging fields."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await listing(
            merchant, limit=limit, **params, **({"starting_after": cursor} if cursor else {})
        )
        pages.append(page)
        if page["has_more"]:
            assert len(page["data"]) == limit
            assert page["next_starting_after"] == page["data"][-1]["id"]
            cursor = page["next_starting_after"]
        else:
            assert page["next_starting_after"] is None
            return pages
        assert len(pages) < 100, "paging does not end"


async def bulk_create(
    services: Services, merchant: Merchant, count: int, *, frozen: bool = False
) -> list[str]:
    """``count`` requests through the payment service in one unit of work, oldest first;
    with ``frozen`` they all share one creation time."""
    payments = services.payments
    if frozen:
        payments = PaymentService(base_url=services.settings.base_url, clock=FrozenClock(services.clock()))
    subject = await services.authenticator.authenticate(f"Bearer {await merchant.token()}")
    draft = PaymentDraft(amount="1000", currency="USD", redirect_url="https://shop.example/thanks")
    async with services.db.transaction() as conn:
        return [str((await payments.create(conn, subject, draft)).id) for _ in range(count)]


async def test_listing_is_newest_first_and_shows_what_get_shows(merchant: Merchant) -> None:
    created = [await merchant.create_payment(reference_id=f"order-{i}") for i in range(3)]

    page = await listing(merchant)

    assert [p["id"] for p in page["data"]] == [c["id"] for c in reversed(created)]
    stamps = [ts(p["created_at"]) for p in page["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert page["has_more"] is False and page["next_starting_after"] is None
    for item in page["data"]:
        read = await merchant.http.get(f"{URL}/{item['id']}", headers=await merchant.headers())
        assert read.json() == item


async def test_empty_account_lists_nothing(merchant: Merchant) -> None:
    assert await listing(merchant) == {"data": [], "has_more": False, "next_starting_after": None}


async def test_paging_through_25_requests_returns_each_once_in_order(merchant: Merchant) -> None:
    created = [(await merchant.create_payment())["id"] for _ in range(25)]

    pages = await every_page(merchant, limit=7)

    assert [len(p["data"]) for p in pages] == [7, 7, 7, 4]
    assert [p["has_more"] for p in pages] == [True, True, True, False]
    seen = [item["id"] for page in pages for item in page["data"]]
    assert seen == list(reversed(created))
    assert len(set(seen)) == 25


async def test_paging_is_exact_when_requests_share_a_creation_time(
    merchant: Merchant, services: Services
) -> None:
    created = await bulk_create(services, merchant, 12, frozen=True)

    pages = await every_page(merchant, limit=5)

    seen = [item["id"] for page in pages for item in page["data"]]
    assert seen == sorted(created, reverse=True)  # ties broken by id, descending
    assert len(set(seen)) == 12
    assert [len(p["data"]) for p in pages] == [5, 5, 2]
    assert len({item["created_at"] for page in pages for item in page["data"]}) == 1


async def test_full_page_at_the_end_has_no_more(merchant: Merchant) -> None:
    created = [(await merchant.create_payment())["id"] for _ in range(4)]

    first = await listing(merchant, limit=2)
    second = await listing(merchant, limit=2, starting_after=first["next_starting_after"])

    assert first["has_more"] is True
    assert first["next_starting_after"] == created[2]
    assert [p["id"] for p in second["data"]] == [created[1], created[0]]
    assert second["has_more"] is False
    assert second["next_starting_after"] is None
    last = await listing(merchant, limit=2, starting_after=created[0])
    assert last == {"data": [], "has_more": False, "next_starting_after": None}


async def test_default_limit_is_10(merchant: Merchant, services: Services) -> None:
    await bulk_create(services, merchant, 11)

    page = await listing(merchant)

    assert len(page["data"]) == 10
    assert page["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "-5"])
async def test_limit_below_one_is_clamped_to_one(merchant: Merchant, limit: str) -> None:
    created = [(await merchant.create_payment())["id"] for _ in range(2)]

    page = await listing(merchant, limit=limit)

    assert [p["id"] for p in page["data"]] == [created[-1]]
    assert page["has_more"] is True
    assert page["next_starting_after"] == created[-1]


async def test_limit_above_100_is_clamped_to_100(merchant: Merchant, services: Services) -> None:
    created = await bulk_create(services, merchant, 101)

    page = await listing(merchant, limit=100000)

    assert len(page["data"]) == 100
    assert page["has_more"] is True
    rest = await listing(merchant, limit=100000, starting_after=page["next_starting_after"])
    assert [p["id"] for p in page["data"] + rest["data"]] == list(reversed(created))
    assert rest["has_more"] is False


@pytest.mark.parametrize("limit", ["abc", "1.5", ""])
async def test_non_integer_limit_returns_422_naming_the_parameter(merchant: Merchant, limit: str) -> None:
    answer = await merchant.http.get(URL, params={"limit": limit}, headers=await merchant.headers())

    error = error_of(answer, 422, "validation_error")
    assert "limit" in error["message"]
    assert error["param"] == "limit"


async def test_status_filter(merchant: Merchant, services: Services) -> None:
    pending = [(await merchant.create_payment())["id"] for _ in range(2)]
    cancelled = (await merchant.create_payment())["id"]
    paid = (await merchant.create_payment())["id"]
    answer = await merchant.http.post(f"{URL}/{cancelled}/cancel", headers=await merchant.headers())
    assert answer.status_code == 200
    await pay(services, merchant, paid)

    async def ids(status: str) -> list[str]:
        page = await listing(merchant, status=status)
        assert all(p["status"] == status for p in page["data"])
        return [p["id"] for p in page["data"]]

    assert await ids("pending") == list(reversed(pending))
    assert await ids("cancelled") == [cancelled]
    assert await ids("paid") == [paid]
    assert await ids("expired") == []


async def test_status_filter_pages_with_a_cursor(merchant: Merchant) -> None:
    created = [(await merchant.create_payment())["id"] for _ in range(6)]
    for payment_id in created[::2]:
        answer = await merchant.http.post(f"{URL}/{payment_id}/cancel", headers=await merchant.headers())
        assert answer.status_code == 200

    pages = await every_page(merchant, limit=2, status="cancelled")

    assert [item["id"] for page in pages for item in page["data"]] == list(reversed(created[::2]))


async def test_reference_id_filter(merchant: Merchant) -> None:
    first = await merchant.create_payment(reference_id="order-1")
    await merchant.create_payment(reference_id="order-2")
    again = await merchant.create_payment(reference_id="order-1")
    await merchant.create_payment()

    page = await listing(merchant, reference_id="order-1")

    assert [p["id"] for p in page["data"]] == [again["id"], first["id"]]
    assert all(p["reference_id"] == "order-1" for p in page["data"])
    assert (await listing(merchant, reference_id="order-9"))["data"] == []
    assert (await listing(merchant, reference_id="ORDER-1"))["data"] == []
    both = await listing(merchant, reference_id="order-1", status="pending", limit=1)
    assert [p["id"] for p in both["data"]] == [again["id"]]
    assert both["has_more"] is True


@pytest.mark.parametrize("cursor", ["3f1c2d2e-7d0a-4c55-9a43-8d3b8f0e6a11", "abc", ""])
async def test_unknown_starting_after_returns_422(merchant: Merchant, cursor: str) -> None:
    await merchant.create_payment()

    answer = await merchant.http.get(URL, params={"starting_after": cursor}, headers=await merchant.headers())

    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "starting_after"


@pytest.mark.parametrize("status", ["bogus", "PAID", "", "pending,paid"])
async def test_unknown_status_returns_422(merchant: Merchant, status: str) -> None:
    answer = await merchant.http.get(URL, params={"status": status}, headers=await merchant.headers())

    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "status"


async def test_a_nul_in_a_text_filter_is_422_naming_the_filter(merchant: Merchant) -> None:
    headers = await merchant.headers()
    answer = await merchant.http.get(URL, params={"reference_id": "a\x00b"}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "reference_id"
    answer = await merchant.http.get("/api/payments", params={"reference": "a\x00b"}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "reference"
    answer = await merchant.http.get("/api/payments", params={"clientId": "\x00"}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "clientId"
