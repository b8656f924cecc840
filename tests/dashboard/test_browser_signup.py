"""Sign-up by the mailed link in a real Chromium against a real ``payreq serve`` with a
local SMTP server: the "check your inbox" page (the same for a registered address,
which is mailed a note), the link's page, the used link and the taken address, each
through our accessibility checks and photographed at desktop width and at 360 px."""

from __future__ import annotations

import re
from typing import Any

from tests.dashboard.a11y import problems
from tests.dashboard.conftest import PASSWORD, Live, mailed_link, new_page, shot, unique_email

CONFIRM = "/dashboard/signup/confirm/"


async def _fill(page: Any, live: Live, email: str, name: str = "Corner Bookshop") -> None:
    await page.goto(f"{live.url}/dashboard/signup")
    await page.get_by_label("Business name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("heading", name="Check your inbox").wait_for()


def _script_errors(errors: list[str]) -> list[str]:
    """Console errors but Chromium's note on the 404 and 409 pages this test opens."""
    return [e for e in errors if not re.match(r"Failed to load resource: .* status of (404|409)", e)]


async def _checked(page: Any, name: str) -> None:
    await shot(page, name)
    assert await problems(page) == [], name


async def test_signing_up_confirms_the_address_by_the_mailed_link(
    live: Live, browser: Any, page: Any, console_errors: list[str]
) -> None:
    email = unique_email("owner")
    await _fill(page, live, email)
    assert "/dashboard/signup" in page.url
    await _checked(page, "signup-sent")
    inbox = await page.locator("main").inner_text()

    link = await mailed_link(live.mailbox, email, CONFIRM)
    await page.goto(link)
    assert email in await page.locator("main").inner_text()
    await _checked(page, "signup-confirm")
    await page.get_by_role("button", name="Create account and sign in").click()
    await page.wait_for_url(f"{live.url}/dashboard?welcome=1")

    await page.goto(link)
    await page.get_by_role("heading", name="This link does not work any more").wait_for()
    await _checked(page, "signup-link-used")

    # the same address again, from another browser: the same page, and a note by mail
    other = await new_page(browser, console_errors)
    await _fill(other, live, email, "Someone else")
    assert await other.locator("main").inner_text() == inbox
    for _ in range(100):
        subjects = [m["Subject"] for m in live.mailbox.to(email)]
        if "Someone tried to sign up to payreq with your address" in subjects:
            break
        await other.wait_for_timeout(50)
    assert "Someone tried to sign up to payreq with your address" in subjects
    await other.context.close()
    assert _script_errors(console_errors) == []


async def test_a_second_link_for_an_address_taken_meanwhile_says_so(
    live: Live, browser: Any, console_errors: list[str]
) -> None:
    email = unique_email("twice")
    first, second = await new_page(browser, console_errors), await new_page(browser, console_errors)
    await _fill(first, live, email, "First")
    first_link = await mailed_link(live.mailbox, email, CONFIRM)
    await _fill(second, live, email, "Second")
    for _ in range(100):
        links = [
            found.group(0)
            for m in live.mailbox.to(email)
            if (found := re.search(rf"\S+{CONFIRM}\S+", m.get_payload(decode=True).decode()))
        ]
        if len(links) == 2:
            break
        await second.wait_for_timeout(50)
    second_link = next(link for link in links if link != first_link)
    await second.goto(second_link)
    await second.get_by_role("button", name="Create account and sign in").click()
    await second.wait_for_url(f"{live.url}/dashboard?welcome=1")
    await first.goto(first_link)
    await first.get_by_role("button", name="Create account and sign in").click()
    await first.get_by_role("heading", name="This address already has an account").wait_for()
    await _checked(first, "signup-link-taken")
    for opened in (first, second):
        await opened.context.close()
    assert _script_errors(console_errors) == []
