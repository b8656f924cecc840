"""``check_display_text`` through the endpoints whose text other people read: the
application's name and bank details (payers see them on the checkout page), a
payment's reference label (contract B). Control, format and line-break characters
(Unicode Cc, Cf, Zl, Zp) are refused with 422 and the field named; ZWJ, ZWNJ and a
subdivision flag's tags, which real names need, pass and come back unchanged."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from payreq.errors import ValidationFailed
from payreq.kit.jsonbody import REPLACEMENT, check_display_text, displayable
from tests.application.conftest import checkout, checkout_ok
from tests.checkout.conftest import open_page
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of

API = "/api/payment-applications"
BANK = {"accountHolder": "Shop Ltd", "bankName": "Example Bank", "iban": "DE89 3704 0044 0532 0130 00"}

INVISIBLE = [
    pytest.param("\u2028", id="U+2028-line-separator"),
    pytest.param("\u2029", id="U+2029-paragraph-separator"),
    pytest.param("\n", id="U+000A-line-feed"),
    pytest.param("\r", id="U+000D-carriage-return"),
    pytest.param("\t", id="U+0009-tab"),
    pytest.param("\x85", id="U+0085-next-line"),
    pytest.param("\x1b", id="U+001B-escape"),
    pytest.param("\u200b", id="U+200B-zero-width-space"),
    pytest.param("\u2060", id="U+2060-word-joiner"),
    pytest.param("\ufeff", id="U+FEFF-byte-order-mark"),
    pytest.param("\u00ad", id="U+00AD-soft-hyphen"),
    pytest.param("\U000e0041", id="U+E0041-tag-letter"),
]
BIDI = [pytest.param(ch, id=f"U+{ord(ch):04X}") for ch in "\u202e\u202d\u2066\u2067\u2068\u200e\u200f\u061c"]
NAMES_THAT_PASS = [
    pytest.param("Familie \U0001f468\u200d\U0001f469\u200d\U0001f467 Laden", id="emoji-ZWJ-family"),
    pytest.param("\U0001f469\u200d\U0001f373 Kitchen", id="emoji-ZWJ-cook"),
    pytest.param(
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u06a9\u062a\u0627\u0628", id="Persian-ZWNJ"
    ),
    pytest.param("\u0936\u094d\u200d\u0930\u0940 Traders", id="Devanagari-ZWJ"),
    pytest.param(
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Highland Crafts",
        id="Scotland-flag-tags",
    ),
    pytest.param("Caf\u00e9 M\u00fcller & S\u00f6hne", id="Latin-accents"),
]


def expected_message(param: str, ch: str) -> str:
    return f"{param} must not contain control, format or line-break characters (found U+{ord(ch):04X})."


@pytest.mark.parametrize("ch", INVISIBLE)
async def test_an_application_name_with_an_invisible_or_line_breaking_character_is_422(
    merchant: Merchant, ch: str
) -> None:
    headers = await merchant.headers()
    answer = await merchant.http.post(API, json={"name": f"Shop{ch}Other Shop"}, headers=headers)
    error = error_of(answer, 422, "validation_error")
    assert (error["code"], error["param"]) == ("control_character", "name")
    assert error["message"] == expected_message("name", ch)
    client_id = merchant.credentials.application_client_id
    renamed = await merchant.http.patch(f"{API}/{client_id}", json={"name": f"A{ch}B"}, headers=headers)
    error = error_of(renamed, 422, "validation_error")
    assert (error["code"], error["param"]) == ("control_character", "name")
    kept = await merchant.http.get(f"{API}/{client_id}", headers=headers)
    assert ch not in kept.json()["name"]


@pytest.mark.parametrize("ch", INVISIBLE)
async def test_bank_details_with_an_invisible_or_line_breaking_character_are_422(
    merchant: Merchant, ch: str
) -> None:
    headers = await merchant.headers()
    client_id = merchant.credentials.application_client_id
    for field in ("accountHolder", "bankName"):
        bank = {**BANK, field: f"Shop{ch}Ltd"}
        answer = await merchant.http.patch(f"{API}/{client_id}", json={"bankDetails": bank}, headers=headers)
        error = error_of(answer, 422, "validation_error")
        assert (error["code"], error["param"]) == ("control_character", f"bankDetails.{field}")
        assert error["message"] == expected_message(f"bankDetails.{field}", ch)


@pytest.mark.parametrize("ch", [*INVISIBLE, *BIDI])
async def test_a_reference_label_with_an_invisible_or_bidi_character_is_422(
    merchant: Merchant, http: httpx.AsyncClient, ch: str
) -> None:
    answer = await checkout(
        http,
        merchant.credentials.client_token,
        merchant.credentials.application_client_id,
        referenceLabel=f"Invoice 0001{ch}Paid in full",
    )
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "referenceLabel"
    assert error["code"] == (
        "bidi_control" if ch in "\u202e\u202d\u2066\u2067\u2068\u200e\u200f\u061c" else "control_character"
    )


@pytest.mark.parametrize("ch", BIDI)
async def test_bidi_controls_keep_their_own_code(merchant: Merchant, ch: str) -> None:
    answer = await merchant.http.post(API, json={"name": f"Shop{ch}pohS"}, headers=await merchant.headers())
    error = error_of(answer, 422, "validation_error")
    assert (error["code"], error["param"]) == ("bidi_control", "name")
    assert error["message"] == "name must not contain bidirectional control characters (such as U+202E)."


@pytest.mark.parametrize("name", NAMES_THAT_PASS)
async def test_names_with_joiners_and_flag_tags_pass_and_reach_the_payer_unchanged(
    merchant: Merchant, http: httpx.AsyncClient, name: str
) -> None:
    headers = await merchant.headers()
    created = await merchant.http.post(
        API,
        json={
            "name": name,
            "methods": ["sandbox", "bank_transfer"],
            "bankDetails": {**BANK, "accountHolder": name},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["name"] == name and app["bankDetails"]["accountHolder"] == name
    token = (
        await merchant.http.post(
            f"{API}/{app['clientId']}/tokens", json={"label": "t", "scopes": ["*"]}, headers=headers
        )
    ).json()["token"]
    payment = await checkout_ok(http, token, app["clientId"], referenceLabel=name)
    assert payment["referenceLabel"] == name
    answer, page = await open_page(http, payment["id"])
    assert answer.status_code == 200
    assert page.text.count(name) >= 2  # the application's name and the reference label


@pytest.mark.parametrize("ch", [*INVISIBLE, *BIDI])
async def test_a_client_token_label_with_an_invisible_or_bidi_character_is_422(
    merchant: Merchant, ch: str
) -> None:
    """The dashboard lists the label beside its Revoke button: display text."""
    client_id = merchant.credentials.application_client_id
    answer = await merchant.http.post(
        f"{API}/{client_id}/tokens",
        json={"label": f"shop{ch}server", "scopes": ["*"]},
        headers=await merchant.headers(),
    )
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "label"
    if ch in "\u202e\u202d\u2066\u2067\u2068\u200e\u200f\u061c":
        assert error["code"] == "bidi_control"
    else:
        assert (error["code"], error["message"]) == ("control_character", expected_message("label", ch))


async def test_a_reference_id_stays_the_merchants_machine_identifier(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    """``reference`` (reference_id) is the merchant's own key, echoed back byte for byte
    and searched by: only NUL and lone surrogates are refused (check_text); the pages
    that show it replace invisible characters at render time."""
    reference = "ORDER\t42\u200b"
    payment = await checkout_ok(
        http,
        merchant.credentials.client_token,
        merchant.credentials.application_client_id,
        reference=reference,
    )
    assert payment["reference"] == reference


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_what_a_page_shows_always_passes_the_rule_and_valid_text_is_shown_unchanged(text: str) -> None:
    """``displayable`` (the templates' ``visible`` filter) and ``check_display_text``
    are one rule: whatever is stored, the page shows text the rule accepts, and text
    the rule accepts is shown as it is."""
    shown = displayable(text)
    check_display_text(shown, "name")
    assert len(shown) == len(text)
    try:
        check_display_text(text, "name")
    except ValidationFailed:
        assert shown != text and REPLACEMENT in shown
    else:
        assert shown == text


@pytest.mark.parametrize("name", NAMES_THAT_PASS)
def test_joiners_and_flag_tags_are_shown_unchanged(name: str) -> None:
    assert displayable(name) == name
