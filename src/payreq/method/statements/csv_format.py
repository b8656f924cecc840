"""Bank statements as CSV: one header row, then one row per booking.

Columns (names case-insensitive, in any order; others are ignored):

| column | required | meaning |
| --- | --- | --- |
| ``amount`` | yes | decimal in major units with a ``.`` (``125.00``); negative = money out |
| ``currency`` | yes | ISO 4217 code |
| ``reference`` | yes | the payer's reference / remittance text (also ``description``, ``remittance``) |
| ``id`` | no | the bank's own transaction id (also ``transaction_id``, ``bank_reference``): makes re-imports exact even when the text changes |
| ``date`` | no | booking date, ``YYYY-MM-DD`` (also ``booking_date``) |
| ``status`` | no | ``booked`` (default) or ``pending`` |
| ``payer`` | no | who paid (also ``counterparty``, ``name``) |
| ``account`` | no | the merchant's account (IBAN), when one file holds several |

UTF-8 (a byte-order mark is fine); the separator is ``,``, ``;`` or a tab, read from
the header row. A row is recognised on re-import by its ``id`` with its date, amount and
currency, or without an ``id`` by its whole content (two identical rows without ids
are then one line, the second reported as a duplicate).

A NUL character in any cell refuses the whole file (422 ``unreadable_statement``,
naming its line and column) when it is read through, before anything is imported:
no bank's text holds one, PostgreSQL cannot store one (SQLite would), and the API
refuses NUL in every other text it is sent (``kit.jsonbody.check_text``). So the file
reads the same on both engines, never stops half-way, and the merchant learns which
cell to fix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

from payreq.kit import money
from payreq.method.statements.model import (
    Direction,
    StatementLine,
    StatementUnreadable,
    content_identity,
    minor_units,
)

FORMAT = "csv"
ALIASES = {
    "amount": ("amount",),
    "currency": ("currency", "currency_code", "ccy"),
    "reference": ("reference", "description", "remittance", "remittance_information"),
    "id": ("id", "transaction_id", "bank_reference"),
    "date": ("date", "booking_date"),
    "status": ("status",),
    "payer": ("payer", "counterparty", "name"),
    "account": ("account",),
}
REQUIRED = ("amount", "currency", "reference")
_BOOKED = {"booked": True, "book": True, "pending": False, "pdng": False}


def parse(data: bytes) -> Iterator[StatementLine]:
    """The rows as lines, read as a stream; StatementUnreadable for a file that is not
    a CSV statement (at the header, or at the row where it breaks)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementUnreadable("The CSV statement is not UTF-8 text.") from None
    first = text[: text.find("\n") if "\n" in text else len(text)]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise StatementUnreadable("The CSV statement has no header row.") from None
    has_nul = "\x00" in text  # one scan of the text; only then is each row searched
    if has_nul:
        _refuse_nul(reader.line_num, header, header)
    columns = _columns(header)
    try:
        for row in reader:
            if has_nul:
                _refuse_nul(reader.line_num, row, header)
            if not any(cell.strip() for cell in row):
                continue
            yield _line(reader.line_num, row, columns)
    except csv.Error as exc:
        raise StatementUnreadable(
            f"The CSV statement is malformed at line {reader.line_num}: {exc}."
        ) from None


def _refuse_nul(number: int, row: list[str], header: list[str]) -> None:
    """StatementUnreadable naming the first cell of ``row`` that holds a NUL character."""
    for index, cell in enumerate(row):
        if "\x00" in cell:
            name = header[index].strip() if index < len(header) else ""
            named = f' ("{name}")' if name and "\x00" not in name else ""
            raise StatementUnreadable(
                f"The CSV statement holds a NUL character at line {number}, column {index + 1}{named}; "
                "a statement's text cannot contain one. Nothing was imported: remove it and import the "
                "file again."
            )


def _columns(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower().replace(" ", "_") for cell in header]
    found: dict[str, int] = {}
    for column, aliases in ALIASES.items():
        for alias in aliases:
            if alias in names:
                found[column] = names.index(alias)
                break
    missing = [column for column in REQUIRED if column not in found]
    if missing:
        raise StatementUnreadable(
            f"The CSV header lacks the column(s) {', '.join(missing)}; "
            f"expected at least {', '.join(REQUIRED)} (see the documentation for the others)."
        )
    return found


def _line(number: int, row: list[str], columns: dict[str, int]) -> StatementLine:
    def cell(name: str) -> str | None:
        index = columns.get(name)
        if index is None or index >= len(row):
            return None
        value = row[index].strip()
        return value or None

    bank_id, reference, payer = cell("id"), cell("reference"), cell("payer")
    booking_date, account = cell("date"), cell("account")
    raw_amount, raw_currency, raw_status = cell("amount") or "", cell("currency") or "", cell("status")
    # the bank's id with the booking's date, amount and currency: ids that some banks
    # number per account cannot then collide across two accounts' files
    identity = (
        f"csv|{account or ''}|{bank_id}|{booking_date or ''}|{raw_amount}|{raw_currency.upper()}"
        if bank_id
        else content_identity("csv", account, booking_date, raw_amount, raw_currency, reference, payer)
    )
    template = StatementLine(
        number=number,
        identity=identity,
        amount=None,
        currency=None,
        direction=None,
        booking_date=booking_date,
        bank_reference=bank_id,
        texts=(reference,) if reference else (),
        payer=payer,
    )

    def invalid(problem: str) -> StatementLine:
        return replace(template, problem=problem)

    currency = money.normalise_currency(raw_currency)
    if currency is None:
        return invalid(f"currency {raw_currency!r} is not an ISO 4217 code")
    if booking_date is not None:
        try:
            date.fromisoformat(booking_date)
        except ValueError:
            return invalid(f"date {booking_date!r} is not YYYY-MM-DD")
    booked = True
    if raw_status is not None:
        if raw_status.lower() not in _BOOKED:
            return invalid(f"status {raw_status!r} is neither booked nor pending")
        booked = _BOOKED[raw_status.lower()]
    direction = Direction.DEBIT if raw_amount.startswith("-") else Direction.CREDIT
    try:
        amount = minor_units(raw_amount[1:] if raw_amount[:1] in ("-", "+") else raw_amount, currency)
    except ValueError as exc:
        return invalid(str(exc))
    return replace(template, amount=amount, currency=currency, direction=direction, booked=booked)
