"""API keys from the dashboard: created with the secret shown once, rolled with an
overlap during which both secrets work, revoked; the API sees each change at once."""

from __future__ import annotations

import re

import httpx

from tests.conftest import MovableClock
from tests.dashboard.conftest import DashboardClient


def _secret(page: str, field: str) -> str:
    found = re.search(rf'id="once-{field}" class="secret-value" type="text" value="([^"]+)"', page)
    assert found, page[:2000]
    return found.group(1)


async def create_key(owner: DashboardClient, label: str = "shop server") -> tuple[str, str]:
    created = await owner.post("/dashboard/api-keys", {"label": label}, csrf_from="/dashboard/api-keys")
    assert created.status_code == 303 and created.headers["location"] == "/dashboard/api-keys"
    shown = await owner.get("/dashboard/api-keys")
    return _secret(shown.text, "client-id"), _secret(shown.text, "secret")


async def token_status(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    answer = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return answer.status_code


async def test_a_new_key_is_shown_once_and_works_at_once(owner: DashboardClient) -> None:
    client_id, secret = await create_key(owner)
    assert client_id.startswith("prq_id_sbx_") and secret.startswith("prq_cs_sbx_")
    again = await owner.get("/dashboard/api-keys")
    assert secret not in again.text and client_id in again.text and "shop server" in again.text
    assert await token_status(owner.http, client_id, secret) == 200
    listed = await owner.get("/dashboard/api-keys")
    assert "never" not in listed.text.split(client_id)[1].split("</tr>")[0]  # last used is now set


async def test_a_label_is_required_and_the_error_sits_beside_the_field(owner: DashboardClient) -> None:
    answer = await owner.post("/dashboard/api-keys", {"label": "  "}, csrf_from="/dashboard/api-keys")
    assert answer.status_code == 422
    assert 'id="f-label-error"' in answer.text and "Give the key a label" in answer.text


async def test_rolling_with_an_overlap_keeps_both_secrets_until_it_ends(
    owner: DashboardClient, clock: MovableClock
) -> None:
    client_id, old = await create_key(owner)
    page = await owner.get("/dashboard/api-keys")
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/roll", page.text).group(1)  # type: ignore[union-attr]
    rolled = await owner.post(
        f"/dashboard/api-keys/{key_id}/roll", {"overlap": "1h"}, csrf_from="/dashboard/api-keys"
    )
    assert rolled.status_code == 303
    shown = await owner.get("/dashboard/api-keys")
    new = _secret(shown.text, "secret")
    assert new != old and "The old secret keeps working until" in shown.text
    assert await token_status(owner.http, client_id, old) == 200
    assert await token_status(owner.http, client_id, new) == 200
    clock.advance(3601)
    assert await token_status(owner.http, client_id, old) == 403
    assert await token_status(owner.http, client_id, new) == 200


async def test_the_old_secret_stops_when_the_overlap_ends_even_just_after_a_token(
    owner: DashboardClient, clock: MovableClock
) -> None:
    """A key that authenticated by its previous secret is remembered (for
    PAYREQ_AUTH_CACHE_SECONDS, 1 s) only until the overlap ends."""
    client_id, old = await create_key(owner)
    page = await owner.get("/dashboard/api-keys")
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/roll", page.text).group(1)  # type: ignore[union-attr]
    await owner.post(f"/dashboard/api-keys/{key_id}/roll", {"overlap": "1h"}, csrf_from="/dashboard/api-keys")
    clock.advance(3600 - 0.5)
    assert await token_status(owner.http, client_id, old) == 200
    clock.advance(0.6)
    assert await token_status(owner.http, client_id, old) == 403


async def test_rolling_without_overlap_stops_the_old_secret_and_its_tokens_now(
    owner: DashboardClient,
) -> None:
    client_id, old = await create_key(owner)
    token = (
        await owner.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, old)
        )
    ).json()["access_token"]
    page = await owner.get("/dashboard/api-keys")
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/roll", page.text).group(1)  # type: ignore[union-attr]
    await owner.post(
        f"/dashboard/api-keys/{key_id}/roll", {"overlap": "none"}, csrf_from="/dashboard/api-keys"
    )
    new = _secret((await owner.get("/dashboard/api-keys")).text, "secret")
    assert await token_status(owner.http, client_id, old) == 403
    assert await token_status(owner.http, client_id, new) == 200
    answer = await owner.http.get("/api/payment-applications", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


async def test_a_revoked_key_stops_at_once(owner: DashboardClient) -> None:
    """Also right after a token: the key that authenticated for it is remembered for
    PAYREQ_AUTH_CACHE_SECONDS, and the revocation forgets it when it commits."""
    client_id, secret = await create_key(owner)
    assert await token_status(owner.http, client_id, secret) == 200
    page = await owner.get("/dashboard/api-keys")
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/revoke", page.text).group(1)  # type: ignore[union-attr]
    revoked = await owner.post(f"/dashboard/api-keys/{key_id}/revoke", {}, csrf_from="/dashboard/api-keys")
    assert revoked.status_code == 303
    assert await token_status(owner.http, client_id, secret) == 403
    assert client_id not in (await owner.get("/dashboard/api-keys")).text


async def test_keys_belong_to_the_selected_environment(owner: DashboardClient) -> None:
    sandbox_id, _ = await create_key(owner, "sandbox key")
    await owner.post("/dashboard/environment", {"environment": "production", "next": "/dashboard/api-keys"})
    production = await owner.get("/dashboard/api-keys")
    assert sandbox_id not in production.text and "production keys" in production.text
    live_id, live_secret = await create_key(owner, "live key")
    assert live_id.startswith("prq_id_live_") and live_secret.startswith("prq_cs_live_")
    page = await owner.get("/dashboard/api-keys")
    await owner.post("/dashboard/environment", {"environment": "sandbox", "next": "/dashboard/api-keys"})
    sandbox_page = await owner.get("/dashboard/api-keys")
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/revoke", page.text).group(1)  # type: ignore[union-attr]
    # the production key's id, posted while the sandbox is selected, is not found there
    wrong = await owner.post(f"/dashboard/api-keys/{key_id}/revoke", {}, csrf_from="/dashboard/api-keys")
    assert wrong.status_code == 404
    assert live_id not in sandbox_page.text
