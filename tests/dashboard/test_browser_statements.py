"""The Statements page in a real Chromium against a real ``payreq serve``: upload the
shared camt.053 fixture through the file input, see each line's outcome, accept the
late line, and find its payment paid over the API. Screenshots (desktop and 360 px)
are saved under tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from payreq.method import creditor_reference
from tests.dashboard.conftest import Live, shot, sign_up_in_browser
from tests.dashboard.statement_data import BANK_FORM, CAMT053
from tests.dashboard.test_browser_operations import OPENED, Api, _api

BANK = {key.split(".", 1)[1]: value for key, value in BANK_FORM.items() if key.startswith("bankDetails.")}


async def test_upload_a_camt053_file_see_each_line_and_accept_the_late_one(
    live: Live, page: Any, console_errors: list[str], tmp_path: Path
) -> None:
    await sign_up_in_browser(page, live)
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

        await page.get_by_role("button", name="Accept line 2").click()
        await page.wait_for_url(re.compile(r".*resolved=2#line-2$"))
        assert await page.get_by_role("status").first.inner_text() == "Line 2 is resolved."
        assert "accepted" in await page.locator("#line-2").inner_text()
        assert await page.get_by_role("button", name="Accept line 2").count() == 0
        assert api.http.get(f"/api/payment/{second}").json()["status"] == "paid"

        await page.goto(f"{live.url}/dashboard/statements")
        assert await page.locator("#imports-table tbody tr").count() == 1
        await shot(page, "statements")
        assert console_errors == []
    finally:
        while OPENED:
            OPENED.pop().close()
