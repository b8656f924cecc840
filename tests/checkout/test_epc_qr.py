"""The EPC QR code ("GiroCode", EPC069-12) on the checkout page of a euro bank
transfer: the SVG the page serves is read back as a QR code (zxing-cpp) and every
field of its payload checked. Other currencies get none; it needs no external asset.
A sandbox payment gets none either: a banking app would pay its (possibly real) IBAN
for real, so the page says that no money moves instead."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from segno import QRCode

from payreq.application.models import BankDetails
from payreq.method import creditor_reference
from payreq.method.bank_transfer import epc_qr
from payreq.services import Services
from tests.application.conftest import new_application
from tests.checkout.conftest import open_page
from tests.fixtures.factories import Merchant
from tests.method.conftest import BANK, bank_application, new_payment, transfer_reference

MakeMerchant = Callable[..., Awaitable[Merchant]]
TEST_MODE = (
    "Test mode: no money moves. This is a sandbox payment, so no QR code is shown and no banking "
    "app can pay it. Do not send a real transfer: the payment is marked paid only when a test "
    "statement is imported."
)

_PATH = re.compile(r'<path stroke="#000" d="([^"]+)"')
_STEP = re.compile(r"([Mmh])(-?[0-9.]+)(?: (-?[0-9.]+))?")


def qr_svg(html: str) -> str:
    found = re.search(r'<svg [^>]*class="epc-qr-code".*?</svg>', html, re.S)
    assert found is not None, "no EPC QR code on the page"
    return found.group(0)


def decode_svg(svg: str) -> str:
    """Draw the SVG's one path (segno's horizontal runs of dark modules) on a bitmap
    and read it as a QR code: what a banking app's camera would get."""
    size = int(re.search(r'viewBox="0 0 ([0-9]+) ', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\(([0-9]+)\)", svg).group(1))  # type: ignore[union-attr]
    path = _PATH.search(svg)
    assert path is not None
    modules = size // scale
    pixel = 8
    image = Image.new("L", (modules * pixel, modules * pixel), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, a, b in _STEP.findall(path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:  # h: a run of dark modules on row y - 0.5
            row = int(y - 0.5)
            draw.rectangle(
                [int(x) * pixel, row * pixel, int(x + float(a)) * pixel - 1, (row + 1) * pixel - 1], fill=0
            )
            x += float(a)
    found = zxingcpp.read_barcode(image)
    assert found is not None and found.format == zxingcpp.BarcodeFormat.QRCode
    text: str = found.text
    return text


def check_payload(text: str, *, reference: str, amount: str) -> None:
    lines = text.split("\n")
    assert lines[:8] == [
        "BCD",  # service tag
        "002",  # version
        "1",  # character set: UTF-8
        "SCT",  # SEPA credit transfer
        BANK["bic"],
        BANK["accountHolder"],
        BANK["iban"].replace(" ", ""),
        lines[7],
    ]
    assert lines[7].startswith("EUR") and Decimal(lines[7][3:]) == Decimal(amount)
    assert lines[8] == ""  # purpose code: none
    assert lines[9] == creditor_reference.compact_form(reference)  # structured remittance (RF)
    assert all(line == "" for line in lines[10:])  # no unstructured text beside it


async def test_a_euro_bank_transfer_shows_an_epc_qr_code_with_every_field(
    make_merchant: MakeMerchant, http: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(environment="production")
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 12550, "EUR")
    answer, page = await open_page(http, payment["id"])
    assert answer.status_code == 200
    assert "Test mode" not in page.text and "Sandbox" not in page.text
    svg = qr_svg(answer.text)
    assert "href" not in svg and "<image" not in svg and "style=" not in svg  # no asset, CSP-clean
    assert 'role="img"' in svg and 'aria-labelledby="epc-qr-caption"' in svg
    assert 'id="epc-qr-caption"' in answer.text
    reference = await transfer_reference(merchant, payment["id"])
    check_payload(decode_svg(svg), reference=reference, amount="125.50")


async def test_a_sandbox_euro_bank_transfer_shows_no_qr_code_but_says_no_money_moves(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 12550, "EUR")
    answer, page = await open_page(http, payment["id"])
    assert answer.status_code == 200
    assert (
        "<svg" not in answer.text
        and "epc-qr" not in answer.text
        and "Scan with your banking app" not in page.text
    )
    assert TEST_MODE in page.text
    assert re.search(r'<p class="test-mode" role="note">', answer.text)
    # the written instructions stay, so the flow can be tried with a test statement
    reference = await transfer_reference(merchant, payment["id"])
    assert creditor_reference.display_form(reference) in page.text


async def test_other_currencies_get_no_qr_code(make_merchant: MakeMerchant, http: httpx.AsyncClient) -> None:
    merchant = await make_merchant(environment="production")
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 12500, "HUF")
    answer, _ = await open_page(http, payment["id"])
    assert answer.status_code == 200 and "epc-qr-code" not in answer.text
    assert "125.00 HUF" in answer.text


# -- a field EPC069-12 cannot carry as the written instructions give it: no code ----------


def decode_code(code: QRCode) -> str:
    """Read a segno code back from a PNG of it (zxing-cpp)."""
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=8, border=4)
    buffer.seek(0)
    found = zxingcpp.read_barcode(Image.open(buffer))
    assert found is not None and found.format == zxingcpp.BarcodeFormat.QRCode
    text: str = found.text
    return text


def details(**changes: str | None) -> BankDetails:
    fields: dict[str, str | None] = {
        "account_holder": BANK["accountHolder"],
        "bank_name": BANK["bankName"],
        "iban": BANK["iban"].replace(" ", ""),
        "bic": BANK["bic"],
        **changes,
    }
    return BankDetails(**fields)  # type: ignore[arg-type]


REFERENCE = "RF18539007547034"


async def holder_application(merchant: Merchant, holder: str) -> str:
    """A bank-transfer application whose account holder is ``holder``; its Client ID."""
    bank = {**BANK, "accountHolder": holder}
    created = await new_application(merchant, methods=["bank_transfer"], bankDetails=bank)
    client_id: str = created["clientId"]
    return client_id


def test_the_payload_builder_draws_every_field_on_its_own_line() -> None:
    code = epc_qr(details(), 12550, "EUR", REFERENCE)
    assert code is not None
    lines = decode_code(code).split("\n")
    assert lines[:10] == [
        "BCD",
        "002",
        "1",
        "SCT",
        "COBADEFFXXX",
        "Example Shop GmbH",
        "DE89370400440532013000",
        "EUR125.5",
        "",
        REFERENCE,
    ]


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param("Example Shop\nDE02120300000000202051", id="line-feed"),
        pytest.param("Example Shop\r\nGmbH", id="CR-LF"),
        pytest.param("Example Shop\rGmbH", id="lone-CR"),
        pytest.param("Example Shop\u2028GmbH", id="U+2028"),
        pytest.param("Example Shop\u2029GmbH", id="U+2029"),
        pytest.param("Example Shop\x85GmbH", id="NEL"),
        pytest.param("Example Shop\x0bGmbH", id="vertical-tab"),
        pytest.param("Example Shop\u202eHbmG", id="bidi-override"),
        pytest.param("Example Shop\u200bGmbH", id="zero-width-space"),
        pytest.param("x" * 71, id="71-characters"),
        pytest.param("\U0001f600" * 70, id="payload-over-331-bytes"),
    ],
)
def test_a_beneficiary_name_the_code_cannot_carry_gets_no_code(holder: str) -> None:
    assert epc_qr(details(account_holder=holder), 12550, "EUR", REFERENCE) is None


@pytest.mark.parametrize(
    ("amount", "reference", "changes"),
    [
        pytest.param(100_000_000_000, REFERENCE, {}, id="amount-over-999999999.99"),
        pytest.param(12550, "RF18 5390 0754 7034", {}, id="reference-with-spaces"),
        pytest.param(12550, "RF18" + "9" * 32, {}, id="reference-over-35"),
        pytest.param(12550, "RF18\n12", {}, id="reference-with-line-feed"),
        pytest.param(12550, REFERENCE, {"bic": "COBA\nDEFF"}, id="bic-with-line-feed"),
        pytest.param(12550, REFERENCE, {"iban": "DE89 3704 0044 0532 0130 00"}, id="iban-not-compact"),
        pytest.param(12550, REFERENCE, {"iban": None, "account_number": "12345678"}, id="no-iban"),
    ],
)
def test_other_fields_the_code_cannot_carry_get_no_code(
    amount: int, reference: str, changes: dict[str, str | None]
) -> None:
    assert epc_qr(details(**changes), amount, "EUR", reference) is None


async def test_a_name_of_exactly_70_characters_and_the_largest_amount_are_drawn_in_full(
    make_merchant: MakeMerchant, http: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(environment="production")  # the sandbox draws no QR code
    holder = "Beispielhafte Buchhandlung am Marktplatz Gesellschaft mbH & Co. KG 123"
    assert len(holder) == 70
    client_id = await holder_application(merchant, holder)
    payment = await new_payment(merchant, client_id, 99_999_999_999, "EUR")
    answer, _ = await open_page(http, payment["id"])
    lines = decode_svg(qr_svg(answer.text)).split("\n")
    assert (lines[5], lines[7]) == (holder, "EUR999999999.99")


@pytest.mark.parametrize(
    ("holder", "amount"),
    [
        pytest.param(
            "Beispielhafte Buchhandlung am Marktplatz Gesellschaft mbH & Co. KG 1234", 12550, id="71-chars"
        ),
        pytest.param("\U0001f4da" * 70, 12550, id="payload-over-331-bytes"),
        pytest.param(BANK["accountHolder"], 100_000_000_000, id="amount-over-epc-max"),
    ],
)
async def test_the_checkout_page_keeps_the_written_instructions_where_the_code_would_be_wrong(
    make_merchant: MakeMerchant, http: httpx.AsyncClient, holder: str, amount: int
) -> None:
    merchant = await make_merchant(environment="production")  # where a QR code would be drawn
    client_id = await holder_application(merchant, holder)
    payment = await new_payment(merchant, client_id, amount, "EUR")
    answer, page = await open_page(http, payment["id"])
    assert answer.status_code == 200
    assert "epc-qr-code" not in answer.text and "epc-qr-caption" not in answer.text
    reference = await transfer_reference(merchant, payment["id"])
    assert holder in page.text
    assert "DE89 3704 0044 0532 0130 00" in page.text
    assert creditor_reference.display_form(reference) in page.text


@pytest.mark.parametrize("holder", ["Example Shop\nDE02120300000000202051", "Example Shop\u2028GmbH"])
async def test_bank_details_stored_before_the_display_rule_with_a_line_break_get_no_code(
    make_merchant: MakeMerchant, http: httpx.AsyncClient, services: Services, holder: str
) -> None:
    """The API now refuses a line break in the account holder (422); a row written
    before that rule may still hold one, and must not shift the code's fields."""
    merchant = await make_merchant(environment="production")  # where a QR code would be drawn
    client_id = await bank_application(merchant)
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET bank_details = :b WHERE client_id = :c",
            {
                "b": json.dumps({**BANK, "accountHolder": holder, "iban": "DE89370400440532013000"}),
                "c": client_id,
            },
        )
    payment = await new_payment(merchant, client_id, 12550, "EUR")
    answer, page = await open_page(http, payment["id"])
    assert answer.status_code == 200
    assert "epc-qr-code" not in answer.text
    assert "DE89 3704 0044 0532 0130 00" in page.text and "125.50 EUR" in page.text
