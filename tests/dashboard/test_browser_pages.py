"""Every dashboard page in Chromium: our accessibility checks (labels, headings,
landmarks, names, contrast, visible focus) and a screenshot at phone width (and at
desktop width) under tests/artifacts/, for a person to look at."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tests.dashboard.a11y import problems
from tests.dashboard.conftest import Live, new_page, shot, sign_up_in_browser, unique_email
from tests.fixtures.browser import ARTIFACTS


async def _check(page: Any, name: str, found: dict[str, list[str]]) -> None:
    await shot(page, f"page-{name}")
    issues = await problems(page)
    if issues:
        found[name] = issues


async def _readme_picture(page: Any, name: str, size: dict[str, int]) -> None:
    """The README's pictures (docs/img/ holds a copy): one screen, not the whole page."""
    ARTIFACTS.mkdir(exist_ok=True)
    viewport = page.viewport_size
    await page.set_viewport_size(size)
    await page.screenshot(path=str(ARTIFACTS / f"readme-dashboard-{name}.png"))
    await page.set_viewport_size(viewport)


async def test_every_page_passes_the_checks_and_is_photographed(
    live: Live, browser: Any, console_errors: list[str]
) -> None:
    found: dict[str, list[str]] = {}
    anonymous = await new_page(browser, console_errors)
    for name, path in (
        ("login", "/dashboard/login"),
        ("signup", "/dashboard/signup"),
        ("reset-request", "/dashboard/password-reset"),
    ):
        await anonymous.goto(f"{live.url}{path}")
        await _check(anonymous, name, found)
    await anonymous.context.close()

    page = await new_page(browser, console_errors)
    await sign_up_in_browser(page, live)
    await page.goto(f"{live.url}/dashboard/applications/new")
    await page.get_by_label("Name", exact=True).fill("Web shop")
    await page.get_by_role("button", name="Create application").click()
    await page.wait_for_url(re.compile(r".*/dashboard/applications/[a-z0-9]{32}$"))
    client_id = page.url.rsplit("/", 1)[1]
    await page.goto(f"{live.url}/dashboard/applications/{client_id}/tokens/new")
    await page.get_by_label("Label").fill("poller")
    await page.get_by_label("payments.get").check()
    await page.get_by_role("button", name="Save token").click()
    await page.wait_for_url(f"{live.url}/dashboard/applications/{client_id}")
    await _readme_picture(page, "token-once", {"width": 1000, "height": 640})
    await page.goto(f"{live.url}/dashboard/api-keys")
    await page.get_by_label("Label").fill("shop server")
    await page.get_by_role("button", name="Create key").click()
    await page.wait_for_url(f"{live.url}/dashboard/api-keys")
    await page.set_viewport_size({"width": 360, "height": 720})
    await _readme_picture(page, "api-keys-phone", {"width": 360, "height": 720})
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{live.url}/dashboard/team")
    await page.get_by_label("Email").fill(unique_email())
    await page.get_by_role("button", name="Create invitation").click()
    invitation = await page.get_by_label("Invitation link").input_value()
    await page.goto(f"{live.url}/dashboard/account/security")
    await page.get_by_role("button", name="Set up two-factor").click()

    for name, path in (
        ("home", "/dashboard"),
        ("applications", "/dashboard/applications"),
        ("application-new", "/dashboard/applications/new"),
        ("application", f"/dashboard/applications/{client_id}"),
        ("token-dialog", f"/dashboard/applications/{client_id}/tokens/new"),
        ("api-keys", "/dashboard/api-keys"),
        ("team", "/dashboard/team"),
        ("security", "/dashboard/account/security"),
        ("not-found", "/dashboard/applications/nosuchapplication"),
    ):
        await page.goto(f"{live.url}{path}")
        await _check(page, name, found)
    await page.goto(f"{live.url}/dashboard")
    await page.get_by_role("button", name="Production").click()
    await page.wait_for_load_state()
    await page.goto(f"{live.url}/dashboard/applications")
    await _check(page, "applications-production", found)
    await page.context.close()

    joining = await new_page(browser, console_errors)
    await joining.goto(invitation)
    await _check(joining, "invitation", found)
    await joining.context.close()

    assert found == {}
    assert [e for e in console_errors if "status of 404" not in e] == []


async def test_an_old_name_reads_with_replacement_characters_in_the_edit_form_and_is_refused_as_it_reads(
    live: Live, page: Any, console_errors: list[str]
) -> None:
    """An application name stored before the display-text rule (written straight into
    the server's database here): Chromium's input shows U+FFFD where the bidi override
    is, and saving the form unchanged answers the error beside the field."""
    email = await sign_up_in_browser(page, live)
    database = live.server.log.parent / "payreq.db"
    with sqlite3.connect(database) as db:
        (client_id,) = db.execute(
            "SELECT a.client_id FROM applications a JOIN users u ON u.account_id = a.account_id "
            "WHERE u.email = ? AND a.environment = 'sandbox'",
            (email,),
        ).fetchone()
        db.execute("UPDATE applications SET name = ? WHERE client_id = ?", ("Shop\u202eppa tset", client_id))
    await page.goto(f"{live.url}/dashboard/applications/{client_id}")
    assert await page.locator("#f-name").input_value() == "Shop\ufffdppa tset"
    await page.get_by_role("button", name="Save settings").click()
    await page.wait_for_load_state()
    error = await page.locator("#f-name-error").inner_text()
    assert (
        error
        == "The saved value holds characters that cannot be shown (marked \ufffd here). Retype it without them."
    )
    assert await page.locator("#f-name").get_attribute("aria-invalid") == "true"
    await shot(page, "application-old-name-refused")
    await page.locator("#f-name").fill("Shop test app")
    await page.get_by_role("button", name="Save settings").click()
    await page.wait_for_url(re.compile(r".*\?saved=1$"))
    assert await page.locator("#f-name").input_value() == "Shop test app"
    assert [e for e in console_errors if "status of 422" not in e] == []  # the refusal's own status
