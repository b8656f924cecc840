"""ISO 4217 currencies and integer minor units.

Amounts are integers in the currency's minor unit (USD 2 digits, JPY 0, KWD 3):
``10000`` USD is $100.00. Floats never touch money.

The exponent of a code comes from one table: ISO 4217's own "list one" as the
maintenance agency publishes it, shipped by the ``iso4217`` data package. It never
depends on babel (CLDR's digits are cash rounding: babel 2.19 says HUF has 0 digits,
ISO 4217 says 2). babel formats amounts for people; it never counts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache

import iso4217

MIN_AMOUNT = 1
MAX_AMOUNT = 10**12
_DIGITS = re.compile(r"[0-9]{1,13}")


@lru_cache(maxsize=1)
def exponents() -> Mapping[str, int]:
    """Every code of ISO 4217 list one that has a minor unit (``N.A.`` codes such as
    gold, XDR or XXX have none), with its exponent."""
    table: dict[str, int] = {}
    for entry in iso4217.raw_xml.iter("CcyNtry"):
        code, digits = entry.findtext("Ccy"), entry.findtext("CcyMnrUnts")
        if code and digits and digits.isdigit():
            table[code] = int(digits)
    return table


@lru_cache(maxsize=1)
def active_currencies() -> frozenset[str]:
    """Codes a payment may be made in: list one's currencies with a minor unit, less
    the fund codes (``IsFund``: CLF, USN, BOV, ...), which are units of account."""
    funds = {
        code
        for entry in iso4217.raw_xml.iter("CcyNtry")
        if (name := entry.find("CcyNm")) is not None
        and name.get("IsFund") == "true"
        and (code := entry.findtext("Ccy"))
    }
    return frozenset(code for code in exponents() if code not in funds)


def normalise_currency(value: str) -> str | None:
    """The upper-case code if ``value`` names an active currency, else None: three
    ASCII letters in either case, nothing around them (``str.upper`` alone would fold
    ``u\u017fd`` into USD and ``\u0131nr`` into INR, and strip Unicode spaces)."""
    code = value.upper() if len(value) == 3 and value.isascii() and value.isalpha() else ""
    return code if code in active_currencies() else None


def minor_unit_digits(code: str) -> int:
    """The ISO 4217 exponent: USD 2, JPY 0, KWD 3, HUF 2, CLF 4. KeyError for a code
    without one (callers pass codes that ``normalise_currency`` accepted)."""
    return exponents()[code]


def parse_amount(value: object) -> int | None:
    """A positive integer amount from an int or a string of digits, else None.

    Booleans, floats (even 1e3), signs, spaces and leading ``+`` are refused.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        amount = int(value)
    else:
        return None
    return amount if MIN_AMOUNT <= amount <= MAX_AMOUNT else None


def major_units(amount: int, currency: str) -> str:
    """``12500, "EUR"`` -> ``125.00``: the amount in the currency's major unit, no locale."""
    digits = minor_unit_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"
