"""Statement reconciliation over ``POST /api/statements``, on SQLite and PostgreSQL:
exactly the expected outcome per line, only exact matches of pending payments are
applied (one ``payment.paid`` event each), and importing the same file again changes
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from payreq.method import creditor_reference
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.method.conftest import (
    bank_application,
    event_types,
    import_statement,
    imported,
    new_payment,
    outcomes,
    status_of,
    transfer_reference,
)
from tests.method.statements import Entry, Tx, camt053
from tests.payment.conftest import error_of

MakeMerchant = Callable[..., Awaitable[Merchant]]
FIXTURES = Path(__file__).parent / "fixtures"

EXPECTED = [
    (2, "matched"),
    (3, "late"),
    (4, "partial"),
    (5, "overpaid"),
    (6, "unmatched"),
    (7, "unmatched"),
    (8, "duplicate"),
    (9, "wrong_currency"),
    (10, "debit"),
    (11, "pending"),
    (12, "invalid"),
    (13, "unmatched"),
    (14, "late"),
    (15, "late"),
]
AGAIN = [
    (line, "duplicate" if outcome not in ("pending", "invalid") else outcome) for line, outcome in EXPECTED
]


async def _payment(merchant: Merchant, client_id: str, amount: int, currency: str = "EUR") -> tuple[str, str]:
    payment = await new_payment(merchant, client_id, amount, currency)
    return payment["id"], await transfer_reference(merchant, payment["id"])


Numbered = list[tuple[str, str, int]]
"""Payments by id, transfer reference and amount in cents."""


async def _payments(merchant: Merchant, client_id: str, count: int) -> Numbered:
    """``count`` pending payments of 1.00, 1.01, 1.02 EUR and so on."""
    return [(*(await _payment(merchant, client_id, 100 + n)), 100 + n) for n in range(count)]


def _paying(name: str, payments: Numbered) -> bytes:
    """A CSV statement with one credit paying each of ``payments`` exactly, in that order."""
    lines = [
        f"{name}-{n},{amount / 100:.2f},EUR,{reference}" for n, (_, reference, amount) in enumerate(payments)
    ]
    return ("id,amount,currency,reference\n" + "\n".join(lines) + "\n").encode()


async def _reconciliation_fixture(
    merchant: Merchant, make_merchant: MakeMerchant, clock: object
) -> tuple[bytes, dict[str, str]]:
    """The CSV fixture with real references, and the payments behind them by name."""
    client_id = await bank_application(merchant)
    ids: dict[str, str] = {}
    refs: dict[str, str] = {}
    for name, amount in [
        ("MATCHED", 12500),
        ("LATE_CANCELLED", 4000),
        ("PARTIAL", 5000),
        ("OVERPAID", 1000),
        ("WRONG_CURRENCY", 1200),
        ("PENDING", 6000),
    ]:
        ids[name], refs[name] = await _payment(merchant, client_id, amount)
    expiring = await new_payment(merchant, client_id, 3300, expiresIn=60)
    ids["LATE_EXPIRED"], refs["LATE_EXPIRED"] = (
        expiring["id"],
        await transfer_reference(merchant, expiring["id"]),
    )
    cancelled = await merchant.http.post(
        f"/payment/request/{ids['LATE_CANCELLED']}/cancel", headers=await merchant.headers()
    )
    assert cancelled.status_code == 200, cancelled.text
    clock.advance(61)  # type: ignore[attr-defined]
    other = await make_merchant()
    other_client = await bank_application(other)
    _, refs["FOREIGN"] = await _payment(other, other_client, 2500)
    refs["UNKNOWN"] = creditor_reference.new_reference()
    text = (FIXTURES / "reconciliation.csv").read_text()
    for name, reference in refs.items():
        text = text.replace("{" + name + "}", creditor_reference.display_form(reference))
    # booked the day after the request expired (UTC, the account's default): late
    expired_on = datetime.fromisoformat(expiring["expiresAt"]).date()
    text = text.replace("{DAY_AFTER_EXPIRY}", (expired_on + timedelta(days=1)).isoformat())
    return text.encode(), ids


async def test_each_line_gets_its_outcome_and_a_second_import_changes_nothing(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services, clock: object
) -> None:
    body, ids = await _reconciliation_fixture(merchant, make_merchant, clock)

    report = await imported(merchant, body)
    assert outcomes(report) == EXPECTED
    lines = {line["line"]: line for line in report["lines"]}
    assert lines[2]["paymentId"] == ids["MATCHED"] and lines[2]["paymentStatus"] == "paid"
    assert (lines[2]["amount"], lines[2]["currencyCode"], lines[2]["bankReference"]) == (
        12500,
        "EUR",
        "T-100",
    )
    assert lines[3]["paymentStatus"] == "cancelled"
    assert lines[4]["paymentStatus"] == lines[5]["paymentStatus"] == "pending"
    assert lines[14]["paymentId"] == ids["MATCHED"] and lines[14]["paymentStatus"] == "paid"
    assert lines[15]["paymentId"] == ids["LATE_EXPIRED"] and lines[15]["paymentStatus"] == "expired"
    assert "paymentId" not in lines[13]  # another merchant's reference reveals nothing
    assert "several" not in lines[6]["message"] and "No payment" in lines[6]["message"]
    assert report["summary"]["matched"] == 1 and report["summary"]["late"] == 3
    assert sum(report["summary"].values()) == len(EXPECTED)

    statuses = {name: await status_of(merchant, pid) for name, pid in ids.items()}
    assert statuses == {
        "MATCHED": "paid",
        "LATE_CANCELLED": "cancelled",
        "PARTIAL": "pending",
        "OVERPAID": "pending",
        "WRONG_CURRENCY": "pending",
        "PENDING": "pending",
        "LATE_EXPIRED": "expired",
    }
    events = {name: await event_types(services, pid) for name, pid in ids.items()}

    again = await imported(merchant, body)
    assert outcomes(again) == AGAIN
    assert again["id"] != report["id"]
    assert {line["line"]: line.get("paymentId") for line in again["lines"]}[2] == ids["MATCHED"]
    assert {name: await status_of(merchant, pid) for name, pid in ids.items()} == statuses
    assert {name: await event_types(services, pid) for name, pid in ids.items()} == events
    assert events["MATCHED"] == ["payment.created", "payment.paid"]


async def test_the_shared_camt053_fixture_matches_its_credits_and_reports_the_rest(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    first, ref1 = await _payment(merchant, client_id, 12500)
    second, ref2 = await _payment(merchant, client_id, 9999)
    document = (FIXTURES / "camt053-basic.xml").read_text()
    document = document.replace("REPLACE-WITH-TRANSFER-REFERENCE-1", creditor_reference.display_form(ref1))
    document = document.replace("REPLACE-WITH-TRANSFER-REFERENCE-2", ref2)
    body = document.encode()

    report = await imported(merchant, body, "application/xml")
    assert report["format"] == "camt.053"
    assert outcomes(report) == [(1, "matched"), (2, "matched"), (3, "unmatched"), (4, "debit")]
    assert [line.get("paymentId") for line in report["lines"]] == [first, second, None, None]
    assert [line["bankReference"] for line in report["lines"]] == [f"BANKREF-778{i}" for i in range(1, 5)]
    assert report["lines"][0]["payer"] == "Jane Payer"
    assert await status_of(merchant, first) == await status_of(merchant, second) == "paid"

    again = await imported(merchant, body, "application/xml")
    assert outcomes(again) == [(1, "duplicate"), (2, "duplicate"), (3, "duplicate"), (4, "duplicate")]
    assert await event_types(services, first) == ["payment.created", "payment.paid"]


async def test_batch_booked_transactions_structured_references_reversals_and_pending_entries(
    merchant: Merchant,
) -> None:
    client_id = await bank_application(merchant)
    a, ref_a = await _payment(merchant, client_id, 1000)
    b, ref_b = await _payment(merchant, client_id, 2000)
    c, ref_c = await _payment(merchant, client_id, 3000)
    d, ref_d = await _payment(merchant, client_id, 4000)
    statement = camt053(
        Entry(
            "30.00",
            servicer_ref="BATCH-1",
            txs=[Tx("10.00", unstructured=[f"Invoice {ref_a}"]), Tx("20.00", structured=[ref_b])],
        ),
        Entry("10.00", credit=False, reversal=True, servicer_ref="REV-1", info=f"Reversal {ref_a}"),
        Entry("30.00", servicer_ref="PEND-1", status="PDNG", txs=[Tx("30.00", structured=[ref_c])]),
        Entry("40.00", servicer_ref="RET-1", txs=[Tx("40.00", unstructured=[ref_d], returned=True)]),
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [
        (1, "matched"),
        (2, "matched"),
        (3, "reversal"),
        (4, "pending"),
        (5, "reversal"),
    ]
    assert report["lines"][0]["bankReference"] == "BATCH-1#1"
    assert [await status_of(merchant, p) for p in (a, b, c, d)] == ["paid", "paid", "pending", "pending"]

    # the next day's statement books the pending entry: now it applies, once
    booked = camt053(
        Entry("30.00", servicer_ref="PEND-1", txs=[Tx("30.00", structured=[ref_c])]), statement_id="STMT-2"
    )
    assert outcomes(await imported(merchant, booked, "application/xml")) == [(1, "matched")]
    assert outcomes(await imported(merchant, booked, "application/xml")) == [(1, "duplicate")]
    assert await status_of(merchant, c) == "paid"


async def test_a_line_naming_two_payments_applies_to_neither(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    a, ref_a = await _payment(merchant, client_id, 1000)
    b, ref_b = await _payment(merchant, client_id, 1000)
    body = f"id,amount,currency,reference\nX-1,10.00,EUR,{ref_a} {ref_b}\n".encode()
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "unmatched")]
    assert "several payments" in report["lines"][0]["message"]
    assert [await status_of(merchant, p) for p in (a, b)] == ["pending", "pending"]


async def test_concurrent_imports_of_one_file_apply_each_line_once(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    paid, reference = await _payment(merchant, client_id, 5000)
    body = f"id,amount,currency,reference\nC-1,50.00,EUR,{reference}\n".encode()
    reports = await asyncio.gather(*(imported(merchant, body) for _ in range(4)))
    assert sorted(outcome for report in reports for _, outcome in outcomes(report)) == ["duplicate"] * 3 + [
        "matched"
    ]
    assert await event_types(services, paid) == ["payment.created", "payment.paid"]


async def test_concurrent_imports_of_one_tenant_paying_different_payments_both_finish(
    merchant: Merchant, services: Services
) -> None:
    """Two files of one tenant, each paying its own payments, imported at once: both
    finish (201), every line is matched, and each payment is paid once. The files meet
    the same rollup rows (one tenant, day and currency, sixteen slots) in opposite
    orders: the first file's payments by ascending slot, the second's descending. When
    a batch wrote each payment's rollups as it paid it, the two transactions held some
    slots each and waited for the other's, and PostgreSQL ended one of them as a
    deadlock (503, the import failed part-way). (Batches of one tenant now also take
    turns; the cancellations below are what meets the held rollups alone.)"""
    client_id = await bank_application(merchant)
    made = await _payments(merchant, client_id, 96)
    by_slot = sorted(made, key=lambda payment: payment[0][-1])
    first, second = by_slot[0::2], by_slot[1::2][::-1]

    answers = await asyncio.gather(
        import_statement(merchant, _paying("A", first)), import_statement(merchant, _paying("B", second))
    )
    assert [answer.status_code for answer in answers] == [201, 201], [answer.text for answer in answers]
    for answer, payments in zip(answers, (first, second), strict=True):
        assert [outcome for _, outcome in outcomes(answer.json())] == ["matched"] * len(payments)
    for payment_id, *_ in made:
        assert await event_types(services, payment_id) == ["payment.created", "payment.paid"]


async def test_an_import_and_cancellations_of_its_payments_at_once_all_finish(
    merchant: Merchant, services: Services
) -> None:
    """An import paying 48 payments while the merchant cancels the same payments, last
    first: the import finishes (201) and every cancellation answers 200 or 409, never
    503; each payment ends paid (its line matched) or cancelled (its line late). When
    a batch wrote the audit chain's head with its first payment, a cancellation held
    a later payment and waited for that head, while the batch waited for the payment:
    a deadlock on PostgreSQL."""
    client_id = await bank_application(merchant)
    made = await _payments(merchant, client_id, 48)
    body = _paying("C", made)
    headers = await merchant.headers()

    async def cancel(payment_id: str) -> int:
        answer = await merchant.http.post(f"/payment/request/{payment_id}/cancel", headers=headers)
        assert answer.status_code in (200, 409), answer.text
        return answer.status_code

    importing = asyncio.ensure_future(import_statement(merchant, body))
    # the cancellations begin once the import is recorded running: its batch is next
    while not (await merchant.http.get("/api/statements", headers=headers)).json()["data"]:
        await asyncio.sleep(0)
    cancelled = [await cancel(payment_id) for payment_id, *_ in made[::-1]]
    answer = await importing
    assert answer.status_code == 201, answer.text
    outcome = {line["paymentId"]: line["outcome"] for line in answer.json()["lines"]}
    for (payment_id, *_), status in zip(made[::-1], cancelled, strict=True):
        expected = (
            ("late", "cancelled", "payment.cancelled")
            if status == 200
            else ("matched", "paid", "payment.paid")
        )
        assert (outcome[payment_id], await status_of(merchant, payment_id)) == expected[:2]
        assert await event_types(services, payment_id) == ["payment.created", expected[2]]
    # one audit entry per payment, of its move, on a chain that still verifies
    entries, cursor = [], None
    while True:
        page = await merchant.http.get(
            "/api/audit-log", params={"limit": 100, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        entries += page.json()["data"]
        if not page.json()["hasMore"]:
            break
        cursor = page.json()["nextCursor"]
    moves = sorted((e["targetId"], e["kind"]) for e in entries if e["kind"].startswith("payment."))
    assert moves == sorted(
        (payment_id, "payment.cancelled" if status == 200 else "payment.paid")
        for (payment_id, *_), status in zip(made[::-1], cancelled, strict=True)
    )
    assert (await services.audit.verify(services.db)).problems == []


async def test_concurrent_imports_of_one_tenant_paying_the_same_payments_in_opposite_orders_both_finish(
    merchant: Merchant, services: Services
) -> None:
    """A notification (camt.054) and the day's statement listing the same transfers in
    another order, imported at once: both finish (201), each payment is paid once, by
    one of the two lines that name it. Each batch would take the same payment rows in
    the opposite order of the other's, so two batches of one tenant take turns."""
    client_id = await bank_application(merchant)
    made = await _payments(merchant, client_id, 48)

    answers = await asyncio.gather(
        import_statement(merchant, _paying("A", made)), import_statement(merchant, _paying("B", made[::-1]))
    )
    assert [answer.status_code for answer in answers] == [201, 201], [answer.text for answer in answers]
    matched = [
        line["paymentId"]
        for answer in answers
        for line in answer.json()["lines"]
        if line["outcome"] == "matched"
    ]
    assert sorted(matched) == sorted(payment_id for payment_id, *_ in made)
    for payment_id, *_ in made:
        assert await event_types(services, payment_id) == ["payment.created", "payment.paid"]


async def test_a_statement_reaches_only_its_own_environment(make_merchant: MakeMerchant) -> None:
    sandbox = await make_merchant()
    client_id = await bank_application(sandbox)
    payment, reference = await _payment(sandbox, client_id, 1000)
    production = await make_merchant(environment="production")
    body = f"id,amount,currency,reference\nE-1,10.00,EUR,{reference}\n".encode()
    assert outcomes(await imported(production, body)) == [(2, "unmatched")]
    assert await status_of(sandbox, payment) == "pending"


async def test_an_import_report_can_be_read_again_by_its_account_only(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    report = await imported(merchant, b"id,amount,currency,reference\nR-1,1.00,EUR,nothing\n")
    answer = await merchant.http.get(f"/api/statements/{report['id']}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    assert answer.json() == report
    other = await make_merchant()
    for import_id in (report["id"], "not-a-uuid"):
        error_of(
            await other.http.get(f"/api/statements/{import_id}", headers=await other.headers()),
            404,
            "not_found",
        )


async def test_statement_imports_need_an_access_token_with_every_scope(merchant: Merchant) -> None:
    body = b"id,amount,currency,reference\nA-1,1.00,EUR,x\n"
    no_token = await merchant.http.post("/api/statements", content=body)
    error_of(no_token, 401, "authentication_error")
    client_token = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    error_of(
        await merchant.http.post("/api/statements", content=body, headers=client_token),
        403,
        "permission_error",
    )
    narrow = {"Authorization": f"Bearer {await merchant.token('payments.create payments.get')}"}
    error_of(
        await merchant.http.post("/api/statements", content=body, headers=narrow), 403, "permission_error"
    )


async def test_unreadable_statements_are_422_and_import_nothing(merchant: Merchant) -> None:
    for body, content_type in [
        (b"date,amount\n2026-11-21,5\n", "text/csv"),
        (b"<Document", "application/xml"),
        (b"", "text/csv"),
        (b"\xff\xfe\x00", "text/csv"),
    ]:
        error = error_of(await import_statement(merchant, body, content_type), 422, "validation_error")
        assert error["code"] in ("unreadable_statement", "empty_statement"), error
    error = error_of(
        await import_statement(merchant, b"a", "text/csv", query="?format=mt940"), 422, "validation_error"
    )
    assert error["param"] == "format"


async def test_a_nul_in_any_csv_cell_refuses_the_file_naming_the_cell_and_imports_nothing(
    merchant: Merchant,
) -> None:
    """One answer on both engines (PostgreSQL cannot store NUL, SQLite can): 422 naming
    the line and the column, nothing recorded, every time; the same file without the
    NUL then imports whole."""
    client_id = await bank_application(merchant)
    first, second = [await new_payment(merchant, client_id, amount) for amount in (1111, 2222)]
    ref1, ref2 = [await transfer_reference(merchant, p["id"]) for p in (first, second)]
    header = "date,amount,currency,reference,id,payer,note"
    rows = [
        f"2026-11-21,11.11,EUR,{ref1},N-1,Jane,",
        "2026-11-21,1.00,EUR,lunch,N-2,Jo\x00hn,",
        f"2026-11-21,22.22,EUR,{ref2},N-3,Ann,",
    ]
    body = "\n".join([header, *rows]) + "\n"
    headers = {**(await merchant.headers()), "Content-Type": "text/csv", "Prefer": "respond-async"}
    for attempt in range(2):
        error = error_of(await import_statement(merchant, body.encode()), 422, "validation_error")
        assert error["code"] == "unreadable_statement", error
        assert (
            'at line 3, column 6 ("payer")' in error["message"] and "Nothing was imported" in error["message"]
        )
        background = await merchant.http.post("/api/statements", content=body.encode(), headers=headers)
        assert error_of(background, 422, "validation_error")["message"] == error["message"], attempt
    # in a column that is ignored, in the bank's id of a line that is invalid anyway, in the header
    for broken, where in [
        (body.replace("Jo\x00hn", "John").replace("Ann,", "Ann,x\x00"), 'line 4, column 7 ("note")'),
        (
            body.replace("Jo\x00hn", "John").replace("EUR,lunch,N-2", "XX,lunch,N\x002"),
            'line 3, column 5 ("id")',
        ),
        (body.replace("Jo\x00hn", "John").replace("note", "no\x00te"), "line 1, column 7;"),
    ]:
        error = error_of(await import_statement(merchant, broken.encode()), 422, "validation_error")
        assert where in error["message"], (where, error)
    listed = await merchant.http.get("/api/statements", headers=await merchant.headers())
    assert listed.status_code == 200 and listed.json()["data"] == []
    assert [await status_of(merchant, p["id"]) for p in (first, second)] == ["pending", "pending"]

    report = await imported(merchant, body.replace("Jo\x00hn", "John").encode())
    assert outcomes(report) == [(2, "matched"), (3, "unmatched"), (4, "matched")]
    assert [await status_of(merchant, p["id"]) for p in (first, second)] == ["paid", "paid"]


async def test_a_statement_over_ten_mebibytes_is_413(merchant: Merchant, http: httpx.AsyncClient) -> None:
    body = b"id,amount,currency,reference\n" + b"x" * (10 * 1024 * 1024)
    answer = await import_statement(merchant, body)
    error = error_of(answer, 413, "payload_too_large")
    assert error["message"] == "The request body is larger than 10 MiB."
