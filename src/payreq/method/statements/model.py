"""A bank statement as reconciliation sees it, whatever file it came from."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from payreq.errors import ValidationFailed
from payreq.kit import money


class Outcome(StrEnum):
    """What an import did with one line. Only ``matched`` changes anything."""

    MATCHED = "matched"
    """Reference, amount and currency match a pending payment, or an expired one the
    bank booked the transfer for on or before its expiry day: it is now paid."""
    LATE = "late"
    """It matches a payment that is already paid or cancelled, or expired before the
    bank booked the transfer. The merchant may accept it or mark it refund due."""
    PARTIAL = "partial"
    """Its reference names a payment but the amount is smaller (resolvable)."""
    OVERPAID = "overpaid"
    """Its reference names a payment but the amount is larger (resolvable)."""
    WRONG_CURRENCY = "wrong_currency"
    """Its reference names a payment in another currency."""
    UNMATCHED = "unmatched"
    """No transfer reference of this account (or several different ones)."""
    DEBIT = "debit"
    """Money going out: never a payment."""
    REVERSAL = "reversal"
    """A reversal or return of an earlier booking: never a payment."""
    PENDING = "pending"
    """Not booked yet (PDNG, INFO): applied only when a statement books it."""
    DUPLICATE = "duplicate"
    """The same line (same identity) was imported before, or earlier in this file."""
    INVALID = "invalid"
    """The line cannot be read (amount, currency, ...)."""


REMEMBERED = frozenset(
    {
        Outcome.MATCHED,
        Outcome.LATE,
        Outcome.PARTIAL,
        Outcome.OVERPAID,
        Outcome.WRONG_CURRENCY,
        Outcome.UNMATCHED,
        Outcome.DEBIT,
        Outcome.REVERSAL,
    }
)
"""Outcomes of booked lines, whose identity is kept so a re-import is a duplicate."""


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class StatementUnreadable(ValidationFailed):
    default_code = "unreadable_statement"
    default_message = "The statement cannot be read."


@dataclass(frozen=True, slots=True)
class StatementLine:
    number: int
    """Where the line is: the CSV line number, or the transaction's position in a camt file."""
    identity: str
    """What makes the line the same line in a later import (the bank's reference, or its content)."""
    amount: int | None
    """Minor units of ``currency``, always positive; ``direction`` says which way."""
    currency: str | None
    direction: Direction | None
    booked: bool = True
    reversal: bool = False
    booking_date: str | None = None
    """As the file gives it: a date (``YYYY-MM-DD``) or, from a camt ``DtTm``, a date and
    time; ``booked_on`` and ``shown_date`` make it the account's day."""
    value_date: str | None = None
    bank_reference: str | None = None
    texts: Sequence[str] = ()
    """Where to look for a transfer reference, structured references first."""
    payer: str | None = None
    problem: str | None = None
    """Why the line cannot be used; such a line is reported as invalid."""
    entry_identity: str | None = None
    """A camt entry's own reference (``AcctSvcrRef``), as an identity, when the line is the
    entry's only transaction (or the entry itself): the same line as an earlier one with
    this entry reference, unless both carry transaction references and they differ. Equal
    to ``identity`` when the entry's reference is all the line has; None otherwise (CSV,
    content identities, the transactions of a batch)."""

    @property
    def key(self) -> str:
        return _digest(self.identity)

    @property
    def entry_key(self) -> str | None:
        return None if self.entry_identity is None else _digest(self.entry_identity)

    def booked_on(self, zone: tzinfo) -> date | None:
        """The day the bank booked the money, in the account's time zone ``zone``: the
        booking date, else the value date."""
        for text in (self.booking_date, self.value_date):
            day = account_day(text, zone)
            if day is not None:
                return day
        return None


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


def account_day(text: str | None, zone: tzinfo) -> date | None:
    """The account's day of a date or a date and time from a statement, or None.

    A date (``2026-12-02``, also ISO 20022 ``ISODate`` with a zone suffix) is that day.
    A date and time (camt ``DtTm``, ISO 20022 ``ISODateTime``) with an offset or ``Z`` is
    an instant, converted to ``zone``: ``2026-12-02T20:00:00-08:00`` is 2026-12-03 in
    UTC. Without an offset, ISO 20022 calls it local time; it is read as the account's
    local time (the date as written, which is what the same bank's ``Dt`` says), not as
    UTC. A date and time that cannot be read gives None (no day, so never "in time"),
    rather than its date part, which may be another day in ``zone``."""
    if not text:
        return None
    if len(text) > 10 and text[10] in "Tt":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.date() if moment.tzinfo is None else moment.astimezone(zone).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def shown_date(text: str | None, zone: tzinfo) -> str | None:
    """A file's date as a report shows and stores it: the account's day, else (a date
    that cannot be read) its first 10 characters as given."""
    if not text:
        return None
    day = account_day(text, zone)
    return day.isoformat() if day is not None else text[:10]


Parser = Callable[[bytes], Iterator[StatementLine]]


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement file, read lazily: ``lines()`` parses it as it is consumed, so an
    import holds the file and one batch of lines, never every line at once."""

    format: str
    data: bytes
    parser: Parser

    def lines(self) -> Iterator[StatementLine]:
        return self.parser(self.data)


MAX_LINE_AMOUNT = 2**63 - 1
"""The most a line may carry in minor units (what a 64-bit column holds); more is an
invalid line, never an error of the whole import."""
_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")


def minor_units(text: str, currency: str) -> int:
    """``"125.00", "EUR"`` -> 12500. Raises ValueError with the reason."""
    if len(text) > 61 or not _DECIMAL.fullmatch(text):
        raise ValueError(f"amount {text!r} is not a decimal number such as 125.00")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"amount {text!r} is not a number") from None
    digits = money.minor_unit_digits(currency)
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {text} has more decimals than {currency} allows ({digits})")
    if scaled <= 0:
        raise ValueError("amount must not be zero")
    if scaled > MAX_LINE_AMOUNT:
        raise ValueError(f"amount {text} {currency} is more than a statement line can carry")
    return int(scaled)


def content_identity(*parts: object) -> str:
    """An identity from a line's content, for lines that carry no bank reference."""
    return "content|" + "|".join("" if part is None else str(part) for part in parts)
