"""The dashboard's house: headers, the environment switch, CSRF and origin checks,
the error page, sign-in redirects."""

from __future__ import annotations

import uuid

from litestar import Litestar

from tests.dashboard.conftest import DashboardClient, new_client
from tests.dashboard.test_operations import _payment


async def test_signed_out_pages_send_the_browser_to_sign_in(dashboard_app: Litestar) -> None:
    async with new_client(dashboard_app) as http:
        answer = await http.get("/dashboard/?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login?next=/dashboard%3Fx%3D1"


async def test_every_page_carries_the_strict_headers(owner: DashboardClient) -> None:
    answer = await owner.get("/dashboard")
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text and " style=" not in answer.text


async def test_the_session_cookie_is_httponly_and_samesite_lax(dashboard_app: Litestar) -> None:
    from tests.dashboard.conftest import request_sign_up, signup_link, unique_email

    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    assert (await request_sign_up(client)).status_code == 200
    path = await signup_link(dashboard_app, client.email)
    answer = await client.post(path, {}, csrf_from=path)
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "payreq_session=" in v)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # http here; Secure under https (test_sessions)
    await client.http.aclose()


async def test_the_environment_switch_changes_what_pages_show(owner: DashboardClient) -> None:
    home = await owner.get("/dashboard")
    assert 'class="env-sandbox"' in home.text and "test data only" in home.text
    switched = await owner.post("/dashboard/environment", {"environment": "production", "next": "/dashboard"})
    assert switched.status_code == 303 and switched.headers["location"] == "/dashboard"
    home = await owner.get("/dashboard")
    assert 'class="env-production"' in home.text and "live data" in home.text
    refused = await owner.post("/dashboard/environment", {"environment": "staging", "next": "/dashboard"})
    assert refused.status_code == 422
    assert 'class="env-production"' in (await owner.get("/dashboard")).text


async def test_a_form_without_its_token_or_from_another_site_changes_nothing(owner: DashboardClient) -> None:
    no_token = await owner.post("/dashboard/environment", {"environment": "production"}, csrf="")
    assert no_token.status_code == 403
    assert "was not sent from this site" in no_token.text
    foreign = await owner.post(
        "/dashboard/environment",
        {"environment": "production"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert foreign.status_code == 403
    referer_only = await owner.post(
        "/dashboard/environment",
        {"environment": "production"},
        headers={"Origin": "null", "Referer": "https://evil.example/page", "Sec-Fetch-Site": "same-origin"},
    )
    assert referer_only.status_code == 403
    assert 'class="env-sandbox"' in (await owner.get("/dashboard")).text


async def test_unknown_pages_get_the_dashboard_error_page(owner: DashboardClient) -> None:
    answer = await owner.get("/dashboard/no-such-page")
    assert answer.status_code == 404
    assert '<h1 id="error-heading">Not found</h1>' in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]


async def test_an_encoded_slash_never_splits_a_page_path(
    owner: DashboardClient, dashboard_app: Litestar
) -> None:
    """``{id}%2Fcancel`` is an unknown payment, not its cancel action (the server decodes
    ``%2F`` before routing; payreq.edge keeps it in its segment); an empty segment is
    no page."""
    payment_id, _ = await _payment(dashboard_app, owner, "SLASH-1")
    unknown = str(uuid.uuid4())
    for method, sent, twin in (
        ("GET", f"/dashboard/payments/{payment_id}%2Fcancel", f"/dashboard/payments/{unknown}"),
        ("POST", f"/dashboard/payments/{payment_id}%2Fcancel", f"/dashboard/payments/{unknown}"),
        ("GET", f"/dashboard/payments//{payment_id}", "/dashboard/no-such-page"),
    ):
        if method == "POST":
            got, expected = await owner.post(sent, {}), await owner.post(twin, {})
        else:
            got, expected = await owner.get(sent), await owner.get(twin)
        assert (got.status_code, got.headers.get("allow")) == (
            expected.status_code,
            expected.headers.get("allow"),
        )
        assert got.status_code in (404, 405) and '<h1 id="error-heading">' in got.text, (method, sent)
    assert "pending</span>" in (await owner.get(f"/dashboard/payments/{payment_id}")).text


async def test_the_static_assets_name_their_type_and_charset_once(owner: DashboardClient) -> None:
    for name, media_type in (
        ("dashboard.css", "text/css; charset=utf-8"),
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ):
        served = await owner.get(f"/dashboard/static/{name}")
        assert served.status_code == 200
        assert served.headers["content-type"] == media_type
