"""The limiter as clients see it, in process (memory backend)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from payreq.account import repository as accounts
from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.services import Services
from tests.conftest import BASE_URL, MovableClock
from tests.fixtures.factories import Merchant, new_merchant


async def limit_key(services: Services, merchant: Merchant, limit: int) -> None:
    async with services.db.transaction() as conn:
        assert await accounts.set_api_key_rate_limit(conn, merchant.credentials.client_id, limit)


async def test_a_burst_of_40_admits_5_and_answers_the_rest_429(
    services: Services, merchant: Merchant
) -> None:
    await limit_key(services, merchant, 5)
    headers = await merchant.headers()
    await asyncio.sleep(1.0)  # the token request spent one of the key's 5; let it leave the window
    answers = await asyncio.gather(
        *(merchant.http.get("/payment/request", headers=headers) for _ in range(40))
    )
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 5
    assert statuses.count(429) == 35
    for answer in answers:
        assert answer.headers["ratelimit-limit"] == "5"
        assert answer.headers["ratelimit-policy"] == '"key";q=5;w=1'
        assert 0 <= int(answer.headers["ratelimit-remaining"]) <= 4
        assert int(answer.headers["ratelimit-reset"]) in (0, 1)
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    body = limited.json()["error"]
    assert body["type"] == "rate_limited"
    assert body["request_id"] == limited.headers["x-request-id"]
    assert limited.headers["ratelimit-remaining"] == "0"


async def test_a_client_pacing_itself_at_4_per_second_is_never_limited(
    services: Services, merchant: Merchant
) -> None:
    await limit_key(services, merchant, 5)
    headers = await merchant.headers()
    start = time.monotonic()
    for i in range(12):  # three seconds at 4/s
        await asyncio.sleep(max(0.0, start + i * 0.25 - time.monotonic()))
        answer = await merchant.http.get("/payment/request", headers=headers)
        assert answer.status_code == 200, (i, answer.text)


async def test_another_key_is_unaffected_and_two_tokens_of_one_key_share_a_budget(
    services: Services, merchant: Merchant, make_merchant
) -> None:  # type: ignore[no-untyped-def]
    other = await make_merchant()
    await limit_key(services, merchant, 5)
    await limit_key(services, other, 5)
    first, second = await merchant.headers(), await merchant.headers(scope="payments.get")
    assert first != second
    await asyncio.sleep(1.0)  # the two token requests spent the key's budget too
    statuses = [
        (await merchant.http.get("/payment/request", headers=h)).status_code for h in [first, second] * 4
    ]
    assert statuses.count(200) == 5
    assert statuses.count(429) == 3
    assert (await other.http.get("/payment/request", headers=await other.headers())).status_code == 200


async def test_a_client_token_has_its_own_budget(services: Services, merchant: Merchant) -> None:
    await limit_key(services, merchant, 5)
    headers = await merchant.headers()
    await asyncio.sleep(1.0)
    for _ in range(5):
        assert (await merchant.http.get("/payment/request", headers=headers)).status_code == 200
    assert (await merchant.http.get("/payment/request", headers=headers)).status_code == 429
    token = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    answer = await merchant.http.get("/payment/request", headers=token)
    assert answer.status_code == 200
    assert answer.headers["ratelimit-limit"] == "1000000"  # the suite's default for unconfigured keys


async def test_forbidden_and_not_found_answers_carry_the_headers_too(merchant: Merchant) -> None:
    answer = await merchant.http.get(
        "/payment/request/00000000-0000-4000-8000-000000000000", headers=await merchant.headers()
    )
    assert answer.status_code == 404
    assert "ratelimit-remaining" in answer.headers


# -- failed authentication, per client address ------------------------------------


@pytest.fixture
async def strict_app(settings: Settings, db: Database, clock: MovableClock) -> Litestar:
    strict = settings.model_copy(update={"auth_failure_limit": 5, "auth_failure_window": 1.0})
    return create_app(strict, db=db, clock=clock, run_worker=False)


@pytest.fixture
async def clients(strict_app: Litestar) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    attacker = httpx.ASGITransport(app=strict_app, client=("203.0.113.7", 40000))
    owner = httpx.ASGITransport(app=strict_app, client=("198.51.100.20", 40001))
    async with (
        httpx.AsyncClient(transport=attacker, base_url=BASE_URL) as a,
        httpx.AsyncClient(transport=owner, base_url=BASE_URL) as o,
    ):
        yield a, o


async def test_bad_tokens_are_limited_per_address_and_the_owner_still_works(
    strict_app: Litestar, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    attacker, owner = clients
    merchant = await new_merchant(strict_app.state.services, owner)
    statuses = []
    for i in range(8):
        answer = await attacker.get(
            "/payment/request", headers={"Authorization": f"Bearer prq_at_sbx_{i:032d}"}
        )
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    refused = await attacker.get("/payment/request", headers={"Authorization": "Bearer prq_at_sbx_x"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_failed_attempts"
    assert int(refused.headers["retry-after"]) >= 1
    # only failing attempts are refused: a valid token from the same address (a NAT, a
    # proxy, a cron job with one stale token beside good ones) keeps working
    valid = await merchant.headers()
    assert (await attacker.get("/payment/request", headers=valid)).status_code == 200
    assert (await owner.get("/payment/request", headers=valid)).status_code == 200
    again = await attacker.get("/payment/request", headers={"Authorization": "Bearer prq_at_sbx_y"})
    assert again.status_code == 429


async def test_missing_tokens_count_as_failures_too(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    attacker, _ = clients
    statuses = [(await attacker.get("/payment/request")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_wrong_client_secrets_are_limited_per_address(
    strict_app: Litestar, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    attacker, owner = clients
    merchant = await new_merchant(strict_app.state.services, owner)
    client_id = merchant.credentials.client_id
    grant = {"grant_type": "client_credentials"}
    statuses = []
    for i in range(7):
        answer = await attacker.post("/oauth/token", data=grant, auth=(client_id, f"wrong-{i}"))
        statuses.append(answer.status_code)
    assert statuses == [403] * 5 + [429] * 2
    limited = await attacker.post("/oauth/token", data=grant, auth=(client_id, "wrong-again"))
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"
    assert limited.headers["cache-control"] == "no-store"
    assert int(limited.headers["retry-after"]) >= 1
    # the right secret from the same address is not refused for its neighbours' failures
    assert (await attacker.post("/oauth/token", data=grant, auth=merchant.basic)).status_code == 200
    # nor is the key's owner, elsewhere
    assert (await owner.post("/oauth/token", data=grant, auth=merchant.basic)).status_code == 200
    # and the attacker's address may fail with a 403 again once the window has passed
    await asyncio.sleep(int(limited.headers["retry-after"]) + 0.05)
    assert (await attacker.post("/oauth/token", data=grant, auth=(client_id, "late"))).status_code == 403


async def test_successful_requests_do_not_count_as_failures(
    strict_app: Litestar, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    _, owner = clients
    merchant = await new_merchant(strict_app.state.services, owner)
    headers = await merchant.headers()
    for _ in range(10):
        assert (await owner.get("/payment/request", headers=headers)).status_code == 200


async def test_an_operator_limit_on_a_client_token_applies_to_that_token(
    services: Services, merchant: Merchant
) -> None:
    from payreq.application import repository as applications
    from payreq.kit.crypto import digest

    async with services.db.transaction() as conn:
        row = await conn.fetch_one(
            "SELECT id FROM client_tokens WHERE token_digest = :d",
            {"d": digest(merchant.credentials.client_token)},
        )
        assert row is not None
        assert await applications.set_client_token_rate_limit(conn, row["id"], 3)
    headers = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    statuses = [(await merchant.http.get("/payment/request", headers=headers)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
