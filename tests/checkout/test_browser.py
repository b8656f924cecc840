"""The checkout in a real browser: Debian's Chromium driven by Playwright's Python
package (``executable_path``; Playwright never downloads a browser), against a real
``payreq serve`` on loopback, with a tiny local HTTP server as the merchant's shop.

Screenshots land in ``tests/artifacts/`` (git-ignored) for a person to look at.
Under CI=true a missing Chromium or Playwright fails the run; elsewhere these tests
are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.fixtures.browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, require_browser
from tests.fixtures.live import free_port, live_database

PAYREQ = str(Path(sys.executable).with_name("payreq"))
BANK = {
    "accountHolder": "Example Shop GmbH",
    "bankName": "Example Bank",
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX",
}


@pytest.fixture(scope="module")
def browser_available() -> None:
    require_browser()


# -- the merchant's shop: where payers land ------------------------------------------


@dataclass
class Shop:
    url: str
    visits: list[str] = field(default_factory=list)


class _ShopHandler(BaseHTTPRequestHandler):
    shop: Shop

    def do_GET(self) -> None:
        self.shop.visits.append(self.path)
        body = b"<!doctype html><title>Shop</title><h1>Back at the shop</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopHandler)
    found = Shop(url=f"http://127.0.0.1:{server.server_address[1]}")
    _ShopHandler.shop = found
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


# -- payreq itself ---------------------------------------------------------------------


@dataclass
class Payreq:
    url: str
    credentials: dict[str, str]
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.credentials['client_token']}"},
            timeout=10,
        )

    def access_token(self) -> str:
        answer = httpx.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.credentials["client_id"], self.credentials["client_secret"]),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PAYREQ, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def payreq(
    browser_available: None, tmp_path_factory: pytest.TempPathFactory, live_engine: str
) -> Iterator[Payreq]:
    home = tmp_path_factory.mktemp("browser")
    with live_database(live_engine, home / "payreq.db") as url:
        yield from _served(home, url)


def _served(home: Path, database_url: str) -> Iterator[Payreq]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")}
    env.update(
        PAYREQ_DATABASE_URL=database_url,
        PAYREQ_BASE_URL=f"http://127.0.0.1:{port}",
        PAYREQ_LOG_LEVEL="WARNING",
        PAYREQ_DEFAULT_RATE_LIMIT="1000",
    )
    _run(env, "migrate")
    credentials = json.loads(_run(env, "bootstrap", "--json", "--name", "Corner Bookshop"))
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PAYREQ, "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Payreq(url=f"http://127.0.0.1:{port}", credentials=credentials, env=env)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def bank_application(payreq: Payreq, token: str, **bank: str) -> dict[str, Any]:
    """A bank-transfer application ("Books online", the test's bank details but ``bank``)."""
    answer = httpx.post(
        f"{payreq.url}/api/payment-applications",
        json={"name": "Books online", "methods": ["bank_transfer"], "bankDetails": {**BANK, **bank}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def production(payreq: Payreq) -> Payreq:
    """Another account of the same server, in production (live bank details, real QR)."""
    credentials = json.loads(
        _run(payreq.env, "bootstrap", "--json", "--environment", "production", "--name", "Corner Bookshop")
    )
    return Payreq(url=payreq.url, credentials=credentials, env=payreq.env)


def create_payment(payreq: Payreq, shop: Shop, *, token: str | None = None, **fields: Any) -> dict[str, Any]:
    """A payment through the default application's client token, or ``token`` (an
    access token, for another application)."""
    body = {
        "amount": 10000,
        "currencyCode": "USD",
        "reference": "ORDER-42",
        "referenceLabel": "Order #42",
        "clientId": payreq.credentials["application_client_id"],
        "redirectUrl": f"{shop.url}/return?cart=7",
        **fields,
    }
    with payreq.api() as api:
        if token is not None:
            api.headers["Authorization"] = f"Bearer {token}"
        answer = api.post("/api/payment/checkout", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def status_of(payreq: Payreq, payment_id: str) -> str:
    with payreq.api() as api:
        status: str = api.get(f"/api/payment/{payment_id}").json()["status"]
    return status


# -- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser(browser_available: None) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Errors the page's console reported: CSP violations, script errors."""
    return []


@pytest.fixture
async def page(browser: Any, console_errors: list[str]) -> AsyncIterator[Any]:
    context = await browser.new_context(locale="en-US", viewport={"width": 1024, "height": 900})
    opened = await context.new_page()
    opened.on(
        "console",
        lambda message: (
            console_errors.append(f"{message.text} {message.location}") if message.type == "error" else None
        ),
    )
    opened.on("pageerror", lambda error: console_errors.append(str(error)))
    yield opened
    await context.close()


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"checkout-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def landed(url: str, shop: Shop) -> dict[str, str]:
    assert url.startswith(f"{shop.url}/return?"), url
    return dict(parse_qsl(urlsplit(url).query))


# -- the tests ------------------------------------------------------------------------------


async def test_pay_in_the_sandbox_and_land_on_the_shop_with_status_paid(
    payreq: Payreq, shop: Shop, page: Any, console_errors: list[str]
) -> None:
    payment = create_payment(payreq, shop)
    await page.goto(payment["checkoutUrl"])
    amount = page.locator("h1 .amount")
    assert await amount.inner_text() == "$100.00"
    assert await page.get_by_text("Corner Bookshop", exact=True).is_visible()
    assert await page.get_by_text("Order #42").is_visible()
    assert await page.get_by_text("Time left: 23 hours 59 minutes").is_visible()
    await screenshot(page, "sandbox-pending")

    async with page.expect_navigation(url=f"{shop.url}/return**"):
        await page.get_by_role("button", name="Simulate a successful payment").click()
    assert landed(page.url, shop) == {
        "cart": "7",
        "payment_request_id": payment["id"],
        "status": "paid",
        "reference_id": "ORDER-42",
    }
    assert await page.get_by_role("heading", name="Back at the shop").is_visible()
    assert status_of(payreq, payment["id"]) == "paid"
    assert console_errors == []  # no CSP violation, no script error

    await page.goto(payment["checkoutUrl"])
    assert await page.get_by_role("heading", name="Payment received").is_visible()
    assert await page.get_by_role("link", name="Return to Corner Bookshop").is_visible()
    await screenshot(page, "paid")


@pytest.mark.parametrize("redirect_url", ["https://my_shop.example/ok", "https://shop.example./ok"])
async def test_the_browser_follows_the_redirect_to_a_host_with_an_underscore_or_a_trailing_dot(
    payreq: Payreq, shop: Shop, page: Any, console_errors: list[str], redirect_url: str
) -> None:
    """Chrome checks a form's redirect against ``form-action``; a host the policy did
    not allow left the payer on the stale page of a paid payment. The hosts do not
    resolve here, so the test watches the browser ask for the page."""
    payment = create_payment(payreq, shop, redirectUrl=redirect_url)
    await page.goto(payment["checkoutUrl"])
    async with page.expect_request(lambda request: request.url.startswith(redirect_url), timeout=10_000):
        await page.get_by_role("button", name="Simulate a successful payment").click()
    assert status_of(payreq, payment["id"]) == "paid"
    assert not [error for error in console_errors if "Content Security Policy" in error]


async def test_cancel_lands_on_the_shop_with_status_cancelled(payreq: Payreq, shop: Shop, page: Any) -> None:
    payment = create_payment(payreq, shop)
    await page.goto(payment["checkoutUrl"] + "?redirect=https://evil.example/&return_to=//evil.example")
    async with page.expect_navigation(url=f"{shop.url}/return**"):
        await page.get_by_role("button", name="Cancel payment and return to Corner Bookshop").click()
    assert landed(page.url, shop)["status"] == "cancelled"
    assert status_of(payreq, payment["id"]) == "cancelled"


async def test_an_expired_request_shows_expired(payreq: Payreq, shop: Shop, page: Any) -> None:
    payment = create_payment(payreq, shop)
    with payreq.api() as api:
        simulated = api.post(f"/api/sandbox/payment/{payment['id']}/simulate", json={"outcome": "expired"})
    assert simulated.status_code == 200
    await page.goto(payment["checkoutUrl"])
    assert await page.get_by_role("heading", name="Payment request expired").is_visible()
    assert await page.get_by_role("button").count() == 0
    back = page.get_by_role("link", name="Return to Corner Bookshop")
    await screenshot(page, "expired")
    async with page.expect_navigation(url=f"{shop.url}/return**"):
        await back.click()
    assert landed(page.url, shop)["status"] == "expired"

    # and the sandbox's own button expires a pending request early
    second = create_payment(payreq, shop)
    await page.goto(second["checkoutUrl"])
    async with page.expect_navigation(url=f"{shop.url}/return**"):
        await page.get_by_role("button", name="Simulate an expired payment").click()
    assert landed(page.url, shop)["status"] == "expired"


async def test_the_page_works_without_javascript(payreq: Payreq, shop: Shop, browser: Any) -> None:
    context = await browser.new_context(java_script_enabled=False, locale="de-DE")
    try:
        page = await context.new_page()
        payment = create_payment(payreq, shop)
        await page.goto(payment["checkoutUrl"])
        assert await page.locator("h1 .amount").inner_text() == "100,00\u00a0$"
        async with page.expect_navigation(url=f"{shop.url}/return**"):
            await page.get_by_role("button", name="Simulate a successful payment").click()
        assert landed(page.url, shop)["status"] == "paid"
    finally:
        await context.close()


async def test_the_page_is_usable_with_the_keyboard_alone(payreq: Payreq, shop: Shop, page: Any) -> None:
    payment = create_payment(payreq, shop)
    await page.goto(payment["checkoutUrl"])
    names = []
    for _ in range(6):
        await page.keyboard.press("Tab")
        names.append(await page.evaluate("document.activeElement.textContent.trim()"))
        if names[-1] == "Simulate a successful payment":
            break
    assert names[-1] == "Simulate a successful payment", names
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    async with page.expect_navigation(url=f"{shop.url}/return**"):
        await page.keyboard.press("Enter")
    assert landed(page.url, shop)["status"] == "paid"


CONTRAST = """
() => {
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (css) => css.match(/[0-9.]+/g).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  document.querySelectorAll(
    "p, h1, h2, dt, dd, li, button, a, code, .amount"
  ).forEach((el) => {
    if (!el.offsetParent || el.closest(".visually-hidden")) return;
    const fg = luminance(parse(getComputedStyle(el).color).slice(0, 3));
    const bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const key = el.tagName.toLowerCase() + "." + el.className + ": " + el.textContent.trim().slice(0, 30);
    out[key] = Math.round(ratio * 100) / 100;
  });
  return out;
}
"""


async def test_bank_transfer_on_a_phone_moves_on_when_the_statement_arrives(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    token = payreq.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    app = httpx.post(
        f"{payreq.url}/api/payment-applications",
        json={"name": "Books online", "methods": ["bank_transfer", "sandbox"], "bankDetails": BANK},
        headers=headers,
    ).json()
    with httpx.Client(base_url=payreq.url, headers=headers) as api:
        created = api.post(
            "/api/payment/checkout",
            json={
                "amount": 2450,
                "currencyCode": "EUR",
                "reference": "ORDER-77",
                "referenceLabel": "Order #77",
                "clientId": app["clientId"],
                "redirectUrl": f"{shop.url}/return",
            },
        ).json()
        reference = api.get(f"/api/payment/{created['id']}/instructions?method=bank_transfer").json()[
            "transferReference"
        ]
    context = await browser.new_context(
        locale="en-GB", viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    try:
        page = await context.new_page()
        await page.goto(created["checkoutUrl"])
        assert await page.locator("h1 .amount").inner_text() == "€24.50"
        shown = await page.locator("dd code").all_inner_texts()
        assert "DE89 3704 0044 0532 0130 00" in shown
        assert any(text.replace(" ", "") == reference for text in shown)
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width  # no sideways scrolling on a phone
        heights = await page.eval_on_selector_all(
            "form button", "buttons => buttons.map(b => b.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 44, heights  # touch targets
        contrast = await page.evaluate(CONTRAST)
        low = {k: v for k, v in contrast.items() if v < 4.5}
        assert contrast and not low, low
        await screenshot(page, "bank-transfer-phone")

        statement = f"id,amount,currency,reference\nBR-1,24.50,EUR,Order 77 {reference}\n"
        imported = httpx.post(
            f"{payreq.url}/api/statements",
            content=statement,
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert imported.json()["lines"][0]["outcome"] == "matched", imported.text
        heading = page.get_by_role("heading", name="Payment received")
        await heading.wait_for(timeout=30_000)  # the page's own polling, no reload by the test
        await screenshot(page, "bank-transfer-paid")
    finally:
        await context.close()


async def test_a_euro_bank_transfer_shows_a_scannable_epc_qr_code_on_desktop_and_phone(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    import zxingcpp
    from PIL import Image

    from tests.checkout.test_epc_qr import check_payload

    live = production(payreq)  # a sandbox payment shows no QR code (see the test-mode test)
    token = live.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    app = bank_application(payreq, token)
    with httpx.Client(base_url=payreq.url, headers=headers) as api:
        created = api.post(
            "/api/payment/checkout",
            json={
                "amount": 2450,
                "currencyCode": "EUR",
                "reference": "ORDER-78",
                "referenceLabel": "Order #78",
                "clientId": app["clientId"],
                "redirectUrl": "https://shop.example/return",
            },
        ).json()
        reference = api.get(f"/api/payment/{created['id']}/instructions?method=bank_transfer").json()[
            "transferReference"
        ]
    for name, viewport, scale in [("desktop", (1280, 900), 1), ("phone", (360, 740), 2)]:
        context = await browser.new_context(
            locale="en-GB",
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=scale,
            is_mobile=name == "phone",
        )
        try:
            page = await context.new_page()
            await page.goto(created["checkoutUrl"])
            code = page.locator("svg.epc-qr-code")
            await code.wait_for()
            box = await code.bounding_box()
            assert box is not None and box["width"] >= 150, box  # large enough to scan from a screen
            width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], width
            await screenshot(page, f"bank-transfer-qr-{name}")
            shot = ARTIFACTS / f"checkout-bank-transfer-qr-{name}-code.png"
            await code.screenshot(path=str(shot))
            found = zxingcpp.read_barcode(Image.open(shot))
            assert found is not None, f"the {name} screenshot's QR code cannot be read"
            check_payload(found.text, reference=reference, amount="24.50")
        finally:
            await context.close()


async def test_an_error_page_fits_a_phone_with_its_support_reference(payreq: Payreq, browser: Any) -> None:
    """A mistyped checkout link answers the payer's 404 page; at 360 px its long request
    id wraps inside the card instead of pushing the page sideways."""
    for name, width in [("desktop", 1280), ("phone", 360)]:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 740})
        try:
            page = await context.new_page()
            answer = await page.goto(f"{payreq.url}/checkout/not/a/checkout/link")
            assert answer is not None and answer.status == 404
            assert await page.get_by_role("heading", name="Payment request not found").is_visible()
            reference = await page.locator("code").inner_text()
            assert reference == answer.headers["x-request-id"]
            sizes = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert sizes[0] <= sizes[1], sizes  # no sideways scrolling
            await screenshot(page, f"not-found-{name}")
        finally:
            await context.close()


async def test_a_bank_transfer_the_epc_code_cannot_carry_shows_the_written_instructions_alone(
    payreq: Payreq, browser: Any
) -> None:
    """An account holder over EPC's 70 characters gets no QR code (a shortened name could
    fail the payer's bank's name check); the page gives the transfer in writing and
    still fits a phone. The names carry a ZWNJ (Persian) and a ZWJ emoji sequence,
    which pass the display-text rule and show as typed."""
    holder = "Beispielhafte Buchhandlung am Marktplatz Gesellschaft mbH & Co. KG 1234"
    assert len(holder) == 71
    app_name = "\u06a9\u062a\u0627\u0628\u200c\u0647\u0627 Books \U0001f469\u200d\U0001f4bb"
    live = production(payreq)  # in the sandbox no page draws a QR code at all
    token = live.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(
        f"{payreq.url}/api/payment-applications",
        json={
            "name": app_name,
            "methods": ["bank_transfer"],
            "bankDetails": {**BANK, "accountHolder": holder},
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    with httpx.Client(base_url=payreq.url, headers=headers) as api:
        created = api.post(
            "/api/payment/checkout",
            json={
                "amount": 2450,
                "currencyCode": "EUR",
                "reference": "ORDER-79",
                "referenceLabel": "Order #79 \U0001f468\u200d\U0001f469\u200d\U0001f467",
                "clientId": answer.json()["clientId"],
                "redirectUrl": "https://shop.example/return",  # production: https only
            },
        )
    assert created.status_code == 201, created.text
    for name, width in [("desktop", 1280), ("phone", 360)]:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 900})
        try:
            page = await context.new_page()
            await page.goto(created.json()["checkoutUrl"])
            assert await page.locator("h1 .amount").inner_text() == "€24.50"
            assert await page.locator("svg.epc-qr-code").count() == 0
            assert await page.get_by_text(holder).first.is_visible()
            assert await page.get_by_text(app_name).first.is_visible()
            assert await page.get_by_text("Order #79 \U0001f468\u200d\U0001f469\u200d\U0001f467").is_visible()
            shown = await page.locator("dd code").all_inner_texts()
            assert "DE89 3704 0044 0532 0130 00" in shown
            sizes = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert sizes[0] <= sizes[1], sizes  # the long name wraps; no sideways scrolling
            await screenshot(page, f"bank-transfer-no-qr-{name}")
        finally:
            await context.close()


SIZES = [("desktop", 1280), ("phone", 360)]
NO_SIDEWAYS = "[document.documentElement.scrollWidth, window.innerWidth]"

LONG_IBAN = "RU0204452560040702810412345678901"
"""33 characters, among the longest IBANs issued (ISO 13616 allows 34)."""


@pytest.mark.parametrize(
    ("iban", "printed"),
    [
        pytest.param("DE89370400440532013000", "DE89 3704 0044 0532 0130 00", id="DE"),
        pytest.param(LONG_IBAN, "RU02 0445 2560 0407 0281 0412 3456 7890 1", id="RU-33"),
    ],
)
async def test_the_iban_reads_in_groups_of_four_fits_a_phone_and_copies_without_spaces(
    payreq: Payreq, shop: Shop, browser: Any, iban: str, printed: str
) -> None:
    token = payreq.access_token()
    app = bank_application(payreq, token, iban=iban)
    created = create_payment(
        payreq, shop, token=token, amount=2450, currencyCode="EUR", clientId=app["clientId"]
    )
    for name, width in SIZES:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 900})
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=payreq.url)
        try:
            page = await context.new_page()
            await page.goto(created["checkoutUrl"])
            step = await page.locator("ol.steps li").first.inner_text()
            assert step.endswith(f"IBAN {printed}."), step
            value = page.locator("dd", has=page.get_by_text(printed, exact=True))
            assert await value.count() == 1
            box = await value.locator("code").bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, box  # inside the screen
            assert await page.evaluate(NO_SIDEWAYS) == [width, width]
            await value.get_by_role("button", name="Copy").click()
            await page.get_by_text("Copied to the clipboard.").wait_for(state="attached")
            assert await page.evaluate("navigator.clipboard.readText()") == iban
            await screenshot(page, f"bank-transfer-iban-{iban[:2]}-{name}")
        finally:
            await context.close()


async def test_a_sandbox_bank_transfer_says_no_money_moves_and_draws_no_qr_code(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    token = payreq.access_token()
    app = bank_application(payreq, token)
    created = create_payment(
        payreq, shop, token=token, amount=2450, currencyCode="EUR", clientId=app["clientId"]
    )
    for name, width in SIZES:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 740})
        try:
            page = await context.new_page()
            await page.goto(created["checkoutUrl"])
            notice = page.get_by_role("note").filter(has_text="Test mode: no money moves.")
            assert await notice.is_visible()
            assert await page.locator("svg").count() == 0  # nothing for a banking app to scan
            sizes = await page.evaluate(NO_SIDEWAYS)
            assert sizes[0] <= sizes[1], sizes
            await screenshot(page, f"bank-transfer-sandbox-{name}")
        finally:
            await context.close()


async def test_an_archived_applications_checkout_is_the_no_longer_available_page(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    token = payreq.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    app = httpx.post(
        f"{payreq.url}/api/payment-applications", json={"name": "Old shop"}, headers=headers
    ).json()
    created = create_payment(payreq, shop, token=token, clientId=app["clientId"])
    deleted = httpx.delete(f"{payreq.url}/api/payment-applications/{app['clientId']}", headers=headers)
    assert deleted.status_code == 204
    for name, width in SIZES:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 740})
        try:
            page = await context.new_page()
            answer = await page.goto(created["checkoutUrl"])
            assert answer is not None and answer.status == 410
            heading = page.get_by_role("heading", name="This payment request is no longer available")
            assert await heading.is_visible()
            assert await page.get_by_role("button").count() == 0
            sizes = await page.evaluate(NO_SIDEWAYS)
            assert sizes[0] <= sizes[1], sizes
            await screenshot(page, f"unavailable-{name}")
        finally:
            await context.close()
    with httpx.Client(base_url=payreq.url, headers=headers) as api:  # the merchant still reads it
        assert api.get(f"/api/payment/{created['id']}").json()["status"] == "pending"


async def test_ive_sent_the_transfer_returns_to_the_shop_and_leaves_the_payment_pending(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    token = payreq.access_token()
    app = bank_application(payreq, token)
    created = create_payment(payreq, shop, token=token, currencyCode="EUR", clientId=app["clientId"])
    for name, width in SIZES:
        context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 740})
        try:
            page = await context.new_page()
            await page.goto(created["checkoutUrl"])
            sizes = await page.evaluate(NO_SIDEWAYS)
            assert sizes[0] <= sizes[1], sizes
            await screenshot(page, f"bank-transfer-pending-{name}")
            if name == "phone":
                async with page.expect_navigation(url=f"{shop.url}/return**"):
                    await page.get_by_role(
                        "link", name="I've sent the transfer: return to Corner Bookshop"
                    ).click()
                assert landed(page.url, shop)["status"] == "pending"
        finally:
            await context.close()
    read = httpx.get(
        f"{payreq.url}/api/payment/{created['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert read.json()["status"] == "pending"


async def test_ended_payments_say_what_happened_on_desktop_and_phone(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    live = production(payreq)
    token = live.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    app = bank_application(payreq, token)
    transfer = create_payment(
        live,
        shop,
        token=token,
        currencyCode="EUR",
        clientId=app["clientId"],
        redirectUrl="https://shop.example/return",
    )
    cancelled = httpx.post(f"{payreq.url}/payment/request/{transfer['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    expired = create_payment(payreq, shop)
    with payreq.api() as api:
        assert api.post(
            f"/api/sandbox/payment/{expired['id']}/simulate", json={"outcome": "expired"}
        ).is_success
    cases = [
        ("bank-transfer-cancelled", transfer, "Payment cancelled", "contact Corner Bookshop"),
        ("sandbox-expired", expired, "Payment request expired", "No money was taken."),
    ]
    for case, payment, heading, says in cases:
        for name, width in SIZES:
            context = await browser.new_context(locale="en-GB", viewport={"width": width, "height": 740})
            try:
                page = await context.new_page()
                await page.goto(payment["checkoutUrl"])
                assert await page.get_by_role("heading", name=heading).is_visible()
                assert await page.get_by_text(says).count() == 1
                sizes = await page.evaluate(NO_SIDEWAYS)
                assert sizes[0] <= sizes[1], sizes
                await screenshot(page, f"{case}-{name}")
            finally:
                await context.close()


LONG = "Wunderbarbuchhandlung" * 10  # 210 characters, no break opportunity
FITS = """() => {
  const amount = document.querySelector("h1 .amount");
  const sheet = document.querySelector(".sheet").getBoundingClientRect();
  const box = amount.getBoundingClientRect();
  return {
    page: [document.documentElement.scrollWidth, window.innerWidth],
    amountLines: amount.getClientRects().length,
    amountInside: box.left >= sheet.left && box.right <= sheet.right,
    text: amount.textContent,
    whiteSpace: getComputedStyle(amount).whiteSpace,
  };
}"""


async def test_at_360_px_long_names_wrap_and_the_amount_never_does(
    payreq: Payreq, shop: Shop, browser: Any
) -> None:
    """A 200-character merchant, application and label without a space pushed the page
    sideways; an amount could break between its digits. At 360 px neither happens,
    for the largest amount (10^12 minor units) in three exponents and locales."""
    wide = Payreq(
        url=payreq.url,
        credentials=json.loads(_run(payreq.env, "bootstrap", "--json", "--name", LONG[:200])),
        env=payreq.env,
    )
    token = wide.access_token()
    app = httpx.post(
        f"{payreq.url}/api/payment-applications",
        json={"name": LONG[:200], "methods": ["sandbox", "bank_transfer"], "bankDetails": BANK},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    cases = [
        ("JPY", "en-US", "¥1,000,000,000,000"),
        ("KWD", "de-DE", "1.000.000.000,000\u00a0KWD"),
        ("INR", "en-IN", "₹10,00,00,00,000.00"),
        ("USD", "en-US", "$10,000,000,000.00"),
        ("EUR", "en-US", "€1.00"),
    ]
    for currency, locale, shown in cases:
        amount = 100 if currency == "EUR" else 10**12
        created = create_payment(
            wide,
            shop,
            token=token,
            amount=amount,
            currencyCode=currency,
            clientId=app["clientId"],
            referenceLabel=LONG[:255],
        )
        context = await browser.new_context(locale=locale, viewport={"width": 360, "height": 740})
        try:
            page = await context.new_page()
            await page.goto(created["checkoutUrl"])
            assert await page.get_by_text(LONG[:200]).count() >= 1
            fits = await page.evaluate(FITS)
            assert fits["text"] == shown
            assert fits["page"][0] <= fits["page"][1], fits  # no sideways scrolling
            assert fits["whiteSpace"] == "nowrap", fits  # never broken between its digits
            assert fits["amountLines"] == 1 and fits["amountInside"], fits  # one number, in the card
            if currency in ("KWD", "EUR"):
                await screenshot(page, f"long-names-{currency.lower()}-phone")
        finally:
            await context.close()
    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(created["checkoutUrl"])
        fits = await page.evaluate(FITS)
        assert fits["page"][0] <= fits["page"][1] and fits["amountLines"] == 1, fits
        await screenshot(page, "long-names-desktop")
    finally:
        await context.close()
