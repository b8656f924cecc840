"""Amounts (integer minor units, 1..10**12) and ISO 4217 currency codes."""

from __future__ import annotations

import pytest

from payreq.kit.money import (
    MAX_AMOUNT,
    MIN_AMOUNT,
    active_currencies,
    exponents,
    minor_unit_digits,
    normalise_currency,
    parse_amount,
)


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
        "u\u017fd",  # a long s, which str.upper() folds into S
        "\u0131nr",  # a dotless i, which str.upper() folds into I
        " USD ",
        "USD\n",
        "\tusd",
        "\u00a0USD",  # a no-break space
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


# ISO 4217 list one (published 2026-01-01 by SIX, the maintenance agency), every code
# with a minor unit, typed out here so that a new data package or a library upgrade
# that changes what an amount means fails this test instead of changing money.
LIST_ONE = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2, "BAM": 2,
    "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2,
    "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4,
    "CLP": 0, "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2,
    "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2,
    "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2,
    "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2,
    "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2,
    "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2,
    "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2,
    "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2,
    "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2,
    "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0,
    "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip


def test_the_exponent_table_is_iso_4217_list_one() -> None:
    assert dict(exponents()) == LIST_ONE


@pytest.mark.parametrize(
    ("code", "digits"),
    [("HUF", 2), ("COP", 2), ("IDR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_the_named_codes_have_their_iso_exponent_whatever_babel_says(code: str, digits: int) -> None:
    # babel 2.19 (CLDR cash rounding) says 0 for HUF, COP and IDR
    assert minor_unit_digits(code) == digits


def test_active_codes_are_list_ones_currencies_without_the_fund_codes() -> None:
    assert active_currencies() == frozenset(LIST_ONE) - {
        "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI",
    }  # fmt: skip
    assert {normalise_currency(code) for code in ("huf", "COP", "idr")} == {"HUF", "COP", "IDR"}
