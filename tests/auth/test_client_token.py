"""Client tokens already authenticate contract A (their endpoints come with contract B):
a payment made with one lands in the token's own application."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from payreq.application import repository as applications
from payreq.kit.crypto import SecretKind, digest, new_secret
from payreq.services import Services
from tests.fixtures.factories import Merchant

BODY = {"amount": "250", "currency": "EUR", "redirect_url": "https://shop.example/done"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_bootstrap_client_token_creates_and_reads_payments(merchant: Merchant) -> None:
    token = merchant.credentials.client_token
    created = await merchant.http.post("/payment/request", json=BODY, headers=bearer(token))
    assert created.status_code == 201, created.text
    payment_id = created.json()["id"]
    read = await merchant.http.get(f"/payment/request/{payment_id}", headers=bearer(token))
    assert read.status_code == 200
    assert read.json()["amount"] == "250"
    # the same payment is visible to the account's access token (same account and environment)
    via_oauth = await merchant.http.get(f"/payment/request/{payment_id}", headers=await merchant.headers())
    assert via_oauth.status_code == 200


async def _client_token(
    services: Services, merchant: Merchant, *, scopes: str, expires_in: float | None = None
) -> str:
    token = new_secret(SecretKind.CLIENT_TOKEN, "sandbox")
    async with services.db.transaction() as conn:
        app = await applications.application_by_client_id(
            conn,
            _tenant(merchant),
            merchant.credentials.application_client_id,
        )
        assert app is not None
        now = services.clock()
        await applications.insert_client_token(
            conn,
            id=uuid.uuid4(),
            application_id=app["id"],
            label="test",
            token_digest=digest(token),
            scopes=scopes,
            created_at=now,
            expires_at=None if expires_in is None else now + timedelta(seconds=expires_in),
        )
    return token


def _tenant(merchant: Merchant):  # type: ignore[no-untyped-def]
    from payreq.auth.subject import Tenant

    return Tenant(uuid.UUID(merchant.credentials.account_id), "sandbox")


async def test_client_token_scopes_are_enforced(
    services: Services, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    read_only = await _client_token(services, merchant, scopes="payments.get")
    denied = await http.post("/payment/request", json=BODY, headers=bearer(read_only))
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == "Insufficient permissions"
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert 'scope="payments.create"' in denied.headers["www-authenticate"]
    listed = await http.get("/payment/request", headers=bearer(read_only))
    assert listed.status_code == 200


async def test_expired_client_token_is_401(
    services: Services, merchant: Merchant, http: httpx.AsyncClient, clock
) -> None:  # type: ignore[no-untyped-def]
    token = await _client_token(services, merchant, scopes="*", expires_in=60)
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200
    clock.advance(61)
    answer = await http.get("/payment/request", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Unauthenticated"
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


async def test_a_token_revoked_by_another_process_is_401_once_the_cache_ages_out(
    services: Services, merchant: Merchant, http: httpx.AsyncClient, clock
) -> None:  # type: ignore[no-untyped-def]
    token = await _client_token(services, merchant, scopes="*")
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200
    async with services.db.transaction() as conn:  # as another process would: no in-process signal
        await conn.execute(
            "UPDATE client_tokens SET revoked_at = :at WHERE token_digest = :d",
            {"at": services.clock(), "d": digest(token)},
        )
    assert services.settings.auth_cache_seconds == 1.0  # the documented bound
    clock.advance(0.5)
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200  # still cached
    clock.advance(0.5)
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 401


async def test_without_the_cache_a_revocation_anywhere_is_seen_at_once(
    services: Services, merchant: Merchant, settings, db, clock
) -> None:  # type: ignore[no-untyped-def]
    from payreq.app import create_app
    from tests.conftest import BASE_URL

    uncached = create_app(
        settings.model_copy(update={"auth_cache_seconds": 0}), db=db, clock=clock, run_worker=False
    )
    token = await _client_token(services, merchant, scopes="*")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=uncached), base_url=BASE_URL) as client:
        assert (await client.get("/payment/request", headers=bearer(token))).status_code == 200
        async with services.db.transaction() as conn:
            await conn.execute(
                "UPDATE client_tokens SET revoked_at = :at WHERE token_digest = :d",
                {"at": services.clock(), "d": digest(token)},
            )
        assert (await client.get("/payment/request", headers=bearer(token))).status_code == 401


async def test_a_token_of_another_kind_or_shape_is_401(http: httpx.AsyncClient, merchant: Merchant) -> None:
    for token in (
        merchant.credentials.client_secret,  # a client secret is not a bearer token
        "prq_ct_sbx_" + "x" * 32,  # well-formed, unknown
        "prq_xx_sbx_abc",
        "not-a-token",
    ):
        answer = await http.get("/payment/request", headers=bearer(token))
        assert answer.status_code == 401, token
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
