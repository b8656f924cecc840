"""The EPC QR code ("GiroCode", EPC069-12) on the checkout page of a euro bank
transfer: the SVG the page serves is read back as a QR code (zxing-cpp) and every
field of its payload checked. Other currencies get none; it needs no external asset.
A sandbox payment gets none either: a banking app would pay its (possibly real) IBAN
for real, so the page says that no money moves instead."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import zxingcpp
from PIL import Image, ImageDraw

from payreq.method import creditor_reference
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
