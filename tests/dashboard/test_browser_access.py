"""The dashboard's access half in a real Chromium against a real ``payreq serve``:
applications and client tokens, API keys and their roll, sign-in throttling."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.dashboard.conftest import Live, shot, sign_up_in_browser


async def _create_api_key(page: Any, live: Live, label: str) -> tuple[str, str]:
    await page.goto(f"{live.url}/dashboard/api-keys")
    await page.get_by_label("Label").fill(label)
    await page.get_by_role("button", name="Create key").click()
    await page.wait_for_url(f"{live.url}/dashboard/api-keys")
    return (
        await page.get_by_label("client_id", exact=True).input_value(),
        await page.get_by_label("client_secret", exact=True).input_value(),
    )


def _access_token(live: Live, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{live.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


async def test_application_and_a_read_only_client_token_end_to_end(
    live: Live, page: Any, console_errors: list[str]
) -> None:
    await sign_up_in_browser(page, live)
    await page.get_by_role("link", name="Applications").first.click()
    await page.get_by_role("link", name="Create application").click()
    await page.get_by_label("Name", exact=True).fill("Web shop")
    await page.get_by_label("IBAN", exact=True).fill("DE00 1234")
    await page.get_by_role("button", name="Create application").click()
    # the error sits beside its field, and nothing was created
    assert await page.locator("#f-bankDetails\\.iban-error").inner_text() == (
        "bankDetails.iban is not a valid IBAN (country, check digits, account)."
    )
    assert await page.get_by_label("Name", exact=True).input_value() == "Web shop"
    await shot(page, "application-new-errors")
    await page.get_by_label("IBAN", exact=True).fill("")
    await page.get_by_label("Webhook URL").fill("https://shop.example/hooks/payreq")
    await page.get_by_role("button", name="Create application").click()
    await page.wait_for_url(re.compile(r".*/dashboard/applications/[a-z0-9]{32}$"))
    client_id = page.url.rsplit("/", 1)[1]
    assert (await page.get_by_role("textbox", name="Webhook secret").input_value()).startswith("whsec_")
    await shot(page, "application")

    # the seeds' dialog
    await page.get_by_role("link", name="Create API Access Token").first.click()
    await page.get_by_label("Label").fill("order status poller")
    await page.get_by_label("payments.get").check()
    await shot(page, "token-dialog")
    await page.get_by_role("button", name="Save token").click()
    await page.wait_for_url(f"{live.url}/dashboard/applications/{client_id}")
    token = await page.get_by_label(re.compile("^Token")).input_value()
    assert token.startswith("prq_ct_sbx_")
    assert await page.get_by_role("button", name="Copy").first.is_visible()  # the script shows copy buttons
    await shot(page, "token-once")
    await page.reload()
    assert token not in await page.content()
    row = page.get_by_role("row").filter(has_text="order status poller")
    assert await row.get_by_text("payments.get").is_visible()

    # the API: the token reads a payment and cannot create one
    key_id, key_secret = await _create_api_key(page, live, "payment creator")
    access = _access_token(live, key_id, key_secret).json()["access_token"]
    body = {
        "amount": 1500,
        "currencyCode": "EUR",
        "reference": "ORDER-1",
        "referenceLabel": "Order 1",
        "clientId": client_id,
        "redirectUrl": "https://shop.example/done",
    }
    created = httpx.post(
        f"{live.url}/api/payment/checkout", json=body, headers={"Authorization": f"Bearer {access}"}
    )
    assert created.status_code == 201, created.text
    payment_id = created.json()["id"]
    read_only = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{live.url}/api/payment/{payment_id}", headers=read_only).status_code == 200
    refused = httpx.post(f"{live.url}/api/payment/checkout", json=body, headers=read_only)
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "Insufficient permissions"

    # revoke it in the dashboard; the API refuses it from then on
    await page.goto(f"{live.url}/dashboard/applications/{client_id}")
    await page.get_by_role("button", name="Revoke order status poller").click()
    await page.wait_for_url(f"{live.url}/dashboard/applications/{client_id}?revoked=1")
    assert httpx.get(f"{live.url}/api/payment/{payment_id}", headers=read_only).status_code == 401
    # no CSP violation, no script error (the refused form's 422 is the one expected)
    assert [e for e in console_errors if "status of 422" not in e] == []


async def test_an_api_key_rolled_with_overlap_then_without(live: Live, page: Any) -> None:
    await sign_up_in_browser(page, live)
    client_id, first = await _create_api_key(page, live, "shop server")
    await shot(page, "api-key-once")
    await page.goto(f"{live.url}/dashboard/api-keys")
    assert first not in await page.content()
    await page.get_by_label("Old secret keeps working for").select_option("1h")
    await page.get_by_role("button", name="Roll secret of shop server").click()
    second = await page.get_by_label("client_secret", exact=True).input_value()
    assert second != first
    assert await page.get_by_text("The old secret keeps working until").is_visible()
    # during the overlap both secrets work
    assert _access_token(live, client_id, first).status_code == 200
    assert _access_token(live, client_id, second).status_code == 200
    await shot(page, "api-keys")
    # ending the overlap (a roll without one) leaves only the newest secret
    await page.goto(f"{live.url}/dashboard/api-keys")
    await page.get_by_label("Old secret keeps working for").select_option("none")
    await page.get_by_role("button", name="Roll secret of shop server").click()
    third = await page.get_by_label("client_secret", exact=True).input_value()
    assert _access_token(live, client_id, first).status_code == 403
    assert _access_token(live, client_id, second).status_code == 403
    assert _access_token(live, client_id, third).status_code == 200
