"""Reading statement files: the documented CSV columns, and camt.053 as ISO 20022
defines it (entries, batch-booked transactions, structured references, reversals,
booking status). Parsing only; reconciliation has its own tests."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from payreq.errors import ValidationFailed
from payreq.method.statements import camt, csv_format
from payreq.method.statements.importer import choose_family, read
from payreq.method.statements.model import Direction, StatementLine
from tests.method.statements import NS_08, Entry, Tx, csv_text
from tests.method.statements import camt053 as build

FIXTURE = Path(__file__).parent / "fixtures" / "camt053-basic.xml"  # ../shared/fixtures, as given


def only(lines: list[StatementLine] | tuple[StatementLine, ...]) -> StatementLine:
    assert len(lines) == 1, lines
    return lines[0]


# -- CSV ----------------------------------------------------------------------------


def test_csv_rows_become_lines_in_minor_units_with_their_direction() -> None:
    lines = list(
        csv_format.parse(
            csv_text(
                "T1,2026-11-21,125.00,EUR,Order 1 RF18539007547034,Jane",
                "T2,2026-11-21,-7.45,eur,Fee,",
                "T3,2026-11-21,500,JPY,x,",
                "T4,2026-11-21,0.5,KWD,x,",
            )
        )
    )
    got = [(line.number, line.amount, line.currency, line.direction, line.bank_reference) for line in lines]
    assert got == [
        (2, 12500, "EUR", Direction.CREDIT, "T1"),
        (3, 745, "EUR", Direction.DEBIT, "T2"),
        (4, 500, "JPY", Direction.CREDIT, "T3"),
        (5, 500, "KWD", Direction.CREDIT, "T4"),
    ]
    first = lines[0]
    assert first.texts == ("Order 1 RF18539007547034",)
    assert first.payer == "Jane" and first.booking_date == "2026-11-21" and first.booked


def test_csv_header_names_are_case_insensitive_in_any_order_with_semicolons_and_a_bom() -> None:
    data = "\ufeffReference;Currency;Amount;Status\nabc;USD;1.50;pending\n".encode()
    line = only(list(csv_format.parse(data)))
    assert (line.amount, line.currency, line.texts, line.booked) == (150, "USD", ("abc",), False)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("T,2026-11-21,12.345,EUR,x,", "more decimals than EUR allows"),
        ("T,2026-11-21,1.5,JPY,x,", "more decimals than JPY allows"),
        ('T,2026-11-21,"1,234.00",EUR,x,', "is not a decimal number"),
        ("T,2026-11-21,abc,EUR,x,", "is not a decimal number"),
        ("T,2026-11-21,0.00,EUR,x,", "must not be zero"),
        ("T,2026-11-21,5,ZZZ,x,", "not an ISO 4217 code"),
        ("T,21/11/2026,5,EUR,x,", "is not YYYY-MM-DD"),
    ],
)
def test_a_csv_row_that_cannot_be_read_is_an_invalid_line(row: str, problem: str) -> None:
    line = only(list(csv_format.parse(csv_text(row))))
    assert line.problem is not None and problem in line.problem
    assert line.amount is None


def test_csv_without_the_required_columns_is_refused_naming_them() -> None:
    with pytest.raises(ValidationFailed) as caught:
        list(csv_format.parse(b"id,date,amount\n1,2026-11-21,5\n"))
    assert "currency, reference" in caught.value.message
    assert caught.value.status == 422


def test_csv_identity_is_the_bank_id_with_the_booking_or_the_content() -> None:
    with_id = list(
        csv_format.parse(
            csv_text("T1,2026-11-21,5.00,EUR,a,", "T1,2026-11-21,5.00,eur,b,Jo", "T1,2026-11-22,6.00,EUR,a,")
        )
    )
    assert with_id[0].key == with_id[1].key != with_id[2].key  # the text may change, the booking not
    without = list(
        csv_format.parse(
            csv_text(
                "2026-11-21,5.00,EUR,a",
                "2026-11-21,5.00,EUR,a",
                "2026-11-21,5.00,EUR,b",
                header="date,amount,currency,reference",
            )
        )
    )
    assert without[0].key == without[1].key != without[2].key


def test_blank_rows_are_skipped_and_line_numbers_stay_true() -> None:
    lines = list(csv_format.parse(csv_text("T1,2026-11-21,5.00,EUR,a,", "", "T2,2026-11-21,5.00,EUR,a,")))
    assert [line.number for line in lines] == [2, 4]


# -- camt.053 -------------------------------------------------------------------------


def test_the_shared_fixture_reads_as_four_lines() -> None:
    lines = list(camt.parse(FIXTURE.read_bytes()))
    got = [
        (line.number, line.amount, line.currency, line.direction, line.booked, line.bank_reference)
        for line in lines
    ]
    assert got == [
        (1, 12500, "EUR", Direction.CREDIT, True, "BANKREF-7781"),
        (2, 9999, "EUR", Direction.CREDIT, True, "BANKREF-7782"),
        (3, 1000, "EUR", Direction.CREDIT, True, "BANKREF-7783"),
        (4, 745, "EUR", Direction.DEBIT, True, "BANKREF-7784"),
    ]
    assert lines[0].texts == ("Order 1042 REPLACE-WITH-TRANSFER-REFERENCE-1",)
    assert lines[0].payer == "Jane Payer"
    assert lines[3].texts == ("Account maintenance fee",)


@pytest.mark.parametrize("version", ["urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", NS_08])
def test_a_batch_entry_becomes_one_line_per_transaction(version: str) -> None:
    data = build(
        Entry(
            "30.00",
            servicer_ref="B-1",
            txs=[
                Tx("10.00", unstructured=["first"]),
                Tx("20.00", structured=["RF18539007547034"], servicer_ref="TX-2", payer="Second"),
            ],
        ),
        version=version,
    )
    first, second = list(camt.parse(data))
    assert (first.amount, first.texts, first.bank_reference) == (1000, ("first",), "B-1#1")
    assert (second.amount, second.texts, second.bank_reference) == (2000, ("RF18539007547034",), "TX-2")
    assert second.payer == "Second"
    assert len({first.key, second.key}) == 2


def test_an_entrys_reference_is_a_second_key_only_of_its_only_transaction() -> None:
    """The entry's AcctSvcrRef (E) keys a line beside its transaction's (T) when the
    entry has one transaction, or none; never the transactions of a batch, whose Ts
    alone tell them apart."""
    single, alone, whole, no_e, *batch = camt.parse(
        build(
            Entry("10.00", servicer_ref="E-1", txs=[Tx("10.00", servicer_ref="T-1")]),
            Entry("10.00", servicer_ref="E-2", txs=[Tx("10.00")]),
            Entry("10.00", servicer_ref="E-3"),
            Entry("10.00", txs=[Tx("10.00", servicer_ref="T-4")]),
            Entry("30.00", servicer_ref="E-5", txs=[Tx("10.00", servicer_ref="T-5"), Tx("20.00")]),
        )
    )
    e1 = only(list(camt.parse(build(Entry("10.00", servicer_ref="E-1")))))
    t1 = only(list(camt.parse(build(Entry("10.00", txs=[Tx("10.00", servicer_ref="T-1")])))))
    assert (single.key, single.entry_key) == (t1.key, e1.key)
    assert alone.entry_key == alone.key and whole.entry_key == whole.key
    assert no_e.entry_key is None
    assert [line.entry_key for line in batch] == [None, None]


def test_a_batch_without_transaction_amounts_is_invalid_per_transaction() -> None:
    data = build(Entry("30.00", servicer_ref="B-2", txs=[Tx(None), Tx(None)]))
    assert [line.problem for line in list(camt.parse(data))] == [
        "a batch transaction without its own amount"
    ] * 2


def test_a_batch_without_details_stays_one_line_with_the_total() -> None:
    line = only(list(camt.parse(build(Entry("30.00", servicer_ref="B-3")))))
    assert line.amount == 3000 and line.problem is None


def test_structured_references_are_searched_before_unstructured_text() -> None:
    data = build(
        Entry(
            "5.00",
            servicer_ref="S-1",
            txs=[Tx(unstructured=["free text"], structured=["RF18 5390 0754 7034"])],
        )
    )
    assert only(list(camt.parse(data))).texts == ("RF18 5390 0754 7034", "free text")


def test_end_to_end_ids_are_searched_but_notprovided_is_not() -> None:
    data = build(
        Entry("5.00", servicer_ref="E-1", txs=[Tx(end_to_end="RF18539007547034")]),
        Entry("5.00", servicer_ref="E-2", txs=[Tx(end_to_end="NOTPROVIDED")]),
    )
    assert [line.texts for line in list(camt.parse(data))] == [("RF18539007547034",), ()]


@pytest.mark.parametrize("version", ["urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", NS_08])
def test_booking_status_is_read_in_both_shapes(version: str) -> None:
    data = build(
        Entry("1.00", servicer_ref="P-1", status="PDNG"),
        Entry("1.00", servicer_ref="P-2", status="BOOK"),
        Entry("1.00", servicer_ref="P-3", status="INFO"),
        version=version,
    )
    assert [line.booked for line in list(camt.parse(data))] == [False, True, False]


def test_reversals_and_returns_are_marked() -> None:
    data = build(
        Entry("5.00", credit=False, reversal=True, servicer_ref="R-1"),
        Entry("5.00", servicer_ref="R-2", txs=[Tx("5.00", returned=True)]),
        Entry("5.00", servicer_ref="R-3"),
    )
    assert [line.reversal for line in list(camt.parse(data))] == [True, True, False]


def test_identity_prefers_the_banks_reference_and_falls_back_to_the_transactions_content() -> None:
    a = only(list(camt.parse(build(Entry("5.00", servicer_ref="X-1"), statement_id="S1"))))
    b = only(list(camt.parse(build(Entry("5.00", servicer_ref="X-1"), statement_id="S2"))))
    assert a.key == b.key  # the same booking in two statements
    # without a bank reference: the transaction's references, remittance and payer
    c = only(list(camt.parse(build(Entry("5.00", entry_ref="0001", txs=[Tx(end_to_end="E2E-1")])))))
    d = only(
        list(
            camt.parse(
                build(Entry("5.00", entry_ref="0002", txs=[Tx(end_to_end="E2E-1")]), statement_id="S2")
            )
        )
    )
    assert c.key == d.key  # NtryRef and the statement id are the statement's, not the transfer's
    e = only(list(camt.parse(build(Entry("5.00", txs=[Tx(end_to_end="E2E-2")])))))
    f = only(list(camt.parse(build(Entry("5.00", txs=[Tx(unstructured=["RF18539007547034"])])))))
    g = only(list(camt.parse(build(Entry("5.00", txs=[Tx(unstructured=["RF18539007547034"], payer="B")])))))
    assert len({c.key, e.key, f.key, g.key}) == 4
    other_account = only(
        list(camt.parse(build(Entry("5.00", servicer_ref="X-1"), iban="FR1420041010050500013M02606")))
    )
    assert other_account.key != a.key


@pytest.mark.parametrize(
    ("text", "zone", "day"),
    [
        ("2026-12-02", "Pacific/Kiritimati", "2026-12-02"),  # a date is that day anywhere
        ("2026-12-02+01:00", "UTC", "2026-12-02"),  # ISODate with a zone suffix
        ("2026-12-02T20:00:00-08:00", "UTC", "2026-12-03"),
        ("2026-12-02T20:00:00-08:00", "America/Los_Angeles", "2026-12-02"),
        ("2026-12-02T23:30:00.123456789Z", "Europe/Berlin", "2026-12-03"),
        ("2026-12-03T01:00:00+02:00", "UTC", "2026-12-02"),
        ("2026-12-02T23:30:00", "Pacific/Kiritimati", "2026-12-02"),  # no offset: the account's local time
        ("2026-12-02T24:00:00Z", "UTC", None),  # a time that cannot be read: no day, not its date part
        ("garbage", "UTC", None),
    ],
)
def test_a_booking_date_and_time_is_the_accounts_day(text: str, zone: str, day: str | None) -> None:
    line = only(
        list(camt.parse(build(Entry("5.00", servicer_ref="DT-1", booked=None, value=None, booked_at=text))))
    )
    assert line.booking_date == text
    found = line.booked_on(ZoneInfo(zone))
    assert (found.isoformat() if found else None) == day


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<Document><BkToCstmrStmt/></Document>", "not an ISO 20022 camt.053 or camt.054 document"),
        (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.052.001.02'/>", "not an ISO 20022 camt.053"),
        (b"<Document", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'>&b;</Document>",
            "DOCTYPE",
        ),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><BkToCstmrStmt/></Document>",
            "holds no statement",
        ),
    ],
)
def test_documents_that_are_not_camt053_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list(camt.parse(data))
    assert message in caught.value.message
    assert caught.value.code == "unreadable_statement"


def test_an_amount_with_too_many_decimals_or_an_unknown_currency_is_invalid() -> None:
    data = build(Entry("1.001", servicer_ref="D-1"), Entry("1.00", currency="ZZZ", servicer_ref="D-2"))
    problems = [line.problem for line in list(camt.parse(data))]
    assert problems[0] is not None and "more decimals" in problems[0]
    assert problems[1] is not None and "ZZZ" in problems[1]


# -- choosing the reader ----------------------------------------------------------------


def test_the_format_comes_from_the_parameter_the_media_type_or_the_content() -> None:
    xml, csv = FIXTURE.read_bytes(), csv_text("T,2026-11-21,1.00,EUR,x,")
    assert choose_family(csv, format="camt053") == "camt"
    assert choose_family(csv, format="camt.054") == "camt"
    assert choose_family(xml, media_type="text/csv") == "csv"
    assert choose_family(xml, media_type="application/octet-stream") == "camt"
    assert choose_family(b"\xef\xbb\xbf  <Document/>") == "camt"
    assert choose_family("<Document/>".encode("utf-16")) == "camt"
    assert choose_family(csv) == "csv"
    with pytest.raises(ValidationFailed):
        choose_family(csv, format="mt940")
    with pytest.raises(ValidationFailed):
        read(b"  \n")
