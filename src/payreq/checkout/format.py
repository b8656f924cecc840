"""How the page shows money and time to the payer: the amount in the payer's locale
(``Accept-Language``) with the currency's ISO 4217 minor unit, the time left in words."""

from __future__ import annotations

import re
import unicodedata
from copy import copy
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.localedata import locale_identifiers
from babel.numbers import format_currency, get_currency_symbol

from payreq.kit import money

DEFAULT_LOCALE = "en_US"
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
NBSP = "\u00a0"


@lru_cache(maxsize=1)
def _available() -> list[str]:
    return sorted(locale_identifiers())


def preferred_languages(header: str | None, *, limit: int = 12) -> list[str]:
    """Language tags from ``Accept-Language``, best first (RFC 9110 §12.5.4); ``*``
    and malformed entries are dropped."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not _TAG.fullmatch(tag):
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if 0 < quality <= 1:
            weighted.append((-quality, position, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(weighted)[:limit]]


@lru_cache(maxsize=256)
def _negotiate(preferred: tuple[str, ...]) -> Locale:
    chosen = negotiate_locale(list(preferred), _available()) if preferred else None
    # a bare language (de) is fine; babel fills in its default territory's data
    for candidate in (chosen, *(p.split("_")[0] for p in preferred)):
        if candidate:
            try:
                return Locale.parse(candidate)
            except (ValueError, UnknownLocaleError):
                continue
    return Locale.parse(DEFAULT_LOCALE)


def payer_locale(accept_language: str | None) -> Locale:
    return _negotiate(tuple(preferred_languages(accept_language)))


def format_amount(amount: int, currency: str, locale: Locale) -> str:
    """``10000, USD`` -> ``$100.00`` (en), ``100,00 $`` (de); ``500, JPY`` -> ``¥500``;
    ``500, KWD`` -> ``KWD 0.500``. Digits follow ISO 4217 even where CLDR rounds
    differently, and a letter symbol is kept apart from the digits (CLDR currency spacing)."""
    digits = money.minor_unit_digits(currency)
    value = Decimal(amount).scaleb(-digits)
    pattern = copy(locale.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    text = format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)
    return _space_symbol(text, get_currency_symbol(currency, locale))


def _space_symbol(text: str, symbol: str) -> str:
    if not symbol or symbol not in text:
        return text
    index = text.index(symbol)
    before = text[index - 1] if index > 0 else ""
    after = text[index + len(symbol)] if index + len(symbol) < len(text) else ""
    if after.isdigit() and unicodedata.category(symbol[-1]).startswith("L"):
        return text[: index + len(symbol)] + NBSP + text[index + len(symbol) :]
    if before.isdigit() and unicodedata.category(symbol[0]).startswith("L"):
        return text[:index] + NBSP + text[index:]
    return text


def time_left(expires_at: datetime, now: datetime) -> str:
    """``2 days 3 hours``, ``5 hours 12 minutes``, ``4 minutes``, ``less than a minute``."""
    seconds = int((expires_at - now).total_seconds())
    if seconds < 60:
        return "less than a minute" if seconds > 0 else "no time"
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400

    def unit(count: int, name: str) -> str:
        return f"{count} {name}{'' if count == 1 else 's'}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    return unit(minutes, "minute")
