"""The account's budget (SPEC §4): every credential of one account and environment
draws on it, so more client tokens never multiply what a merchant may send; token
requests at /oauth/token spend the key's budget; caps on client tokens and API keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from payreq.account import repository as accounts
from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.errors import ValidationFailed
from payreq.ratelimit.backend import Budget, MemoryBackend, RedisBackend
from payreq.services import Services
from tests.conftest import BASE_URL, MovableClock
from tests.fixtures.factories import Merchant, new_merchant
from tests.ratelimit.conftest import REDIS_URL
from tests.ratelimit.test_api import limit_key


async def limit_account(services: Services, merchant: Merchant, limit: int) -> None:
    async with services.db.transaction() as conn:
        assert await accounts.set_account_rate_limit(conn, uuid.UUID(merchant.credentials.account_id), limit)


async def new_client_token(merchant: Merchant, label: str = "t") -> str:
    client_id = merchant.credentials.application_client_id
    answer = await merchant.http.post(
        f"/api/payment-applications/{client_id}/tokens",
        json={"label": label, "scopes": ["payments.get"]},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


async def test_many_client_tokens_share_the_accounts_budget(services: Services, merchant: Merchant) -> None:
    await limit_account(services, merchant, 10)
    tokens = [await new_client_token(merchant, f"t{i}") for i in range(4)]
    await asyncio.sleep(1.0)  # the set-up's requests spent the account's budget too
    answers = await asyncio.gather(
        *(
            merchant.http.get("/payment/request", headers={"Authorization": f"Bearer {tokens[i % 4]}"})
            for i in range(40)
        )
    )
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 10  # not 4 x the tokens' own limit
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "account_rate_limited"
    assert refused.headers["ratelimit-policy"] == '"account";q=10;w=1'
    assert refused.headers["ratelimit"].startswith('"account";r=0;')
    assert refused.headers["ratelimit-limit"] == "10"
    assert int(refused.headers["retry-after"]) >= 1


async def test_the_headers_name_the_key_when_the_key_refuses(services: Services, merchant: Merchant) -> None:
    await limit_key(services, merchant, 2)
    await limit_account(services, merchant, 50)
    headers = await merchant.headers()
    await asyncio.sleep(1.0)
    answers = [await merchant.http.get("/payment/request", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"key";q=2;w=1'
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert answers[2].headers["ratelimit"].startswith('"key";r=0;')


async def test_other_accounts_are_unaffected(services: Services, merchant: Merchant, make_merchant) -> None:  # type: ignore[no-untyped-def]
    other = await make_merchant()
    await limit_account(services, merchant, 3)
    headers = await merchant.headers()
    await asyncio.sleep(1.0)
    statuses = [(await merchant.http.get("/payment/request", headers=headers)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert (await other.http.get("/payment/request", headers=await other.headers())).status_code == 200


async def test_successful_token_requests_spend_the_keys_budget(
    services: Services, merchant: Merchant
) -> None:
    await limit_key(services, merchant, 3)
    grant = {"grant_type": "client_credentials"}
    answers = [await merchant.http.post("/oauth/token", data=grant, auth=merchant.basic) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert refused.json()["error"] == "slow_down"
    assert "3 requests per second" in refused.json()["error_description"]
    assert refused.headers["cache-control"] == "no-store"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"key";q=3;w=1'
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM access_tokens t JOIN api_keys k ON k.id = t.api_key_id "
            "WHERE k.client_id = :c",
            {"c": merchant.credentials.client_id},
        )
    assert row is not None and row["n"] == 3  # a refused token request inserts nothing


# -- the backends: two budgets at once --------------------------------------------


class FakeMonotonic:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def admitted_only_when_both_budgets_have_room(limiter_backend: MemoryBackend | RedisBackend) -> None:
    account = Budget("acct", 7, 10.0, name="account")
    first = [await limiter_backend.spend([Budget("k1", 5, 10.0), account]) for _ in range(6)]
    assert [d.allowed for d in first] == [True] * 5 + [False]
    assert first[5].name == "key"  # the key refused, and the account was not spent
    second = [await limiter_backend.spend([Budget("k2", 5, 10.0), account]) for _ in range(4)]
    assert [d.allowed for d in second] == [True, True, False, False]
    assert second[1].name == "account" and second[1].remaining == 0  # the least room left
    assert second[2].name == "account" and second[2].limit == 7


async def test_memory_admits_only_when_both_budgets_have_room() -> None:
    await admitted_only_when_both_budgets_have_room(MemoryBackend(clock=FakeMonotonic()))


async def test_redis_admits_only_when_both_budgets_have_room_in_one_script(redis_prefix: str) -> None:
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    try:
        await admitted_only_when_both_budgets_have_room(backend)
    finally:
        await backend.close()


# -- caps --------------------------------------------------------------------------


@pytest.fixture
async def capped(settings: Settings, db: Database, clock: MovableClock) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(
        settings.model_copy(update={"max_client_tokens_per_application": 3}),
        db=db,
        clock=clock,
        run_worker=False,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_an_application_has_at_most_the_cap_of_live_client_tokens(capped: httpx.AsyncClient) -> None:
    app: Litestar = capped.app  # type: ignore[attr-defined]
    merchant = await new_merchant(app.state.services, capped)
    # the bootstrap token is one of the three
    created = [await new_client_token(merchant, f"t{i}") for i in range(2)]
    client_id = merchant.credentials.application_client_id
    path = f"/api/payment-applications/{client_id}/tokens"
    refused = await capped.post(
        path, json={"label": "one too many", "scopes": ["*"]}, headers=await merchant.headers()
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "too_many_client_tokens"
    assert "3 live client tokens" in refused.json()["error"]["message"]
    listed = (await capped.get(path, headers=await merchant.headers())).json()
    token_id = next(t["id"] for t in listed["data"] if t["label"] == "t0")
    assert (await capped.delete(f"{path}/{token_id}", headers=await merchant.headers())).status_code == 204
    assert created
    again = await capped.post(
        path, json={"label": "after a revocation", "scopes": ["*"]}, headers=await merchant.headers()
    )
    assert again.status_code == 201, again.text


async def test_an_account_has_at_most_the_cap_of_api_keys(services: Services, merchant: Merchant) -> None:
    """API keys are created through ``ApiKeyService`` (the dashboard's API Keys page and
    the CLI): at most ``max_api_keys_per_account`` unrevoked ones per environment."""
    from payreq.account.keys import ApiKeyService

    subject = await services.authenticator.authenticate((await merchant.headers())["Authorization"])
    capped = ApiKeyService(max_api_keys=2)
    async with services.db.transaction() as conn:
        key, secret = await capped.create(conn, subject, label="second")  # the bootstrap key is the first
    with pytest.raises(ValidationFailed) as refused:
        async with services.db.transaction() as conn:
            await capped.create(conn, subject, label="third")
    assert (refused.value.code, refused.value.status) == ("too_many_api_keys", 422)
    # the new key works at /oauth/token
    answer = await merchant.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(key.client_id, secret)
    )
    assert answer.status_code == 200, answer.text
