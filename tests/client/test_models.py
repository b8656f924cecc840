"""Typed, frozen models with datetime and int minor units; lists that page by themselves."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from payreq.client import Page, Payment, PaymentRequest, PaymentStatus, StatementImport
from tests.client.fakes import Recorder, async_client, client, payment_a, payment_b


def test_a_payment_request_reads_times_as_datetimes_and_the_amount_as_an_int() -> None:
    payment = PaymentRequest.from_json(payment_a(status="paid"))
    assert payment.amount == 10000 and isinstance(payment.amount, int)
    assert payment.status is PaymentStatus.PAID and payment.status.terminal
    assert payment.created_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert payment.paid_at == datetime(2026, 12, 1, 8, 5, 0, 250000, tzinfo=UTC)
    assert payment.cancelled_at is None
    assert payment.metadata == {"cart": "42"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        payment.status = PaymentStatus.PENDING  # type: ignore[misc]


def test_a_contract_b_payment_keeps_its_names_and_ignores_unknown_fields() -> None:
    payment = Payment.from_json({**payment_b(), "someNewField": 1})
    assert (payment.currency_code, payment.reference, payment.reference_label, payment.client_id) == (
        "USD",
        "ORDER-123",
        "Order #123",
        "a" * 32,
    )
    assert payment.amount == 10000
    assert not payment.status.terminal


def pages_of(ids: list[list[str]], cursor_field: str, more_field: str) -> Recorder:
    """A list endpoint serving ``ids`` as pages, each page's cursor its last id."""

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("starting_after") or request.url.params.get("cursor")
        index = 0 if after is None else next(i for i, page in enumerate(ids) if page[-1] == after) + 1
        page = ids[index]
        data = [payment_a(id=i) if cursor_field == "next_starting_after" else payment_b(id=i) for i in page]
        body = {"data": data, more_field: index < len(ids) - 1, cursor_field: page[-1]}
        return httpx.Response(200, json=body)

    return Recorder(handler)


def test_a_list_iterates_every_page_and_sends_the_filters_on_each() -> None:
    server = pages_of([["a", "b"], ["c", "d"], ["e"]], "next_starting_after", "has_more")
    ids = [p.id for p in client(server, rate_limit=None).list_payment_requests(status="paid", limit=2)]
    assert ids == ["a", "b", "c", "d", "e"]
    queries = [dict(r.url.params) for r in server.api()]
    assert queries == [
        {"status": "paid", "limit": "2"},
        {"status": "paid", "limit": "2", "starting_after": "b"},
        {"status": "paid", "limit": "2", "starting_after": "d"},
    ]


def test_pages_gives_one_page_at_a_time_and_fetches_lazily() -> None:
    server = pages_of([["a", "b"], ["c"]], "nextCursor", "hasMore")
    pages = (
        client(server, rate_limit=None)
        .list_payments(client_id="x" * 32, created_from=datetime(2026, 11, 1, tzinfo=UTC))
        .pages()
    )
    first = next(pages)
    assert isinstance(first, Page) and [p.id for p in first.data] == ["a", "b"] and first.has_more
    assert len(server.api()) == 1
    second = next(pages)
    assert [p.id for p in second.data] == ["c"] and not second.has_more
    assert dict(server.api()[1].url.params) == {
        "clientId": "x" * 32,
        "createdFrom": "2026-11-01T00:00:00+00:00",
        "cursor": "b",
    }
    assert list(pages) == []


def test_a_naive_datetime_is_refused_before_anything_is_sent() -> None:
    server = pages_of([["a"]], "nextCursor", "hasMore")
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client(server).list_payments(created_from=datetime(2026, 11, 1)))
    assert server.requests == []


async def test_async_lists_page_the_same_way() -> None:
    server = pages_of([["a", "b"], ["c", "d"], ["e"]], "nextCursor", "hasMore")
    async with async_client(server, rate_limit=None) as payreq:
        ids = [p.id async for p in payreq.list_payments(status="pending")]
        pages = [len(page.data) async for page in payreq.list_payments().pages()]
    assert ids == ["a", "b", "c", "d", "e"]
    assert pages == [2, 2, 1]


def test_a_statement_report_reads_the_fields_of_servers_that_page_and_resolve_lines() -> None:
    body = {
        "id": "s1",
        "format": "camt.053",
        "source": "api",
        "filename": None,
        "createdAt": "2026-12-01T08:00:00Z",
        "summary": {"late": 1},
        "status": "finished",
        "nextCursor": "100",
        "lineCount": 250,
        "lines": [
            {
                "line": 1,
                "outcome": "late",
                "message": "m",
                "amount": 1250,
                "bookingDate": "2026-11-30",
                "resolution": "accepted",
            }
        ],
    }
    report = StatementImport.from_json(body)
    assert (report.status, report.next_cursor) == ("finished", "100")
    (line,) = report.lines
    assert (line.resolution, line.amount, line.booking_date.isoformat() if line.booking_date else None) == (
        "accepted",
        1250,
        "2026-11-30",
    )
    older = StatementImport.from_json({k: v for k, v in body.items() if k not in ("status", "nextCursor")})
    assert (older.status, older.next_cursor) == (None, None)
