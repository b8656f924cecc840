"""The house in a real Chromium: sign up, the header, the environment switch."""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import Live, shot, sign_up_in_browser


async def test_sign_up_lands_on_the_sandbox_home_and_the_switch_changes_environment(
    live: Live, page: Any, console_errors: list[str]
) -> None:
    await sign_up_in_browser(page, live, account_name="Corner Bookshop")
    assert await page.get_by_role("heading", name="Corner Bookshop", level=1).is_visible()
    assert await page.get_by_text("test data only").is_visible()
    await shot(page, "home-sandbox")
    await page.get_by_role("button", name="Production").click()
    await page.wait_for_load_state()
    assert await page.get_by_text("live data: changes affect real payments").is_visible()
    assert await page.locator("body.env-production").count() == 1
    await shot(page, "home-production")
    assert console_errors == []
