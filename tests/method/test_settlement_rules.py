"""Issue 10's money rules over the real API, on SQLite and PostgreSQL: amounts in the
ISO 4217 minor unit, one line per payer, a transfer booked in time settles an expired
request, camt.054 then camt.053 applies once, and the merchant resolves late,
partial and overpaid lines (once, by whom)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from payreq.account.repository import api_key_by_client_id
from payreq.method import repository
from payreq.method.statements.reconcile import Reconciler
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.method.conftest import (
    bank_application,
    event_types,
    imported,
    new_payment,
    outcomes,
    status_of,
    transfer_reference,
)
from tests.method.statements import Entry, Tx, camt053, camt054, csv_text
from tests.payment.conftest import error_of, event_data, events, tenant_of

if TYPE_CHECKING:
    from tests.conftest import MovableClock


async def _payment(
    merchant: Merchant, client_id: str, amount: int, currency: str = "EUR", **fields: Any
) -> tuple[dict[str, Any], str]:
    payment = await new_payment(merchant, client_id, amount, currency, **fields)
    return payment, await transfer_reference(merchant, payment["id"])


def _day(payment: dict[str, Any], zone: str = "UTC", days: int = 0) -> str:
    """The payment's expiry day in ``zone``, moved by ``days``."""
    expires = datetime.fromisoformat(payment["expiresAt"]).astimezone(ZoneInfo(zone))
    return (expires.date() + timedelta(days=days)).isoformat()


async def resolve(merchant: Merchant, import_id: str, line: int, action: str) -> httpx.Response:
    return await merchant.http.post(
        f"/api/statements/{import_id}/lines/{line}/resolve",
        json={"action": action},
        headers=await merchant.headers(),
    )


async def _api_key_id(services: Services, merchant: Merchant) -> str:
    async with services.db.read() as conn:
        row = await api_key_by_client_id(conn, merchant.credentials.client_id)
    assert row is not None
    return str(row["id"])


# -- amounts in the ISO 4217 minor unit ----------------------------------------------------


async def test_huf_jpy_and_kwd_payments_are_matched_by_lines_in_major_units(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    huf, huf_ref = await _payment(merchant, client_id, 12500, "HUF")  # 125.00 Ft (ISO: 2 digits)
    jpy, jpy_ref = await _payment(merchant, client_id, 500, "JPY")  # 500 yen (0 digits)
    kwd, kwd_ref = await _payment(merchant, client_id, 1500, "KWD")  # 1.500 KD (3 digits)
    body = csv_text(
        f"H-1,2026-11-21,125.00,HUF,{huf_ref},Hanna",
        f"J-1,2026-11-21,500,JPY,{jpy_ref},Jun",
        f"K-1,2026-11-21,1.500,KWD,{kwd_ref},Karim",
    )
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "matched"), (3, "matched"), (4, "matched")]
    assert [line["amount"] for line in report["lines"]] == [12500, 500, 1500]
    assert [await status_of(merchant, p["id"]) for p in (huf, jpy, kwd)] == ["paid"] * 3


async def test_the_transfer_instructions_ask_for_the_iso_amount(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    huf = await new_payment(merchant, client_id, 12500, "HUF")
    answer = await merchant.http.get(
        f"/api/payment/{huf['id']}/instructions?method=bank_transfer", headers=await merchant.headers()
    )
    assert answer.status_code == 200, answer.text
    amount = next(d for d in answer.json()["details"] if d["label"] == "Amount")
    assert amount["value"] == "125.00 HUF"


# -- one line per payer ------------------------------------------------------------------------


async def test_two_payers_with_the_same_amount_on_the_same_day_are_two_lines(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    first, ref1 = await _payment(merchant, client_id, 5000)
    second, ref2 = await _payment(merchant, client_id, 5000)
    # no AcctSvcrRef and no NtryRef: the bank gave these entries no reference at all
    statement = camt053(
        Entry("50.00", txs=[Tx("50.00", structured=[ref1], payer="Anna")]),
        Entry("50.00", txs=[Tx("50.00", structured=[ref2], payer="Bert")]),
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "matched"), (2, "matched")]
    assert [await status_of(merchant, p["id"]) for p in (first, second)] == ["paid", "paid"]
    again = await imported(merchant, statement, "application/xml")  # a true re-import
    assert outcomes(again) == [(1, "duplicate"), (2, "duplicate")]


async def test_two_payers_in_a_csv_without_ids_are_two_lines_and_a_reimport_is_duplicate(
    merchant: Merchant,
) -> None:
    client_id = await bank_application(merchant)
    first, ref1 = await _payment(merchant, client_id, 5000)
    second, ref2 = await _payment(merchant, client_id, 5000)
    body = csv_text(f",2026-11-21,50.00,EUR,{ref1},Anna", f",2026-11-21,50.00,EUR,{ref2},Bert")
    assert outcomes(await imported(merchant, body)) == [(2, "matched"), (3, "matched")]
    assert outcomes(await imported(merchant, body)) == [(2, "duplicate"), (3, "duplicate")]
    assert [await status_of(merchant, p["id"]) for p in (first, second)] == ["paid", "paid"]


# -- booked in time -----------------------------------------------------------------------------


async def test_a_transfer_booked_on_the_expiry_day_and_imported_after_it_settles_the_payment(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 3300, expiresIn=60)
    clock.advance(120)
    assert await status_of(merchant, payment["id"]) == "expired"
    statement = camt053(Entry("33.00", booked=_day(payment), txs=[Tx("33.00", structured=[reference])]))
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "matched")]
    assert "booked the transfer in time" in report["lines"][0]["message"]
    assert report["lines"][0]["paymentStatus"] == "paid"
    shown = await merchant.http.get(f"/api/payment/{payment['id']}", headers=await merchant.headers())
    assert shown.json()["status"] == "paid" and shown.json()["paidAt"] is not None
    assert shown.json()["expiredAt"] == payment["expiresAt"]
    rows = await events(services, payment["id"])
    assert [row["type"] for row in rows] == ["payment.created", "payment.expired", "payment.paid"]
    assert [event_data(row)["previousStatus"] for row in rows] == [None, "pending", "expired"]
    assert event_data(rows[-1])["status"] == "paid"


async def test_the_value_date_counts_when_there_is_no_booking_date(
    merchant: Merchant, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 3300, expiresIn=60)
    clock.advance(120)
    statement = camt053(
        Entry("33.00", booked=None, value=_day(payment), txs=[Tx("33.00", structured=[reference])])
    )
    assert outcomes(await imported(merchant, statement, "application/xml")) == [(1, "matched")]
    assert await status_of(merchant, payment["id"]) == "paid"


async def test_the_expiry_day_is_taken_in_the_accounts_time_zone(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 3300, expiresIn=60)
    # UTC+14 and UTC-12 are 26 hours apart: in one of them the expiry day is not UTC's
    ahead = _day(payment, "Etc/GMT-14") != _day(payment)
    zone = "Etc/GMT-14" if ahead else "Etc/GMT+12"
    async with services.db.transaction() as conn:
        assert await services.accounts.set_timezone(conn, tenant_of(merchant).account_id, zone) == zone
    clock.advance(120)
    # ahead: booked on the local expiry day, which is UTC's next day (late in UTC)
    # behind: booked on UTC's expiry day, which is the local day after expiry (in time in UTC)
    booked = _day(payment, zone) if ahead else _day(payment)
    statement = camt053(Entry("33.00", booked=booked, txs=[Tx("33.00", structured=[reference])]))
    expected = "matched" if ahead else "late"
    assert outcomes(await imported(merchant, statement, "application/xml")) == [(1, expected)]
    assert await status_of(merchant, payment["id"]) == ("paid" if ahead else "expired")


def _around_midnight(payment: dict[str, Any], zone: str, minutes: int, shift_hours: int) -> str:
    """A booking ``DtTm``: ``minutes`` after the end of the payment's expiry day in
    ``zone`` (negative: before it), written with the offset of ``zone`` moved by
    ``shift_hours``, so that the date as written is not the account's day."""
    tz = ZoneInfo(zone)
    day = datetime.fromisoformat(_day(payment, zone)).date() + timedelta(days=1)
    end = datetime(day.year, day.month, day.day, tzinfo=tz)
    moment = end + timedelta(minutes=minutes)
    offset = moment.utcoffset()
    assert offset is not None
    return moment.astimezone(timezone(offset + timedelta(hours=shift_hours))).isoformat()


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT-5", "America/Los_Angeles"])
async def test_a_booking_time_with_an_offset_is_taken_as_the_accounts_day(
    merchant: Merchant, services: Services, clock: MovableClock, zone: str
) -> None:
    client_id = await bank_application(merchant)
    in_time, ref1 = await _payment(merchant, client_id, 3300, expiresIn=60)
    late, ref2 = await _payment(merchant, client_id, 4400, expiresIn=60)
    async with services.db.transaction() as conn:
        await services.accounts.set_timezone(conn, tenant_of(merchant).account_id, zone)
    clock.advance(120)
    # a minute before the account's midnight, written three hours ahead: the next day as written
    before = _around_midnight(in_time, zone, -1, +3)
    # a minute after it, written three hours behind: the expiry day as written
    after = _around_midnight(late, zone, +1, -3)
    assert before[:10] > _day(in_time, zone) and after[:10] == _day(late, zone)
    statement = camt053(
        Entry(
            "33.00", booked=None, booked_at=before, servicer_ref="T-1", txs=[Tx("33.00", structured=[ref1])]
        ),
        Entry(
            "44.00", booked=None, booked_at=after, servicer_ref="T-2", txs=[Tx("44.00", structured=[ref2])]
        ),
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "matched"), (2, "late")]
    assert [line["bookingDate"] for line in report["lines"]] == [_day(in_time, zone), _day(late, zone, 1)]
    assert f"booked {_day(late, zone, 1)}" in report["lines"][1]["message"]
    assert [await status_of(merchant, p["id"]) for p in (in_time, late)] == ["paid", "expired"]


async def test_a_booking_time_without_an_offset_is_the_accounts_local_time(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    in_time, ref1 = await _payment(merchant, client_id, 3300, expiresIn=60)
    late, ref2 = await _payment(merchant, client_id, 4400, expiresIn=60)
    zone = "Etc/GMT-14"  # UTC+14: read as UTC, 20:00 would be the next day here
    async with services.db.transaction() as conn:
        await services.accounts.set_timezone(conn, tenant_of(merchant).account_id, zone)
    clock.advance(120)
    statement = camt053(
        Entry(
            "33.00",
            booked=None,
            booked_at=f"{_day(in_time, zone)}T20:00:00",
            servicer_ref="L-1",
            txs=[Tx("33.00", structured=[ref1])],
        ),
        Entry(
            "44.00",
            booked=None,
            booked_at=f"{_day(late, zone, 1)}T00:30:00",
            servicer_ref="L-2",
            txs=[Tx("44.00", structured=[ref2])],
        ),
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "matched"), (2, "late")]
    assert [await status_of(merchant, p["id"]) for p in (in_time, late)] == ["paid", "expired"]


async def test_an_unknown_time_zone_is_refused(merchant: Merchant, services: Services) -> None:
    async with services.db.transaction() as conn:
        try:
            await services.accounts.set_timezone(conn, tenant_of(merchant).account_id, "Mars/Olympus")
        except Exception as exc:
            assert getattr(exc, "code", None) == "invalid_timezone" and getattr(exc, "status", None) == 422
        else:
            raise AssertionError("an unknown zone was accepted")
    async with services.db.read() as conn:
        assert (await services.accounts.timezone(conn, tenant_of(merchant).account_id)).key == "UTC"


# -- resolving lines ---------------------------------------------------------------------------


async def test_a_transfer_booked_the_day_after_expiry_is_late_then_accepted_with_the_actor_on_record(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 3300, expiresIn=60)
    clock.advance(120)
    statement = camt053(
        Entry("33.00", booked=_day(payment, days=1), txs=[Tx("33.00", structured=[reference])])
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "late")]
    assert "expired on" in report["lines"][0]["message"]
    assert await status_of(merchant, payment["id"]) == "expired"

    answer = await resolve(merchant, report["id"], 1, "accept")
    assert answer.status_code == 200, answer.text
    line = answer.json()
    key_id = await _api_key_id(services, merchant)
    assert (line["outcome"], line["resolution"], line["resolvedBy"]) == (
        "late",
        "accepted",
        f"api_key:{key_id}",
    )
    assert line["paymentStatus"] == "paid" and line["resolvedAt"]
    assert await status_of(merchant, payment["id"]) == "paid"
    rows = await events(services, payment["id"])
    assert [row["type"] for row in rows] == ["payment.created", "payment.expired", "payment.paid"]
    assert event_data(rows[-1])["previousStatus"] == "expired"

    reread = await merchant.http.get(f"/api/statements/{report['id']}", headers=await merchant.headers())
    assert reread.json()["lines"][0]["resolution"] == "accepted"
    again = error_of(await resolve(merchant, report["id"], 1, "refund_due"), 409, "invalid_state")
    assert again["code"] == "already_resolved" and "api_key:" not in again["message"]
    assert again["message"] == "This line was resolved already (accepted by API key Default key)."
    async with services.db.transaction() as conn:  # a label stored before the display-text rule
        await conn.execute(
            "UPDATE api_keys SET label = :label WHERE id = :id", {"label": "shop\u202e\x1bkey", "id": key_id}
        )
    old_label = error_of(await resolve(merchant, report["id"], 1, "refund_due"), 409, "invalid_state")
    assert old_label["message"] == "This line was resolved already (accepted by API key shop\ufffd\ufffdkey)."
    # the same line in a later import is a duplicate that shows the resolution it repeats
    duplicate = await imported(merchant, statement, "application/xml")
    assert duplicate["lines"][0]["outcome"] == "duplicate"
    assert duplicate["lines"][0]["resolution"] == "accepted"
    error_of(await resolve(merchant, duplicate["id"], 1, "accept"), 409, "invalid_state")
    assert await event_types(services, payment["id"]) == [
        "payment.created",
        "payment.expired",
        "payment.paid",
    ]


async def test_a_late_line_on_a_cancelled_payment_can_be_accepted(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 4000)
    cancelled = await merchant.http.post(
        f"/payment/request/{payment['id']}/cancel", headers=await merchant.headers()
    )
    assert cancelled.status_code == 200
    report = await imported(merchant, csv_text(f"C-1,2026-11-21,40.00,EUR,{reference},Carl"))
    assert outcomes(report) == [(2, "late")]
    answer = await resolve(merchant, report["id"], 2, "accept")
    assert answer.status_code == 200, answer.text
    assert await status_of(merchant, payment["id"]) == "paid"
    rows = await events(services, payment["id"])
    assert [row["type"] for row in rows] == ["payment.created", "payment.cancelled", "payment.paid"]
    assert event_data(rows[-1])["previousStatus"] == "cancelled"


async def test_a_late_line_on_a_paid_payment_cannot_be_accepted_and_records_nothing(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 4000)
    body = csv_text(f"P-1,2026-11-21,40.00,EUR,{reference},Pia", f"P-2,2026-11-22,40.00,EUR,{reference},Pia")
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "matched"), (3, "late")]
    error = error_of(await resolve(merchant, report["id"], 3, "accept"), 409, "invalid_state")
    assert "refund_due" in error["message"]
    reread = await merchant.http.get(f"/api/statements/{report['id']}", headers=await merchant.headers())
    assert "resolution" not in reread.json()["lines"][1]
    refund = await resolve(merchant, report["id"], 3, "refund_due")
    assert refund.status_code == 200 and refund.json()["resolution"] == "refund_due"
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_a_partial_line_marked_refund_due_changes_nothing(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 5000)
    report = await imported(merchant, csv_text(f"Q-1,2026-11-21,20.00,EUR,{reference},Pat"))
    assert outcomes(report) == [(2, "partial")]
    answer = await resolve(merchant, report["id"], 2, "refund_due")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["resolution"], answer.json()["paymentStatus"]) == ("refund_due", "pending")
    assert await status_of(merchant, payment["id"]) == "pending"
    assert await event_types(services, payment["id"]) == ["payment.created"]
    error_of(await resolve(merchant, report["id"], 2, "accept"), 409, "invalid_state")
    assert await status_of(merchant, payment["id"]) == "pending"


async def test_an_accepted_line_reads_paid_in_every_later_report_as_its_answer_did(
    merchant: Merchant,
) -> None:
    """paymentStatus is stored: the resolution's answer is the stored row, the report
    reads it again, and so do the duplicates of the line imported before and after."""
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 5000)
    body = csv_text(f"S-1,2026-11-21,10.00,EUR,{reference},Sam")
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "partial")] and report["lines"][0]["paymentStatus"] == "pending"
    before = await imported(merchant, body)
    assert (before["lines"][0]["outcome"], before["lines"][0]["paymentStatus"]) == ("duplicate", "pending")

    answer = await resolve(merchant, report["id"], 2, "accept")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["resolution"], answer.json()["paymentStatus"]) == ("accepted", "paid")
    assert await status_of(merchant, payment["id"]) == "paid"
    after = await imported(merchant, body)
    for import_id in (report["id"], before["id"], after["id"]):
        reread = await merchant.http.get(f"/api/statements/{import_id}", headers=await merchant.headers())
        assert reread.status_code == 200, reread.text
        line = reread.json()["lines"][0]
        assert (line["resolution"], line["paymentStatus"]) == ("accepted", "paid"), import_id
    one = reread.json()["lines"][0]
    assert one == {**answer.json(), "outcome": "duplicate", "message": one["message"]}


async def test_an_overpaid_line_accepted_pays_the_pending_payment(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 1000)
    report = await imported(merchant, csv_text(f"O-1,2026-11-21,15.00,EUR,{reference},Olga"))
    assert outcomes(report) == [(2, "overpaid")]
    assert (await resolve(merchant, report["id"], 2, "accept")).status_code == 200
    rows = await events(services, payment["id"])
    assert [row["type"] for row in rows] == ["payment.created", "payment.paid"]
    assert event_data(rows[-1])["previousStatus"] == "pending"


async def test_fifty_concurrent_resolutions_of_one_line_settle_once(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 3300, expiresIn=60)
    clock.advance(120)
    statement = camt053(
        Entry("33.00", booked=_day(payment, days=2), txs=[Tx("33.00", structured=[reference])])
    )
    report = await imported(merchant, statement, "application/xml")
    assert outcomes(report) == [(1, "late")]
    actions = ["accept", "refund_due"] * 25
    answers = await asyncio.gather(*(resolve(merchant, report["id"], 1, action) for action in actions))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [409] * 49, statuses
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "already_resolved"
    paid = winner["resolution"] == "accepted"
    assert await status_of(merchant, payment["id"]) == ("paid" if paid else "expired")
    expected = ["payment.created", "payment.expired"] + (["payment.paid"] if paid else [])
    assert await event_types(services, payment["id"]) == expected


async def test_only_late_partial_and_overpaid_lines_can_be_resolved(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    _, reference = await _payment(merchant, client_id, 1000)
    body = csv_text(f"M-1,2026-11-21,10.00,EUR,{reference},Mo", "M-2,2026-11-21,5.00,EUR,lunch,Al")
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "matched"), (3, "unmatched")]
    for line in (2, 3):
        error = error_of(await resolve(merchant, report["id"], line, "accept"), 409, "invalid_state")
        assert error["code"] == "not_resolvable"
    for line in (99, 0, -1, 2**31, 2**63):
        error_of(await resolve(merchant, report["id"], line, "accept"), 404, "not_found")
    error_of(await resolve(merchant, str(uuid.uuid4()), 2, "accept"), 404, "not_found")
    error_of(await resolve(merchant, "not-an-id", 2, "accept"), 404, "not_found")
    bad = error_of(await resolve(merchant, report["id"], 3, "forgive"), 422, "validation_error")
    assert bad["param"] == "action"
    unknown = await merchant.http.post(
        f"/api/statements/{report['id']}/lines/3/resolve",
        json={"action": "accept", "note": "x"},
        headers=await merchant.headers(),
    )
    assert error_of(unknown, 400, "invalid_request")["param"] == "note"


async def test_another_account_cannot_resolve_or_read_a_line(merchant: Merchant, make_merchant: Any) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 5000)
    report = await imported(merchant, csv_text(f"X-1,2026-11-21,20.00,EUR,{reference},Pat"))
    other = await make_merchant()
    error_of(await resolve(other, report["id"], 2, "accept"), 404, "not_found")
    production = await make_merchant(environment="production")
    error_of(await resolve(production, report["id"], 2, "accept"), 404, "not_found")
    client_token = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    denied = await merchant.http.post(
        f"/api/statements/{report['id']}/lines/2/resolve", json={"action": "accept"}, headers=client_token
    )
    error_of(denied, 403, "permission_error")
    assert await status_of(merchant, payment["id"]) == "pending"


# -- camt.054 ----------------------------------------------------------------------------------


async def test_a_camt054_then_the_camt053_of_the_same_transfers_applies_each_once(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    with_ref, ref1 = await _payment(merchant, client_id, 2000)
    without_ref, ref2 = await _payment(merchant, client_id, 3000)
    entries = [
        # the bank's reference in both messages
        Entry("20.00", servicer_ref="BANK-77", txs=[Tx("20.00", structured=[ref1], end_to_end="E2E-A")]),
        # none: the transaction's own references, remittance and payer make the identity
        Entry("30.00", txs=[Tx("30.00", structured=[ref2], end_to_end="E2E-B", uetr=str(uuid.uuid4()))]),
    ]
    notification = await imported(merchant, camt054(*entries), "application/xml")
    assert notification["format"] == "camt.054"
    assert outcomes(notification) == [(1, "matched"), (2, "matched")]
    # the day's statement reports them again, in its own entries (other NtryRef, statement id)
    for entry, number in zip(entries, ("0001", "0002"), strict=True):
        entry.entry_ref = number
    statement = await imported(merchant, camt053(*entries, statement_id="STMT-9"), "application/xml")
    assert statement["format"] == "camt.053"
    assert outcomes(statement) == [(1, "duplicate"), (2, "duplicate")]
    for payment in (with_ref, without_ref):
        assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


@pytest.mark.parametrize(
    ("notified", "stated"),
    [
        # the notification has the transaction's reference only, the statement adds the entry's
        ({"tx": "TX-1"}, {"entry": "ENTRY-1", "tx": "TX-1"}),
        ({"entry": "ENTRY-1", "tx": "TX-1"}, {"tx": "TX-1"}),
        # the same reference, on the entry in one file and in the transaction details in the other
        ({"entry": "REF-1"}, {"tx": "REF-1"}),
        ({"tx": "REF-1"}, {"entry": "REF-1"}),
        # the notification has the entry's reference only, the statement adds the transaction's
        ({"entry": "ENTRY-1"}, {"entry": "ENTRY-1", "tx": "TX-1"}),
        ({"entry": "ENTRY-1", "tx": "TX-1"}, {"entry": "ENTRY-1"}),
    ],
)
async def test_the_banks_reference_is_the_identity_at_whichever_level_each_file_carries_it(
    merchant: Merchant, services: Services, notified: dict[str, str], stated: dict[str, str]
) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 4200)

    def entry(refs: dict[str, str], entry_ref: str) -> Entry:
        tx = Tx("42.00", structured=[reference], servicer_ref=refs.get("tx"))
        return Entry("42.00", servicer_ref=refs.get("entry"), entry_ref=entry_ref, txs=[tx])

    first = await imported(merchant, camt054(entry(notified, "N1")), "application/xml")
    assert outcomes(first) == [(1, "matched")]
    second = await imported(merchant, camt053(entry(stated, "0001"), statement_id="S-2"), "application/xml")
    assert outcomes(second) == [(1, "duplicate")], second["lines"][0]["message"]
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_a_line_known_by_one_reference_learns_the_other_from_a_later_file(
    merchant: Merchant, services: Services
) -> None:
    """The entry's reference alone (a camt.054), then both (the camt.053), then the
    transaction's alone (another bank's export of the same day): one line, applied once;
    the second and third files report it as a duplicate, never as late (already paid,
    "accept it or mark it for refund")."""
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 4200)

    def file(entry_ref: str | None, tx_ref: str | None) -> bytes:
        tx = Tx("42.00", structured=[reference], servicer_ref=tx_ref)
        return camt053(
            Entry("42.00", servicer_ref=entry_ref, txs=[tx]), statement_id=f"S-{entry_ref}{tx_ref}"
        )

    assert outcomes(await imported(merchant, file("E-5", None), "application/xml")) == [(1, "matched")]
    for entry_ref, tx_ref in (("E-5", "T-5"), (None, "T-5"), ("E-5", None)):
        again = await imported(merchant, file(entry_ref, tx_ref), "application/xml")
        assert outcomes(again) == [(1, "duplicate")], (entry_ref, tx_ref, again["lines"][0]["message"])
        assert again["lines"][0]["message"] == "Imported before (as matched); nothing changed."
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_a_camt054_with_the_entry_reference_and_the_camt053_with_both_imported_at_once_apply_once(
    merchant: Merchant, services: Services
) -> None:
    """The two files at the same time (on PostgreSQL their batches take turns): one
    line matched, the other a duplicate, the payment paid once."""
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 4200)
    tx, both = Tx("42.00", structured=[reference]), Tx("42.00", structured=[reference], servicer_ref="T-8")
    answers = await asyncio.gather(
        imported(merchant, camt054(Entry("42.00", servicer_ref="E-8", txs=[tx])), "application/xml"),
        imported(merchant, camt053(Entry("42.00", servicer_ref="E-8", txs=[both])), "application/xml"),
    )
    assert sorted(outcome for answer in answers for _, outcome in outcomes(answer)) == [
        "duplicate",
        "matched",
    ]
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_two_transactions_with_their_own_references_under_one_entry_reference_stay_two_lines(
    merchant: Merchant, services: Services
) -> None:
    """Two notifications, each of one transaction of the same batch booking: the entry's
    reference is the same, the transactions' differ. They are two lines (each pays its
    payment); the statement's batch of both, and the entry reported alone, are duplicates."""
    client_id = await bank_application(merchant)
    first, ref1 = await _payment(merchant, client_id, 1000)
    second, ref2 = await _payment(merchant, client_id, 2000)
    txs = [
        Tx("10.00", structured=[ref1], servicer_ref="TX-1"),
        Tx("20.00", structured=[ref2], servicer_ref="TX-2"),
    ]
    for tx, name in zip(txs, ("N-1", "N-2"), strict=True):
        notified = camt054(Entry(tx.amount or "", servicer_ref="BATCH-5", txs=[tx]), notification_id=name)
        assert outcomes(await imported(merchant, notified, "application/xml")) == [(1, "matched")]
    for payment in (first, second):
        assert await status_of(merchant, payment["id"]) == "paid"
    statement = await imported(
        merchant, camt053(Entry("30.00", servicer_ref="BATCH-5", txs=txs)), "application/xml"
    )
    assert outcomes(statement) == [(1, "duplicate"), (2, "duplicate")]
    assert [line["paymentId"] for line in statement["lines"]] == [first["id"], second["id"]]
    whole = await imported(merchant, camt053(Entry("30.00", servicer_ref="BATCH-5")), "application/xml")
    assert outcomes(whole) == [(1, "duplicate")]
    for payment in (first, second):
        assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_a_transaction_notified_alone_is_the_same_line_in_the_statements_batch(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant)
    alone, ref1 = await _payment(merchant, client_id, 1000)
    other, ref2 = await _payment(merchant, client_id, 2000)
    notification = camt054(
        Entry("10.00", servicer_ref="N-77", txs=[Tx("10.00", structured=[ref1], servicer_ref="TX-A")])
    )
    assert outcomes(await imported(merchant, notification, "application/xml")) == [(1, "matched")]
    # the statement books both in one batch: the entry's reference names the batch, each
    # transaction is known by its own
    batch = Entry(
        "30.00",
        servicer_ref="BATCH-9",
        txs=[
            Tx("10.00", structured=[ref1], servicer_ref="TX-A"),
            Tx("20.00", structured=[ref2], servicer_ref="TX-B"),
        ],
    )
    statement = await imported(merchant, camt053(batch), "application/xml")
    assert outcomes(statement) == [(1, "duplicate"), (2, "matched")]
    for payment in (alone, other):
        assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_camt054_can_be_named_by_the_format_parameter(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 2000)
    body = camt054(Entry("20.00", servicer_ref="N-1", txs=[Tx("20.00", structured=[reference])]))
    headers = {**(await merchant.headers()), "Content-Type": "application/octet-stream"}
    answer = await merchant.http.post("/api/statements?format=camt.054", content=body, headers=headers)
    assert answer.status_code == 201, answer.text
    assert outcomes(answer.json()) == [(1, "matched")]
    assert await status_of(merchant, payment["id"]) == "paid"


async def test_a_late_line_that_is_short_or_over_says_by_how_much(
    merchant: Merchant, clock: MovableClock
) -> None:
    client_id = await bank_application(merchant)
    expired, expired_ref = await _payment(merchant, client_id, 5000, expiresIn=60)
    cancelled, cancelled_ref = await _payment(merchant, client_id, 4000)
    exact, exact_ref = await _payment(merchant, client_id, 3000)
    for payment in (cancelled, exact):
        answer = await merchant.http.post(
            f"/payment/request/{payment['id']}/cancel", headers=await merchant.headers()
        )
        assert answer.status_code == 200
    clock.advance(120)
    day = _day(expired, days=1)
    report = await imported(
        merchant,
        csv_text(
            f"L-1,{day},0.01,EUR,{expired_ref},Ann",
            f"L-2,{day},45.50,EUR,{cancelled_ref},Bob",
            f"L-3,{day},30.00,EUR,{exact_ref},Cy",
        ),
    )

    assert outcomes(report) == [(2, "late"), (3, "late"), (4, "late")]
    short, over, same = (line["message"] for line in report["lines"])
    assert "It is 49.99 EUR less than the 50.00 EUR due." in short, short
    assert "It is 5.50 EUR more than the 40.00 EUR due." in over, over
    assert "less than" not in same and "more than" not in same, same
    assert all(m.endswith("Accept it or mark it for refund.") for m in (short, over, same))


async def test_a_duplicate_imported_while_its_line_is_accepted_reads_paid(
    merchant: Merchant, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F7: an import repeats a partial line while the merchant accepts it. The import's
    batch reads the payment (pending) for its duplicate row; the accept then pays the
    payment and stores ``paid`` on the line's report rows, before the batch has written
    its row. The batch's row must still end ``paid``: the accept takes the imports'
    turn, so it waits for the batch to commit and then updates its row too (on SQLite
    the batch holds the database meanwhile). The batch is held right after its read
    until the accept has finished or (PostgreSQL) waits for its turn."""
    client_id = await bank_application(merchant)
    payment, reference = await _payment(merchant, client_id, 5000)
    body = csv_text(f"F-7,2026-11-21,10.00,EUR,{reference},Fay")
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "partial")]

    read, go = asyncio.Event(), asyncio.Event()
    original = Reconciler._duplicate

    async def held(self: Reconciler, *args: Any, **kwargs: Any) -> Any:
        applied = await original(self, *args, **kwargs)
        read.set()
        await go.wait()
        return applied

    async def accept_waits_for_the_turn() -> None:
        """On PostgreSQL, until a unit waits for this tenant's import turn (the accept)."""
        turn = repository.import_turn(tenant_of(merchant)) & 0xFFFF_FFFF  # an oid in pg_locks
        while True:
            async with services.db.read() as conn:
                row = await conn.fetch_one(
                    "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND classid = :kind AND objid = :turn AND objsubid = 2",
                    {"kind": repository.IMPORT_TURN_LOCKS, "turn": turn},
                )
            if row is not None and row["n"]:
                return
            await asyncio.sleep(0.01)

    monkeypatch.setattr(Reconciler, "_duplicate", held)
    importing = asyncio.ensure_future(imported(merchant, body))
    await asyncio.wait_for(read.wait(), 10)
    accepting = asyncio.ensure_future(resolve(merchant, report["id"], 2, "accept"))
    if services.db.dialect == "postgresql":  # the accept finishes (the race) or waits its turn
        waiting = asyncio.ensure_future(accept_waits_for_the_turn())
        await asyncio.wait([accepting, waiting], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
    else:  # the batch holds the database: the accept cannot begin
        await asyncio.wait([accepting], timeout=0.5)
    go.set()
    again, answer = await importing, await accepting
    assert answer.status_code == 200, answer.text
    assert again["lines"][0]["outcome"] == "duplicate"
    assert await status_of(merchant, payment["id"]) == "paid"
    reread = await merchant.http.get(f"/api/statements/{again['id']}", headers=await merchant.headers())
    line = reread.json()["lines"][0]
    assert (line["outcome"], line["resolution"], line["paymentStatus"]) == ("duplicate", "accepted", "paid")
