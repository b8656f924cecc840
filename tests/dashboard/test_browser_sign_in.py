"""Signing in, in a real Chromium against a real ``payreq serve``: wrong passwords,
the throttle per address that leaves the right password working elsewhere, TOTP with
a code computed here and with a recovery code once, invitations by link and by
email, and forms refused without their token or from another site."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyotp
import pytest

from tests.dashboard.conftest import (
    PASSWORD,
    Live,
    new_page,
    shot,
    sign_in_in_browser,
    sign_up_in_browser,
    unique_email,
)


async def _sign_out(page: Any) -> None:
    await page.locator(".user-menu summary").click()
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await page.wait_for_url(re.compile(r".*/dashboard/login\?signed_out=1$"))


async def test_a_wrong_password_does_not_sign_in(live: Live, page: Any) -> None:
    email = await sign_up_in_browser(page, live)
    await _sign_out(page)
    await sign_in_in_browser(page, live, email, "not the right password")
    assert await page.get_by_role("alert").inner_text() == "The email or password is not right."
    await shot(page, "login-error")
    await page.goto(f"{live.url}/dashboard")
    assert "/dashboard/login" in page.url


async def test_twenty_wrong_passwords_are_throttled_while_the_right_one_works_from_elsewhere(
    live: Live, browser: Any, console_errors: list[str]
) -> None:
    owner = await new_page(browser, console_errors)
    email = await sign_up_in_browser(owner, live)
    await owner.context.close()
    attacker = await new_page(browser, console_errors, extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    answers = []
    for _ in range(20):
        await sign_in_in_browser(attacker, live, email, "guess guess guess")
        answers.append(await attacker.get_by_role("alert").inner_text())
    assert answers[:10] == ["The email or password is not right."] * 10
    assert (
        answers[10:] == ["Too many failed sign-in attempts. Wait a few minutes, or reset your password."] * 10
    )
    await shot(attacker, "login-throttled")
    # the right password for the user this address guessed at is refused too: never checked
    await sign_in_in_browser(attacker, live, email, PASSWORD)
    assert "Too many failed sign-in attempts" in await attacker.get_by_role("alert").inner_text()
    await attacker.context.close()
    # ...while from another address it signs in
    elsewhere = await new_page(
        browser, console_errors, extra_http_headers={"X-Forwarded-For": "198.51.100.4"}
    )
    await sign_in_in_browser(elsewhere, live, email, PASSWORD)
    await elsewhere.wait_for_url(f"{live.url}/dashboard")
    assert await elsewhere.get_by_text(email).is_visible()
    await elsewhere.context.close()


async def test_two_factor_with_a_computed_code_and_a_recovery_code_once(live: Live, page: Any) -> None:
    email = await sign_up_in_browser(page, live)
    await page.goto(f"{live.url}/dashboard/account/security")
    await page.get_by_role("button", name="Set up two-factor").click()
    await page.wait_for_url(re.compile(r".*/dashboard/account/security"))
    secret = await page.locator("#totp-secret").inner_text()
    assert (
        await page.get_by_role("img", name="QR code holding your two-factor secret").locator("svg").count()
        == 1
    )
    await shot(page, "totp-setup")
    totp = pyotp.TOTP(secret)
    await page.get_by_label("Code from the app").fill(totp.now())
    await page.get_by_role("button", name="Turn on two-factor").click()
    await page.wait_for_url(re.compile(r".*/dashboard/account/security"))
    codes = await page.locator("#recovery-code-list li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    await shot(page, "recovery-codes")
    await page.reload()
    assert codes[0] not in await page.content()

    # a password alone no longer signs in; the next step's code does (the current one was used)
    await _sign_out(page)
    await sign_in_in_browser(page, live, email)
    await page.wait_for_url(re.compile(r".*/dashboard/login/verify.*"))
    await page.get_by_label("Code").fill("000000")
    await page.get_by_role("button", name="Verify").click()
    assert "not right" in await page.get_by_role("alert").inner_text()
    await shot(page, "login-verify")
    import time

    await page.get_by_label("Code").fill(totp.at(time.time() + totp.interval))
    await page.get_by_role("button", name="Verify").click()
    await page.wait_for_url(f"{live.url}/dashboard")

    # a recovery code signs in once
    for attempt in (1, 2):
        await _sign_out(page)
        await sign_in_in_browser(page, live, email)
        await page.wait_for_url(re.compile(r".*/dashboard/login/verify.*"))
        await page.get_by_label("Code").fill(codes[3])
        await page.get_by_role("button", name="Verify").click()
        if attempt == 1:
            await page.wait_for_url(f"{live.url}/dashboard")
        else:
            assert "not right" in await page.get_by_role("alert").inner_text()


async def test_a_developer_invited_by_link_and_by_email_cannot_see_the_team(
    live: Live, browser: Any, console_errors: list[str]
) -> None:
    owner = await new_page(browser, console_errors)
    await sign_up_in_browser(owner, live, account_name="Corner Bookshop")
    for how in ("link", "email"):
        email = unique_email(f"dev-{how}")
        await owner.goto(f"{live.url}/dashboard/team")
        await owner.get_by_label("Email").fill(email)
        await owner.get_by_label(re.compile("^developer")).check()
        await owner.get_by_role("button", name="Create invitation").click()
        link = await owner.get_by_label("Invitation link").input_value()
        assert await owner.get_by_text("We emailed this link").is_visible()
        if how == "link":
            await shot(owner, "team-invited")
        else:
            message = await _mail_to(live, email)
            body = message.get_payload(decode=True).decode()
            link = re.search(r"http://\S+/dashboard/invitations/[A-Za-z0-9]+", body).group(0)  # type: ignore[union-attr]
        member = await new_page(browser, console_errors)
        await member.goto(link)
        assert await member.get_by_role("heading", name="Join Corner Bookshop").is_visible()
        await member.get_by_label("Choose a password").fill(PASSWORD)
        await member.get_by_role("button", name="Join the team").click()
        await member.wait_for_url(f"{live.url}/dashboard?joined=1")
        nav = member.get_by_role("navigation", name="Dashboard")
        assert await nav.get_by_role("link", name="Applications").is_visible()
        assert await nav.get_by_role("link", name="Team").count() == 0
        answer = await member.goto(f"{live.url}/dashboard/team")
        assert answer.status == 403
        assert await member.get_by_role("heading", name="Your role does not allow this").is_visible()
        if how == "email":
            await shot(member, "forbidden")
        await member.context.close()
    await owner.goto(f"{live.url}/dashboard/team")
    await shot(owner, "team")
    await owner.context.close()


async def _mail_to(live: Live, address: str) -> Any:
    for _ in range(100):
        found = live.mailbox.to(address)
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {address}")


class _Evil(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            f'<!doctype html><title>Win a prize</title><form method="post" action="{self.target}/dashboard/api-keys">'
            '<input name="label" value="planted by evil"><input name="csrf" value="guessed">'
            "<button>Claim</button></form>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def evil_site(live: Live) -> Iterator[str]:
    _Evil.target = live.url
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_forms_without_their_token_or_from_another_site_change_nothing(
    live: Live, page: Any, evil_site: str
) -> None:
    await sign_up_in_browser(page, live)
    # another site's page posts to the dashboard with the visitor's cookies
    await page.goto(evil_site)
    await page.get_by_role("button", name="Claim").click()
    await page.wait_for_load_state()
    assert await page.get_by_role(
        "heading", name="This form has expired or was not sent from this site"
    ).is_visible()
    # the dashboard's own form, its token removed
    await page.goto(f"{live.url}/dashboard/api-keys")
    await page.get_by_label("Label").fill("no token")
    await page.evaluate(
        "document.querySelector('form[action=\"/dashboard/api-keys\"] input[name=csrf]').remove()"
    )
    await page.get_by_role("button", name="Create key").click()
    await page.wait_for_load_state()
    assert await page.get_by_role(
        "heading", name="This form has expired or was not sent from this site"
    ).is_visible()
    await shot(page, "csrf-refused")
    await page.goto(f"{live.url}/dashboard/api-keys")
    content = await page.content()
    assert "planted by evil" not in content and "no token" not in content
    assert await page.get_by_text("No keys in this environment yet.").is_visible()
