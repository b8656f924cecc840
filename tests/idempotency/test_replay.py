"""Idempotency-Key: replay, mismatch, validation, scoping and expiry (SPEC §4; the
security research's T26-T29), on both contracts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from payreq.account import repository as accounts
from payreq.idempotency import sweep
from payreq.services import Services
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.idempotency.conftest import body, key_rows, keyed, new_key, payments_with_reference
from tests.payment.conftest import error_of, pay


async def test_same_key_and_body_replays_the_first_answer(merchant: Merchant, services: Services) -> None:
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), key)

    first = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)
    again = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert "ratelimit-limit" in again.headers
    assert await payments_with_reference(services, reference) == 1
    listed = await merchant.http.get(
        "/payment/request", params={"reference_id": reference}, headers=await merchant.headers()
    )
    assert [item["id"] for item in listed.json()["data"]] == [first.json()["id"]]


async def test_contract_b_checkout_replays_with_the_same_key(merchant: Merchant, services: Services) -> None:
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    headers = keyed({"Authorization": f"Bearer {merchant.credentials.client_token}"}, key)
    sent = checkout_body(merchant, reference=reference)

    first = await merchant.http.post("/api/payment/checkout", json=sent, headers=headers)
    again = await merchant.http.post("/api/payment/checkout", json=sent, headers=headers)

    assert first.status_code == 201, first.text
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.json() == first.json()
    assert await payments_with_reference(services, reference) == 1


async def test_same_key_with_another_body_answers_422_and_keeps_the_original(
    merchant: Merchant, services: Services
) -> None:
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), key)
    first = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)

    changed = await merchant.http.post(
        "/payment/request", json=body(reference_id=reference, amount="2000"), headers=headers
    )

    error = error_of(changed, 422, "validation_error")
    assert error["code"] == "idempotency_key_reused"
    assert error["param"] == "Idempotency-Key"
    assert "POST /payment/request" in error["message"]
    assert "idempotent-replayed" not in changed.headers
    read = await merchant.http.get(f"/payment/request/{first.json()['id']}", headers=await merchant.headers())
    assert read.json()["amount"] == "1000"
    assert await payments_with_reference(services, reference) == 1


async def test_same_key_on_another_path_answers_422(merchant: Merchant) -> None:
    key = new_key()
    headers = keyed(await merchant.headers(), key)
    created = await merchant.http.post("/payment/request", json=body(), headers=headers)

    cancel = await merchant.http.post(f"/payment/request/{created.json()['id']}/cancel", headers=headers)

    assert error_of(cancel, 422, "validation_error")["code"] == "idempotency_key_reused"
    read = await merchant.http.get(
        f"/payment/request/{created.json()['id']}", headers=await merchant.headers()
    )
    assert read.json()["status"] == "pending"


async def test_a_reordered_json_body_is_another_request(merchant: Merchant) -> None:
    """The fingerprint is of the bytes sent: a client retries with the same bytes."""
    headers = keyed(await merchant.headers(), new_key())
    url = b'"redirect_url":"https://shop.example/"'
    first = await merchant.http.post(
        "/payment/request", content=b'{"amount":"1000","currency":"USD",' + url + b"}", headers=headers
    )
    reordered = await merchant.http.post(
        "/payment/request", content=b'{"currency":"USD","amount":"1000",' + url + b"}", headers=headers
    )
    assert first.status_code == 201, first.text
    assert error_of(reordered, 422, "validation_error")["code"] == "idempotency_key_reused"


async def test_cancel_with_a_key_replays_its_200(merchant: Merchant) -> None:
    created = await merchant.create_payment()
    headers = keyed(await merchant.headers(), new_key())
    url = f"/payment/request/{created['id']}/cancel"

    first = await merchant.http.post(url, headers=headers)
    again = await merchant.http.post(url, headers=headers)

    assert first.status_code == 200, first.text
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.json() == first.json()


async def test_a_business_409_is_stored_and_replayed(merchant: Merchant, services: Services) -> None:
    created = await merchant.create_payment()
    await pay(services, merchant, created["id"])
    headers = keyed(await merchant.headers(), new_key())
    url = f"/payment/request/{created['id']}/cancel"

    first = await merchant.http.post(url, headers=headers)
    again = await merchant.http.post(url, headers=headers)

    assert error_of(first, 409, "invalid_state")["code"] == "invalid_state"
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["error"]["message"] == first.json()["error"]["message"]


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        pytest.param(
            {"amount": "1000", "currency": "ZZZ", "redirect_url": "https://shop.example/"}, 422, id="422"
        ),
        pytest.param({"currency": "USD"}, 400, id="400-missing"),
        pytest.param(b"{not json", 400, id="400-json"),
    ],
)
async def test_answers_that_failed_validation_are_not_stored(
    merchant: Merchant, services: Services, sent: Any, status: int
) -> None:
    key = new_key()
    headers = keyed(await merchant.headers(), key)
    if isinstance(sent, bytes):
        refused = await merchant.http.post("/payment/request", content=sent, headers=headers)
    else:
        refused = await merchant.http.post("/payment/request", json=sent, headers=headers)
    assert refused.status_code == status, refused.text
    assert await key_rows(services, merchant) == []

    fixed = await merchant.http.post("/payment/request", json=body(), headers=headers)

    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers


async def test_the_same_key_in_two_accounts_is_two_keys(
    merchant: Merchant, make_merchant: Any, services: Services
) -> None:
    other: Merchant = await make_merchant()
    key = new_key()

    mine = await merchant.http.post(
        "/payment/request", json=body(amount="100"), headers=keyed(await merchant.headers(), key)
    )
    theirs = await other.http.post(
        "/payment/request", json=body(amount="200"), headers=keyed(await other.headers(), key)
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["amount"] == "200"
    # and neither replays to the other
    again = await other.http.post(
        "/payment/request", json=body(amount="100"), headers=keyed(await other.headers(), key)
    )
    assert error_of(again, 422, "validation_error")["code"] == "idempotency_key_reused"


async def test_a_production_account_does_not_see_a_sandbox_key(
    merchant: Merchant, make_merchant: Any
) -> None:
    production: Merchant = await make_merchant(environment="production")
    key = new_key()
    sandbox = await merchant.http.post(
        "/payment/request", json=body(), headers=keyed(await merchant.headers(), key)
    )
    live = await production.http.post(
        "/payment/request", json=body(), headers=keyed(await production.headers(), key)
    )
    assert (sandbox.status_code, live.status_code) == (201, 201), live.text
    assert "idempotent-replayed" not in live.headers
    assert live.json()["id"] != sandbox.json()["id"]


async def test_a_client_token_and_an_access_token_of_one_account_keep_separate_keys(
    merchant: Merchant,
) -> None:
    """A client token sees only its application's payments, so it must not be
    replayed an answer given to the account's access token (or the reverse)."""
    key = new_key()
    sent = checkout_body(merchant)
    by_account = await merchant.http.post(
        "/api/payment/checkout", json=sent, headers=keyed(await merchant.headers(), key)
    )
    by_client_token = await merchant.http.post(
        "/api/payment/checkout",
        json=sent,
        headers=keyed({"Authorization": f"Bearer {merchant.credentials.client_token}"}, key),
    )
    assert (by_account.status_code, by_client_token.status_code) == (201, 201)
    assert "idempotent-replayed" not in by_client_token.headers
    assert by_account.json()["id"] != by_client_token.json()["id"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"k" * 256, id="256-chars"),
        pytest.param("clé".encode("latin-1"), id="not-ascii"),
        pytest.param(b"a\x7fb", id="DEL"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_a_malformed_key_answers_400_naming_the_header(
    merchant: Merchant, services: Services, raw: bytes
) -> None:
    headers = [(b"authorization", f"Bearer {await merchant.token()}".encode()), (b"idempotency-key", raw)]
    answer = await merchant.http.post("/payment/request", json=body(), headers=headers)

    error = error_of(answer, 400, "invalid_request")
    assert error["param"] == "Idempotency-Key"
    assert error["code"] == "invalid_idempotency_key"
    assert answer.headers["cache-control"] == "no-store"
    assert await key_rows(services, merchant) == []


async def test_two_key_headers_answer_400(merchant: Merchant) -> None:
    headers = [
        (b"authorization", f"Bearer {await merchant.token()}".encode()),
        (b"idempotency-key", b"one"),
        (b"idempotency-key", b"two"),
    ]
    answer = await merchant.http.post("/payment/request", json=body(), headers=headers)
    assert error_of(answer, 400, "invalid_request")["param"] == "Idempotency-Key"


async def test_a_255_character_printable_key_is_accepted(merchant: Merchant) -> None:
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3
    key = key[:255]
    headers = keyed(await merchant.headers(), key)
    first = await merchant.http.post("/payment/request", json=body(), headers=headers)
    again = await merchant.http.post("/payment/request", json=body(), headers=headers)
    assert first.status_code == 201, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


async def test_401_never_touches_the_key_store(merchant: Merchant, services: Services) -> None:
    async with services.db.read() as conn:
        before = await conn.fetch_one("SELECT COUNT(*) AS n FROM idempotency_keys")
    answer = await merchant.http.post(
        "/payment/request",
        json=body(),
        headers={"Authorization": "Bearer prq_at_sbx_nope", "Idempotency-Key": new_key()},
    )
    missing = await merchant.http.post(
        "/payment/request", json=body(), headers={"Idempotency-Key": new_key()}
    )
    async with services.db.read() as conn:
        after = await conn.fetch_one("SELECT COUNT(*) AS n FROM idempotency_keys")

    assert (answer.status_code, missing.status_code) == (401, 401)
    assert before is not None and after is not None
    assert after["n"] == before["n"]


async def test_403_does_not_store_and_the_key_stays_usable(merchant: Merchant, services: Services) -> None:
    key = new_key()
    refused = await merchant.http.post(
        "/payment/request", json=body(), headers=keyed(await merchant.headers("payments.get"), key)
    )
    assert refused.status_code == 403
    assert await key_rows(services, merchant) == []

    allowed = await merchant.http.post(
        "/payment/request", json=body(), headers=keyed(await merchant.headers(), key)
    )
    assert allowed.status_code == 201
    assert "idempotent-replayed" not in allowed.headers


async def test_a_replay_still_checks_the_scope(merchant: Merchant) -> None:
    key = new_key()
    created = await merchant.http.post(
        "/payment/request", json=body(), headers=keyed(await merchant.headers(), key)
    )
    assert created.status_code == 201

    replay = await merchant.http.post(
        "/payment/request", json=body(), headers=keyed(await merchant.headers("payments.get"), key)
    )

    assert replay.status_code == 403
    assert "idempotent-replayed" not in replay.headers


async def test_429_does_not_store_and_the_key_stays_usable(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    async with services.db.transaction() as conn:
        await accounts.set_api_key_rate_limit(conn, merchant.credentials.client_id, 1)
    headers = await merchant.headers()
    key = new_key()
    try:
        answers = [
            await merchant.http.post("/payment/request", json=body(), headers=keyed(headers, f"{key}-{i}"))
            for i in range(3)
        ]
        limited = [i for i, a in enumerate(answers) if a.status_code == 429]
        assert limited, [a.status_code for a in answers]
        stored = {row["idempotency_key"] for row in await key_rows(services, merchant)}
        assert stored == {f"{key}-{i}" for i, a in enumerate(answers) if a.status_code == 201}
    finally:
        async with services.db.transaction() as conn:
            await accounts.set_api_key_rate_limit(conn, merchant.credentials.client_id, None)


async def test_a_body_over_64_kib_answers_413_without_a_key(merchant: Merchant, services: Services) -> None:
    answer = await merchant.http.post(
        "/payment/request",
        content=b'{"amount": "1000", "pad": "' + b"x" * (65 * 1024) + b'"}',
        headers={**keyed(await merchant.headers(), new_key()), "Content-Type": "application/json"},
    )
    assert error_of(answer, 413, "payload_too_large")
    assert await key_rows(services, merchant) == []


async def test_oauth_token_ignores_the_header(merchant: Merchant) -> None:
    form = {"grant_type": "client_credentials"}
    one = await merchant.http.post(
        "/oauth/token", data=form, auth=merchant.basic, headers={"Idempotency-Key": "k"}
    )
    two = await merchant.http.post(
        "/oauth/token", data=form, auth=merchant.basic, headers={"Idempotency-Key": "k"}
    )
    assert (one.status_code, two.status_code) == (200, 200)
    assert one.json()["access_token"] != two.json()["access_token"]
    assert "idempotent-replayed" not in two.headers


async def test_a_key_is_kept_24_hours_then_forgotten(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    key = new_key()
    headers = keyed(await merchant.headers(), key)
    first = await merchant.http.post("/payment/request", json=body(expires_in=3600), headers=headers)
    clock.advance(24 * 3600 - 60)
    headers = keyed(await merchant.headers(), key)  # the first access token expired meanwhile
    merchant._token = None
    headers = keyed(await merchant.headers(), key)

    still = await merchant.http.post("/payment/request", json=body(expires_in=3600), headers=headers)
    assert still.headers.get("idempotent-replayed") == "true"
    assert still.json()["id"] == first.json()["id"]

    clock.advance(120)
    merchant._token = None
    headers = keyed(await merchant.headers(), key)
    later = await merchant.http.post("/payment/request", json=body(amount="5000"), headers=headers)
    assert later.status_code == 201, later.text
    assert "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]


async def test_sweep_deletes_keys_past_24_hours_only(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    headers = await merchant.headers()
    for i in range(3):
        answer = await merchant.http.post("/payment/request", json=body(), headers=keyed(headers, f"old-{i}"))
        assert answer.status_code == 201
    clock.advance(12 * 3600)
    merchant._token = None
    headers = await merchant.headers()
    young = await merchant.http.post("/payment/request", json=body(), headers=keyed(headers, "young"))
    assert young.status_code == 201
    clock.advance(12 * 3600 + 1)

    async with services.db.transaction() as conn:
        swept = await sweep(conn, services.clock())
    async with services.db.transaction() as conn:
        again = await sweep(conn, services.clock())

    assert swept >= 3
    assert again == 0
    assert [row["idempotency_key"] for row in await key_rows(services, merchant)] == ["young"]


async def test_replaying_needs_a_valid_token(merchant: Merchant) -> None:
    key = new_key()
    token = await merchant.token()
    created = await merchant.http.post(
        "/payment/request", json=body(), headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    )
    assert created.status_code == 201
    revoked = await merchant.http.post("/oauth/revoke", data={"token": token}, auth=merchant.basic)
    assert revoked.status_code == 200

    replay = await merchant.http.post(
        "/payment/request", json=body(), headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    )
    assert replay.status_code == 401


def checkout_body(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    return {
        "amount": 2500,
        "currencyCode": "EUR",
        "reference": f"order-{uuid.uuid4()}",
        "referenceLabel": "Order",
        "clientId": merchant.credentials.application_client_id,
        "redirectUrl": "https://shop.example/thanks",
        **fields,
    }


async def test_the_worker_sweeps_keys_past_24_hours(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    from payreq.worker.runner import Worker

    headers = await merchant.headers()
    answer = await merchant.http.post("/payment/request", json=body(), headers=keyed(headers, "to-sweep"))
    assert answer.status_code == 201
    clock.advance(24 * 3600 + 1)
    await Worker(services).sweep_idempotency_keys()
    assert [row["idempotency_key"] for row in await key_rows(services, merchant)] == []


# -- answers that show a secret once (real endpoints) ----------------------------------


def _token_create(merchant: Merchant) -> tuple[str, dict[str, Any]]:
    client_id = merchant.credentials.application_client_id
    return f"/api/payment-applications/{client_id}/tokens", {"label": "shop", "scopes": ["payments.create"]}


async def _secret_bearing(merchant: Merchant, kind: str) -> tuple[str, dict[str, Any] | None, str]:
    """(path, body, the JSON field that holds the secret) of one real secret-bearing write."""
    if kind == "client-token":
        path, sent = _token_create(merchant)
        return path, sent, "token"
    if kind == "application":
        return "/api/payment-applications", {"name": f"app-{uuid.uuid4().hex[:6]}"}, "webhookSecret"
    client_id = merchant.credentials.application_client_id
    return f"/api/payment-applications/{client_id}/webhook-secret", None, "webhookSecret"


@pytest.mark.parametrize(
    ("kind", "status"), [("client-token", 201), ("application", 201), ("webhook-secret", 200)]
)
async def test_an_answer_that_shows_a_secret_is_never_stored_nor_shown_again(
    merchant: Merchant, services: Services, kind: str, status: int
) -> None:
    path, sent, field = await _secret_bearing(merchant, kind)
    headers = keyed(await merchant.headers(), new_key())
    first = await merchant.http.post(path, json=sent, headers=headers)
    again = await merchant.http.post(path, json=sent, headers=headers)

    assert first.status_code == status, first.text
    secret = first.json()[field]
    assert secret.startswith(("prq_ct_", "whsec_")), secret
    # a reused key never shows the secret again (documented: 409 idempotency_key_used)
    error = error_of(again, 409, "invalid_state")
    assert error["code"] == "idempotency_key_used", error
    assert secret not in again.text
    # and the key store holds its status only, never the answer
    [row] = await key_rows(services, merchant)
    assert (row["status"], row["body"]) == (first.status_code, None)
    async with services.db.read() as conn:
        stored = await conn.fetch_all("SELECT body, headers FROM idempotency_keys")
    assert not any(secret in str(r["body"]) + str(r["headers"]) for r in stored)
