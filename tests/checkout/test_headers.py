"""Security headers on every checkout answer: the page, its errors, the status poll and
the form redirects."""

from __future__ import annotations

import httpx

from tests.checkout.conftest import open_page
from tests.fixtures.factories import Merchant


def directives(answer: httpx.Response) -> dict[str, list[str]]:
    policy = answer.headers["content-security-policy"]
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(answer: httpx.Response) -> None:
    csp = directives(answer)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert "unsafe-eval" not in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in answer.headers  # http://testserver; https adds it


async def test_the_page_sends_a_strict_policy_that_allows_only_the_way_back(merchant: Merchant) -> None:
    payment = await merchant.create_payment(redirect_url="https://shop.example:8443/thanks?x=1")
    answer, _ = await open_page(merchant.http, payment["id"])
    assert_strict(answer)
    assert directives(answer)["form-action"] == ["'self'", "https://shop.example:8443"]
    assert directives(answer)["connect-src"] == ["'self'"]


async def test_form_action_allows_every_redirect_host_payreq_accepts(merchant: Merchant) -> None:
    """A CSP host-source cannot spell an underscore, so such a host gets its scheme;
    a trailing dot (the root) is kept, as Chrome matches it only with the dot."""
    for url, source in (
        ("https://my_shop.example/ok", "https:"),
        ("https://shop.example./ok", "https://shop.example."),
        ("https://[2001:db8::1]:8443/ok", "https://[2001:db8::1]:8443"),
    ):
        payment = await merchant.create_payment(redirect_url=url)
        answer, _ = await open_page(merchant.http, payment["id"])
        assert directives(answer)["form-action"] == ["'self'", source], url


async def test_errors_redirects_and_the_status_poll_carry_the_same_headers(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    payment = await merchant.create_payment()
    _, page = await open_page(merchant.http, payment["id"])
    cancel = page.form("/cancel")
    not_found = await http.get("/checkout/00000000-0000-4000-8000-000000000000")
    refused = await http.post(cancel.action, data={"csrf": "x.y"})
    polled = await http.get(f"/checkout/{payment['id']}/status")
    redirected = await http.post(cancel.action, data=cancel.fields)
    for answer, status in [(not_found, 404), (refused, 403), (polled, 200), (redirected, 303)]:
        assert answer.status_code == status
        assert_strict(answer)


async def test_an_https_deployment_adds_strict_transport_security(
    settings: object, db: object, clock: object
) -> None:
    from payreq.app import create_app

    app = create_app(
        settings.model_copy(update={"base_url": "https://pay.example"}), db=db, clock=clock, run_worker=False
    )  # type: ignore[attr-defined, arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://pay.example"
    ) as client:
        answer = await client.get("/checkout/00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 404
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
