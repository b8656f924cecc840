"""Amounts (integer minor units, 1..10**12) and ISO 4217 currency codes."""

from __future__ import annotations

import pytest

from payreq.kit.money import MAX_AMOUNT, MIN_AMOUNT, minor_unit_digits, normalise_currency, parse_amount


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, 1),
        (10000, 10000),
        (10**12, 10**12),
        ("1", 1),
        ("10000", 10000),
        ("1000000000000", 10**12),
    ],
)
def test_parse_amount_accepts_ints_and_digit_strings_in_range(given: object, expected: int) -> None:
    assert parse_amount(given) == expected


def test_parse_amount_bounds_are_one_and_ten_to_the_twelfth() -> None:
    assert (MIN_AMOUNT, MAX_AMOUNT) == (1, 10**12)


@pytest.mark.parametrize(
    "given",
    [
        # not an integer type the API accepts
        True,
        False,
        1.0,
        1000.0,
        1e3,
        None,
        b"100",
        [100],
        {"amount": 100},
        # out of range
        0,
        "0",
        "000",
        -1,
        -(10**12),
        10**12 + 1,
        "1000000000001",
        "9999999999999",
        "10000000000000",
        "1" * 14,
        "0" * 20 + "1",
        10**30,
        # not a plain string of ASCII digits
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1\n",
        "\t1",
        "1 000",
        "1,000",
        "1_000",
        "1.0",
        "1.",
        "1e3",
        "0x10",
        "Infinity",
        "NaN",
        "abc",
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() says yes, the API says no
        "\uff11\uff12",  # fullwidth digits
        "²",
    ],
)
def test_parse_amount_refuses(given: object) -> None:
    assert parse_amount(given) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("USD", "USD"),
        ("usd", "USD"),
        ("Usd", "USD"),
        ("eur", "EUR"),
        ("jpy", "JPY"),
        ("KWD", "KWD"),
        ("bhd", "BHD"),
    ],
)
def test_normalise_currency_upper_cases_active_codes(given: str, expected: str) -> None:
    assert normalise_currency(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "DEM",  # obsolete (Deutsche Mark, replaced by EUR)
        "FRF",  # obsolete
        "HRK",  # obsolete since Croatia adopted EUR in 2023
        "VEF",  # replaced by VES
        "ZZZ",  # not a code at all
        "XAU",  # gold: an ISO code, but not legal tender
        "XAG",  # silver
        "XDR",  # IMF special drawing right
        "XTS",  # reserved for testing
        "XXX",  # "no currency"
        "",
        "US",
        "USDD",
        "U$D",
        "\uff35\uff33\uff24",  # fullwidth letters
        "usd" * 10,
    ],
)
def test_normalise_currency_refuses_unknown_obsolete_and_non_tender_codes(given: str) -> None:
    assert normalise_currency(given) is None


@pytest.mark.parametrize(
    ("code", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3)]
)
def test_minor_unit_digits_follow_iso_4217(code: str, digits: int) -> None:
    assert minor_unit_digits(code) == digits


# SPEC: "Amounts are integers in the currency's minor unit (ISO 4217 exponent ...)".
# babel's get_currency_precision returns CLDR's *practical* digits, which differ from
# the ISO 4217 exponent for a dozen active currencies.
@pytest.mark.parametrize(("code", "digits"), [("IQD", 3), ("ALL", 2), ("RSD", 2), ("MGA", 2), ("LBP", 2)])
def test_minor_unit_digits_match_iso_4217_where_cldr_differs(code: str, digits: int) -> None:
    assert normalise_currency(code) == code
    assert minor_unit_digits(code) == digits
