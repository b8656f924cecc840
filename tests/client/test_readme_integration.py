"""The README's "Integrate in 10 minutes" block, run as written against a real payreq:
a payer pays at the hosted checkout and is redirected to the shop's /thanks, the
webhook arrives and is verified, and the shop confirms over the API."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from payreq.testing import LocalServer, sign_webhook

BLOCK = re.compile(r"<!-- integrate:start -->\s*```python\n(.*?)```\s*<!-- integrate:end -->", re.S)
SANDBOX_FORM = re.compile(
    r'<form method="post" action="([^"]*/pay/sandbox)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"'
)


def pay_at_checkout(checkout_url: str) -> httpx.URL:
    """What a payer's browser does: open the checkout, press "paid"; the 303's target."""
    with httpx.Client() as browser:
        page = browser.get(checkout_url)
        assert page.status_code == 200
        found = SANDBOX_FORM.search(page.text)
        assert found, page.text[:2000]
        action, csrf = found.groups()
        answer = browser.post(httpx.URL(checkout_url).join(action), data={"csrf": csrf, "action": "paid"})
    assert answer.status_code == 303
    return httpx.URL(answer.headers["location"])


def test_the_integrate_in_10_minutes_block_works_as_written(
    payreq_server: LocalServer, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    match = BLOCK.search((repo_root / "README.md").read_text())
    assert match, "README.md has no integrate block"
    handled: list[tuple[str, int]] = []
    paid = threading.Event()
    shop: dict[str, Any] = {}

    def deliver(body: bytes, headers: dict[str, str]) -> int:
        status: int = shop["on_webhook"](body, headers)
        handled.append((json.loads(body)["type"], status))
        if handled[-1] == ("payment.paid", 204):
            paid.set()
        return status

    with payreq_server.receive_webhooks(deliver) as url:
        for name, value in {**payreq_server.environ(), "SHOP_URL": url.removesuffix("/webhooks")}.items():
            monkeypatch.setenv(name, value)
        exec(compile(match.group(1), "README.md", "exec"), shop)  # noqa: S102 - the README's own code
        try:
            checkout_url = shop["checkout"]("order-42", 10000)
            assert checkout_url.startswith(f"{payreq_server.base_url}/checkout/")
            assert shop["orders"]["order-42"]["shipped"] is False

            back = pay_at_checkout(checkout_url)
            assert paid.wait(15), (handled, payreq_server.log()[-2000:])
            assert shop["orders"]["order-42"]["shipped"] is True  # the webhook's confirmation

            assert (
                f"{back.scheme}://{back.host}:{back.port}{back.path}"
                == f"{url.removesuffix('/webhooks')}/thanks"
            )
            query = {k: v[0] for k, v in parse_qs(back.query.decode()).items()}
            assert query["status"] == "paid" and query["reference_id"] == "order-42"
            assert shop["thanks"](query) == "Thank you!"

            forged = sign_webhook(
                {"type": "payment.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {}}, "whsec_QUFBQQ=="
            )
            assert shop["on_webhook"](forged.body, forged.headers) == 400
        finally:
            shop["payreq"].close()
    assert ("payment.created", 204) in handled
    assert urlsplit(checkout_url).path.endswith(shop["orders"]["order-42"]["payment_id"])
