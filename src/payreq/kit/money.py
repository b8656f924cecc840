"""ISO 4217 currencies and integer minor units.

Amounts are integers in the currency's minor unit (USD 2 digits, JPY 0, KWD 3):
``10000`` USD is $100.00. Floats never touch money.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies

MIN_AMOUNT = 1
MAX_AMOUNT = 10**12
_DIGITS = re.compile(r"[0-9]{1,13}")


@lru_cache(maxsize=1)
def active_currencies() -> frozenset[str]:
    """Codes that are legal tender somewhere today (CLDR data shipped with babel)."""
    today = date.today()
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, start_date=today, end_date=today, tender=True))
    return frozenset(codes)


def normalise_currency(value: str) -> str | None:
    """The upper-case code if ``value`` names an active currency, else None."""
    code = value.strip().upper() if len(value) <= 8 else ""
    return code if code in active_currencies() else None


# Where CLDR's practical precision (what babel reports) differs from the ISO 4217
# minor unit, which is what amounts are counted in.
_ISO_EXPONENT_OVERRIDES = {
    "AFN": 2, "ALL": 2, "IQD": 3, "IRR": 2, "KPW": 2, "LAK": 2, "LBP": 2,
    "MGA": 2, "MMK": 2, "RSD": 2, "SOS": 2, "SYP": 2, "YER": 2,
}  # fmt: skip


def minor_unit_digits(code: str) -> int:
    """The ISO 4217 exponent: USD 2, JPY 0, KWD 3."""
    return _ISO_EXPONENT_OVERRIDES.get(code) or int(get_currency_precision(code))


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
