"""How the page words money and time: Accept-Language negotiation, ISO 4217 digits
in the payer's locale, and the time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payreq.checkout.format import format_amount, payer_locale, preferred_languages, time_left


def test_accept_language_is_ordered_by_quality_and_junk_is_dropped() -> None:
    header = "fr;q=0.5, de-DE, en;q=0.8, *;q=0.1, x y z, es;q=abc, it;q=0"
    assert preferred_languages(header) == ["de_DE", "en", "fr"]
    assert preferred_languages(None) == [] and preferred_languages("") == []
    assert preferred_languages(",".join(["en"] * 100)) == ["en"] * 12


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en_US"),
        ("de-CH", "de_CH"),
        ("pt-BR,pt;q=0.9", "pt_BR"),
        ("zz-ZZ, fr;q=0.1", "fr"),
        ("zz", "en_US"),
    ],
)
def test_the_payers_locale_is_negotiated_with_a_fallback(header: str | None, locale: str) -> None:
    assert str(payer_locale(header)) == locale


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (1, "USD", "en_US", "$0.01"),
        (10**12, "USD", "en_US", "$10,000,000,000.00"),
        (500, "JPY", "ja_JP", "￥500"),
        (500, "IQD", "en_US", "IQD\u00a00.500"),  # ISO 4217 has 3 digits where CLDR shows none
        (100, "CHF", "de_CH", "CHF\u00a01.00"),
        (1234, "EUR", "nl_NL", "€\u00a012,34"),
    ],
)
def test_amounts_use_iso_digits_in_the_locales_pattern(
    amount: int, currency: str, locale: str, shown: str
) -> None:
    assert format_amount(amount, currency, payer_locale(locale.replace("_", "-"))) == shown


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3 * 86400 + 3600 + 5, "3 days 1 hour"),
        (86400, "1 day"),
        (7200 + 60, "2 hours 1 minute"),
        (3600, "1 hour"),
        (59 * 60 + 59, "59 minutes"),
        (30, "less than a minute"),
        (0, "no time"),
        (-5, "no time"),
    ],
)
def test_time_left_in_words(seconds: int, words: str) -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert time_left(now + timedelta(seconds=seconds), now) == words
