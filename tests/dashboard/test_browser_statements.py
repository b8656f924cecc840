"""The Statements page in a real Chromium against a real ``payreq serve``: upload the
shared camt.053 fixture through the file input, see each line's outcome, accept the
late line, and find its payment paid over the API; upload a file large enough to be
imported in the background and watch its page refresh itself to "finished" without a
click, with JavaScript (in place) and without (the meta refresh), or to "failed" when
the worker records it interrupted; page through more imports than fit one page. Screenshots (desktop and 360 px) are saved under
tests/artifacts/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from payreq.db import connect
from payreq.kit.clock import utc_now
from payreq.method import creditor_reference, repository
from payreq.method.statements.importer import STALE_AFTER
from tests.dashboard.a11y import problems
from tests.dashboard.conftest import Live, new_page, shot, sign_in_in_browser, sign_up_in_browser
from tests.dashboard.statement_data import BANK_FORM, CAMT053
from tests.dashboard.test_browser_operations import OPENED, Api, _api

BANK = {key.split(".", 1)[1]: value for key, value in BANK_FORM.items() if key.startswith("bankDetails.")}


async def test_upload_a_camt053_file_see_each_line_and_accept_the_late_one(
    live: Live, page: Any, console_errors: list[str], tmp_path: Path
) -> None:
    email = await sign_up_in_browser(page, live)
    api: Api = await _api(page, live)  # type: ignore[arg-type]
    try:
        shop = api.app(methods=["bank_transfer"], bankDetails=BANK)
        first = api.pay(shop, 12500, "EUR", "ST-1")
        second = api.pay(shop, 9999, "EUR", "ST-2")
        refs = [
            api.http.get(f"/api/payment/{p}/instructions", params={"method": "bank_transfer"}).json()[
                "transferReference"
            ]
            for p in (first, second)
        ]
        cancelled = api.http.post(f"/api/sandbox/payment/{second}/simulate", json={"outcome": "cancelled"})
        assert cancelled.status_code == 200, cancelled.text
        text = CAMT053.read_text()
        text = text.replace("REPLACE-WITH-TRANSFER-REFERENCE-1", creditor_reference.display_form(refs[0]))
        text = text.replace("REPLACE-WITH-TRANSFER-REFERENCE-2", refs[1])
        upload = tmp_path / "camt053-basic.xml"
        upload.write_text(text)

        await page.goto(f"{live.url}/dashboard/statements")
        await page.get_by_label("Statement file").set_input_files(str(upload))
        await page.get_by_role("button", name="Import").click()
        await page.wait_for_url(re.compile(r".*/dashboard/statements/[0-9a-f-]{36}$"))
        rows = page.locator("#lines-table tbody tr")
        seen = await rows.evaluate_all("rows => rows.map(r => [r.dataset.line, r.dataset.outcome])")
        assert seen == [["1", "matched"], ["2", "late"], ["3", "unmatched"], ["4", "debit"]]
        assert await page.locator("#import-progress").inner_text() == "4 of 4 lines done"
        assert await page.locator(f'#line-1 a[href="/dashboard/payments/{first}"]').count() == 1
        await shot(page, "statement")
        stale = await page.context.new_page()  # a second tab, opened before the line is resolved
        await stale.goto(page.url)

        await page.get_by_role("button", name="Accept line 2").click()
        await page.wait_for_url(re.compile(r".*resolved=2#line-2$"))
        assert await page.get_by_role("status").first.inner_text() == "Line 2 is resolved."
        resolution = await page.locator('#line-2 td[data-label="Resolution"]').inner_text()
        assert " ".join(resolution.split()) == f"accepted by {email}"  # who, in words
        assert await page.get_by_role("button", name="Accept line 2").count() == 0
        assert api.http.get(f"/api/payment/{second}").json()["status"] == "paid"
        await page.reload()  # the stored line says what the answer said: the payment is paid
        assert "paid" in await page.locator("#line-2").inner_text()
        await shot(page, "statement-accepted")
        await stale.get_by_role("button", name="Refund due line 2").click()  # resolved meanwhile: 409
        await stale.wait_for_load_state()
        notice = await stale.get_by_role("status").first.inner_text()
        assert notice == f"This line was resolved already (accepted by {email})."
        await shot(stale, "statement-already-resolved")
        await stale.close()

        await page.goto(f"{live.url}/dashboard/statements")
        assert await page.locator("#imports-table tbody tr").count() == 1
        await shot(page, "statements")
        assert console_errors == []
    finally:
        while OPENED:
            OPENED.pop().close()


def _large_csv(path: Path, prefix: str, lines: int = 30_000) -> Path:
    """A CSV of ``lines`` unmatched credits (about 1 MiB): over the background threshold."""
    rows = [f"{prefix}-{n:06d},2026-11-21,1.00,EUR,lunch {n},A Payer" for n in range(lines)]
    path.write_text("id,date,amount,currency,reference,payer\n" + "\n".join(rows) + "\n")
    assert path.stat().st_size > 512 * 1024
    return path


async def _upload_and_land(page: Any, live: Live, upload: Path) -> None:
    await page.goto(f"{live.url}/dashboard/statements")
    await page.get_by_label("Statement file").set_input_files(str(upload))
    await page.get_by_role("button", name="Import").click()
    try:
        await page.wait_for_url(re.compile(r".*/dashboard/statements/[0-9a-f-]{36}$"), timeout=90_000)
    except Exception:
        print(page.url, await page.content())
        raise


async def _until_finished(page: Any, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while await page.locator("#import-status").inner_text() != "finished":
        assert time.monotonic() < deadline, "the import never finished"
        await page.wait_for_timeout(250)


async def test_a_background_import_refreshes_itself_to_finished_with_and_without_javascript(
    live: Live, page: Any, browser: Any, console_errors: list[str], tmp_path: Path
) -> None:
    email = await sign_up_in_browser(page, live)
    # with JavaScript: the figures are swapped in place, the page never reloads
    landed: list[str] = []
    page.on("framenavigated", lambda frame: landed.append(frame.url) if frame == page.main_frame else None)
    await _upload_and_land(page, live, _large_csv(tmp_path / "large-a.csv", "A"))
    here = page.url
    landed.clear()
    assert await page.locator("#import-status").inner_text() == "running"
    assert await page.locator("#import-facts[data-refresh]").count() == 1
    await shot(page, "statement-running")
    assert await problems(page, tabs=0) == []
    first = await page.locator("#import-progress").inner_text()
    await _until_finished(page)
    assert landed == []  # no reload, no click: the script brought "finished" in
    assert await page.locator("#import-progress").inner_text() == "30000 of 30000 lines done"
    assert first != "30000 of 30000 lines done"
    assert await page.locator("#import-bar").evaluate("bar => [bar.value, bar.max]") == [30000, 30000]
    assert (
        await page.locator("#import-announce").inner_text() == "Import finished: 30000 of 30000 lines done."
    )
    assert await page.locator("#lines-table tbody tr").count() == 100
    assert await page.locator("#import-facts[data-refresh]").count() == 0
    await page.wait_for_timeout(3000)  # it stopped asking
    assert landed == [] and page.url == here
    await shot(page, "statement-finished")

    # without JavaScript: the meta refresh reloads the page until it is finished, then stops
    plain = await new_page(browser, console_errors, java_script_enabled=False)
    try:
        await sign_in_in_browser(plain, live, email)
        await plain.wait_for_url(f"{live.url}/dashboard")
        reloads: list[str] = []
        plain.on("framenavigated", lambda f: reloads.append(f.url) if f == plain.main_frame else None)
        await _upload_and_land(plain, live, _large_csv(tmp_path / "large-b.csv", "B"))
        assert await plain.locator("#import-status").inner_text() == "running"
        reloads.clear()
        await _until_finished(plain)
        assert len(reloads) >= 1 and set(reloads) == {plain.url}  # it reloaded itself, in place
        assert await plain.locator("#import-progress").inner_text() == "30000 of 30000 lines done"
        count = len(reloads)
        await plain.wait_for_timeout(3000)
        assert len(reloads) == count  # finished: no more refreshing
    finally:
        await plain.context.close()

    # more imports than one page: older and newer links, the cursor in the URL
    api: Api = await _api(page, live)  # type: ignore[arg-type]
    try:
        for n in range(26):
            made = api.http.post(
                "/api/statements",
                content=f"id,amount,currency,reference\nP-{n},1.00,EUR,nothing {n}\n".encode(),
                headers={"Content-Type": "text/csv"},
            )
            assert made.status_code == 201, made.text
        listed = api.http.get("/api/statements", params={"limit": "100"}).json()["data"]
        assert len(listed) == 28
        await page.goto(f"{live.url}/dashboard/statements")
        rows = page.locator("#imports-table tbody tr")
        assert await rows.count() == 25
        await shot(page, "statements-paged")
        assert await problems(page, tabs=0) == []
        await page.get_by_role("link", name="Older imports").click()
        await page.wait_for_url(re.compile(r".*/dashboard/statements\?cursor=[0-9a-f-]{36}#imports-heading$"))
        older = await rows.evaluate_all("rows => rows.map(r => r.dataset.importId)")
        assert older == [i["id"] for i in listed[25:]]
        assert await page.get_by_role("link", name="Older imports").count() == 0
        await shot(page, "statements-older")
        await page.get_by_role("link", name="Newer imports").click()
        await page.wait_for_url(re.compile(r".*/dashboard/statements\?before=[0-9a-f-]{36}#imports-heading$"))
        newer = await rows.evaluate_all("rows => rows.map(r => r.dataset.importId)")
        assert newer == [i["id"] for i in listed[:25]]
        assert console_errors == []
    finally:
        while OPENED:
            OPENED.pop().close()


async def test_a_background_import_recorded_interrupted_says_so_on_its_page(
    live: Live, page: Any, tmp_path: Path
) -> None:
    """What the worker records for an import whose process died (no progress for ten
    minutes) reaches the running page by itself: failed, with the lines it applied and
    what to do, readable at 360 px."""
    await sign_up_in_browser(page, live, account_name="Interrupted Imports")
    await _upload_and_land(page, live, _large_csv(tmp_path / "large-c.csv", "C"))
    assert await page.locator("#import-status").inner_text() == "running"
    db = connect(f"sqlite:///{live.server.log.parent / 'payreq.db'}")
    await db.open()
    try:
        now = utc_now()
        async with db.transaction() as conn:  # the worker's sweep, as if ten minutes had passed
            assert await repository.interrupt_stale_imports(conn, before=now + STALE_AFTER, now=now) >= 1
    finally:
        await db.close()
    deadline = time.monotonic() + 30
    while await page.locator("#import-status").inner_text() != "failed":
        assert time.monotonic() < deadline, "the page never showed the interrupted import"
        await page.wait_for_timeout(250)
    status = await page.locator("#import-status").locator("xpath=..").inner_text()
    assert re.fullmatch(
        r"failed The import was interrupted: the process applying it stopped after \d+ lines\. "
        r"Importing the same file again applies the rest\.",
        status.strip(),
    ), status
    await page.reload()  # the page as served, not only as the script patched it
    assert await page.locator("#import-status").inner_text() == "failed"
    assert await page.locator("#import-facts[data-refresh]").count() == 0
    await shot(page, "statement-interrupted")
    assert await problems(page, tabs=0) == []
