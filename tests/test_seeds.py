"""The customer's documents, row by row: every line of the troubleshooting table in
seeds/troubleshooting-and-glossary.txt and every answer in seeds/faq.md, checked by
what a client sees (status, body, headers)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx
import pytest

from payreq.account import repository as accounts
from payreq.app import create_app
from payreq.audit.models import Actor
from payreq.auth.subject import Tenant
from payreq.config import Settings
from payreq.db import Connection
from payreq.errors import Conflict
from payreq.kit.crypto import SecretKind, digest, new_client_id, new_secret
from payreq.payment.lifecycle import Status
from payreq.services import Services
from tests.fixtures.factories import Merchant

MakeMerchant = Callable[..., Awaitable[Merchant]]
MINIMAL = {"amount": "100", "currency": "USD", "redirect_url": "https://yourapp.com/thanks"}
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "scope"}
PAYMENT_FIELDS = {
    "id",
    "status",
    "amount",
    "currency",
    "redirect_url",
    "reference_id",
    "checkout_url",
    "created_at",
    "expires_at",
    "paid_at",
    "cancelled_at",
    "expired_at",
    "environment",
}


def error_of(answer: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    """The contract's error envelope, checked; returns ``error``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == type_
    assert error["code"]
    assert error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    return error


def oauth_error_of(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """RFC 6749 §5.2 body with Cache-Control: no-store."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    assert body["error"] == code
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    return body


def rfc3339(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def settle(services: Services, merchant: Merchant, payment_id: str, target: Status) -> None:
    tenant = Tenant(uuid.UUID(merchant.credentials.account_id), merchant.credentials.environment)
    async with services.db.transaction() as conn:
        await services.payments.settle(conn, tenant, uuid.UUID(payment_id), target, actor=Actor.cli("test"))


async def get_payment(merchant: Merchant, payment_id: str) -> httpx.Response:
    return await merchant.http.get(f"/payment/request/{payment_id}", headers=await merchant.headers())


# ==== Troubleshooting: 400 Bad Request, POST /payment/request ========================
# "Missing or malformed JSON; required field omitted"


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"amount": "100", "currency": "USD", }', b"amount=100&currency=USD", b"[]"],
    ids=["missing", "unterminated", "trailing-comma", "form-encoded", "not-an-object"],
)
async def test_missing_or_malformed_json_returns_400(merchant: Merchant, content: bytes) -> None:
    headers = {**await merchant.headers(), "Content-Type": "application/json"}
    answer = await merchant.http.post("/payment/request", content=content, headers=headers)
    error_of(answer, 400, "invalid_request")


@pytest.mark.parametrize("field", ["amount", "currency", "redirect_url"])
async def test_required_field_omitted_returns_400_naming_the_field(merchant: Merchant, field: str) -> None:
    body = {k: v for k, v in MINIMAL.items() if k != field}
    answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())
    error = error_of(answer, 400, "invalid_request")
    assert field in error["message"]
    assert error["param"] == field


# ==== Troubleshooting: 401 Unauthorized, any endpoint ================================
# "Missing or expired access_token" -> "Call POST /oauth/token again"


def _any_endpoint(payment_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/payment/request", MINIMAL),
        ("GET", "/payment/request", None),
        ("GET", f"/payment/request/{payment_id}", None),
        ("POST", f"/payment/request/{payment_id}/cancel", None),
    ]


def assert_unauthenticated(answer: httpx.Response, *, token_sent: bool) -> None:
    error = error_of(answer, 401, "authentication_error")
    assert error["message"] == "Unauthenticated"
    challenge = answer.headers["www-authenticate"]
    assert challenge.lower().startswith("bearer")
    assert ('error="invalid_token"' in challenge) is token_sent


async def test_missing_access_token_returns_401_on_every_endpoint(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    for method, path, body in _any_endpoint(payment["id"]):
        answer = await merchant.http.request(method, path, json=body)
        assert_unauthenticated(answer, token_sent=False)
    assert (await get_payment(merchant, payment["id"])).json()["status"] == "pending"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "prq_at_sbx_x", "Token abc"],
    ids=["scheme-only", "empty-token", "basic", "no-scheme", "other-scheme"],
)
async def test_malformed_authorization_header_returns_401(merchant: Merchant, authorization: str) -> None:
    answer = await merchant.http.get("/payment/request", headers={"Authorization": authorization})
    assert answer.status_code == 401
    error_of(answer, 401, "authentication_error")


async def test_unknown_access_token_returns_401(merchant: Merchant) -> None:
    forged = new_secret(SecretKind.ACCESS_TOKEN, "sandbox")
    answer = await merchant.http.get("/payment/request", headers={"Authorization": f"Bearer {forged}"})
    assert_unauthenticated(answer, token_sent=True)


async def test_expired_access_token_returns_401_on_every_endpoint(merchant: Merchant, clock: Any) -> None:
    payment = await merchant.create_payment()
    headers = await merchant.headers()
    clock.advance(3601)
    for method, path, body in _any_endpoint(payment["id"]):
        answer = await merchant.http.request(method, path, json=body, headers=headers)
        assert_unauthenticated(answer, token_sent=True)


async def test_after_expiry_a_new_token_from_oauth_token_works(merchant: Merchant, clock: Any) -> None:
    payment = await merchant.create_payment()
    old = await merchant.headers()
    clock.advance(3601)
    assert (await merchant.http.get("/payment/request", headers=old)).status_code == 401
    fresh = {"Authorization": f"Bearer {await merchant.token(scope='*')}"}
    answer = await merchant.http.get(f"/payment/request/{payment['id']}", headers=fresh)
    assert answer.status_code == 200
    assert answer.json()["id"] == payment["id"]


async def test_revoked_access_token_returns_401(merchant: Merchant) -> None:
    token = await merchant.token(scope="*")
    revoked = await merchant.http.post("/oauth/revoke", data={"token": token}, auth=merchant.basic)
    assert revoked.status_code == 200
    answer = await merchant.http.get("/payment/request", headers={"Authorization": f"Bearer {token}"})
    assert_unauthenticated(answer, token_sent=True)


async def test_access_token_in_query_string_is_refused_with_401(merchant: Merchant) -> None:
    token = await merchant.token()
    answer = await merchant.http.get("/payment/request", params={"access_token": token})
    assert answer.status_code == 401


# ==== Troubleshooting: 403 Forbidden, POST /oauth/token ==============================
# "Wrong client_id / client_secret or bad Basic Auth header" -> "Re-encode credentials"

GRANT = {"grant_type": "client_credentials"}


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_wrong_client_secret_returns_403_invalid_client(merchant: Merchant) -> None:
    client_id = merchant.credentials.client_id
    wrong = new_secret(SecretKind.CLIENT_SECRET, "sandbox")
    answer = await merchant.http.post("/oauth/token", data=GRANT, auth=(client_id, wrong))
    oauth_error_of(answer, 403, "invalid_client")
    assert "access_token" not in answer.json()


async def test_unknown_client_id_returns_403_invalid_client(merchant: Merchant) -> None:
    unknown = new_client_id("sandbox")
    answer = await merchant.http.post(
        "/oauth/token", data=GRANT, auth=(unknown, merchant.credentials.client_secret)
    )
    oauth_error_of(answer, 403, "invalid_client")


async def test_another_merchants_secret_returns_403_invalid_client(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    answer = await merchant.http.post(
        "/oauth/token", data=GRANT, auth=(merchant.credentials.client_id, other.credentials.client_secret)
    )
    oauth_error_of(answer, 403, "invalid_client")


async def test_wrong_client_secret_in_form_fields_returns_403_invalid_client(merchant: Merchant) -> None:
    form = {**GRANT, "client_id": merchant.credentials.client_id, "client_secret": "prq_cs_sbx_wrong"}
    answer = await merchant.http.post("/oauth/token", data=form)
    oauth_error_of(answer, 403, "invalid_client")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="not-base64"),
        pytest.param({"Authorization": "Basic "}, id="empty"),
        pytest.param({"Authorization": "Basic"}, id="scheme-only"),
        pytest.param(basic(b"no-colon-here"), id="no-colon"),
        pytest.param(basic(b"\xff\xfe:\xff"), id="not-utf8"),
        pytest.param(basic(b":"), id="empty-id-and-secret"),
        pytest.param({"Authorization": "Bearer abc"}, id="bearer-instead-of-basic"),
    ],
)
async def test_bad_basic_auth_header_returns_403_invalid_client(
    merchant: Merchant, headers: dict[str, str]
) -> None:
    answer = await merchant.http.post("/oauth/token", data=GRANT, headers=headers)
    oauth_error_of(answer, 403, "invalid_client")


async def test_no_client_authentication_returns_403_invalid_client(http: httpx.AsyncClient) -> None:
    answer = await http.post("/oauth/token", data=GRANT)
    oauth_error_of(answer, 403, "invalid_client")


async def test_reencoded_credentials_succeed_after_a_bad_basic_header(merchant: Merchant) -> None:
    cid, secret = merchant.basic
    bad = basic(f"{cid}{secret}".encode())  # the colon forgotten
    oauth_error_of(await merchant.http.post("/oauth/token", data=GRANT, headers=bad), 403, "invalid_client")
    good = basic(f"{cid}:{secret}".encode())
    answer = await merchant.http.post("/oauth/token", data=GRANT, headers=good)
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer"


# ==== Troubleshooting: 404 Not Found, GET /payment/request/{id} ======================
# "ID not present in environment"


def assert_payment_not_found(answer: httpx.Response) -> None:
    error_of(answer, 404, "not_found")


async def test_unknown_payment_id_returns_404(merchant: Merchant) -> None:
    assert_payment_not_found(await get_payment(merchant, str(uuid.uuid4())))


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%20"])
async def test_malformed_payment_id_returns_404(merchant: Merchant, bad_id: str) -> None:
    assert_payment_not_found(await get_payment(merchant, bad_id))


async def test_another_accounts_payment_returns_404(merchant: Merchant, make_merchant: MakeMerchant) -> None:
    other = await make_merchant()
    payment = await other.create_payment()
    assert_payment_not_found(await get_payment(merchant, payment["id"]))
    cancel = await merchant.http.post(
        f"/payment/request/{payment['id']}/cancel", headers=await merchant.headers()
    )
    assert_payment_not_found(cancel)
    assert (await get_payment(other, payment["id"])).json()["status"] == "pending"


async def test_same_accounts_payment_in_the_other_environment_returns_404(
    merchant: Merchant, services: Services
) -> None:
    """A sandbox id asked for with a production key of the same account: 404 (use the
    right base URL / environment)."""
    sandbox_payment = await merchant.create_payment()
    client_id, secret = new_client_id("production"), new_secret(SecretKind.CLIENT_SECRET, "production")
    async with services.db.transaction() as conn:
        await accounts.insert_api_key(
            conn,
            id=uuid.uuid4(),
            account_id=uuid.UUID(merchant.credentials.account_id),
            environment="production",
            label="Production key",
            client_id=client_id,
            secret_digest=digest(secret),
            created_at=datetime.now(UTC),
        )
    issued = await merchant.http.post("/oauth/token", data=GRANT, auth=(client_id, secret))
    assert issued.status_code == 200, issued.text
    production = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    answer = await merchant.http.get(f"/payment/request/{sandbox_payment['id']}", headers=production)
    assert_payment_not_found(answer)
    listed = await merchant.http.get("/payment/request", headers=production)
    assert listed.status_code == 200
    assert sandbox_payment["id"] not in [p["id"] for p in listed.json()["data"]]


# ==== Troubleshooting: 422 Validation Exception, POST /payment/request ===============
# "Business-rule failure (e.g., unsupported currency, negative amount)"


@pytest.mark.parametrize("currency", ["ZZZ", "ABC", "XAU"])
async def test_unsupported_currency_returns_422(merchant: Merchant, currency: str) -> None:
    body = {**MINIMAL, "currency": currency}
    answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "currency"


@pytest.mark.parametrize("amount", ["-100", -100, "-1", -1], ids=["string", "int", "string-1", "int-1"])
async def test_negative_amount_returns_422(merchant: Merchant, amount: object) -> None:
    body = {**MINIMAL, "amount": amount}
    answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "amount"
    assert "positive integer" in error["message"]


async def test_rejected_request_creates_nothing(merchant: Merchant) -> None:
    headers = await merchant.headers()
    for body in ({**MINIMAL, "amount": "-100"}, {**MINIMAL, "currency": "ZZZ"}):
        assert (await merchant.http.post("/payment/request", json=body, headers=headers)).status_code == 422
    listed = await merchant.http.get("/payment/request", headers=headers)
    assert listed.json()["data"] == []


# ==== Troubleshooting: 500 Server Error, any endpoint ================================
# "Unexpected internal condition": the body carries the request id, never a trace.


class BrokenDatabase:
    """A Database whose every unit of work fails unexpectedly."""

    dialect = "sqlite"

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        raise RuntimeError("boom")

    def read(self) -> AbstractAsyncContextManager[Connection]:
        raise RuntimeError("boom")

    def single(self) -> AbstractAsyncContextManager[Connection]:
        raise RuntimeError("boom")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> NoReturn:
        raise RuntimeError("boom")


@pytest.fixture
async def broken_http() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url="sqlite:///unused.db",
        base_url="http://testserver",
        embedded_worker=False,
        log_level="WARNING",
    )
    app = create_app(settings, db=BrokenDatabase(), run_worker=False)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


_TOKEN = {"Authorization": f"Bearer {new_secret(SecretKind.ACCESS_TOKEN, 'sandbox')}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("GET", f"/payment/request/{uuid.uuid4()}", {"headers": _TOKEN}, id="get"),
        pytest.param("GET", "/payment/request", {"headers": _TOKEN}, id="list"),
        pytest.param("POST", "/payment/request", {"headers": _TOKEN, "json": MINIMAL}, id="create"),
        pytest.param(
            "POST",
            "/oauth/token",
            {"data": GRANT, "auth": (new_client_id("sandbox"), "prq_cs_sbx_x")},
            id="oauth-token",
        ),
    ],
)
async def test_unexpected_error_returns_500_with_request_id_and_no_trace(
    broken_http: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    answer = await broken_http.request(method, path, **kwargs)
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["type"] == "api_error"
    assert error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert error["request_id"]
    for leak in ("Traceback", "boom", "RuntimeError", 'File "', ".py"):
        assert leak not in answer.text


async def test_500_echoes_the_callers_request_id(broken_http: httpx.AsyncClient) -> None:
    answer = await broken_http.get(
        "/payment/request", headers={**_TOKEN, "X-Request-ID": "support-ticket-42"}
    )
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "support-ticket-42"
    assert answer.json()["error"]["request_id"] == "support-ticket-42"


# ==== Troubleshooting: 429 Too Many Requests; FAQ "What is the API rate limit?" =======
# "more than 5 requests per second per API key"


async def test_sixth_request_within_one_second_returns_429_with_retry_after(
    merchant: Merchant, services: Services
) -> None:
    async with services.db.transaction() as conn:  # the documented default, whatever the suite's
        assert await accounts.set_api_key_rate_limit(conn, merchant.credentials.client_id, 5)
    headers = await merchant.headers()
    await asyncio.sleep(1.05)  # the token request spent one of the key's five (issue 11): a fresh second
    answers = [await merchant.http.get("/payment/request", headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    limited = answers[5]
    error = error_of(limited, 429, "rate_limited")
    assert error["message"]
    assert int(limited.headers["retry-after"]) >= 1


# ==== FAQ: Which OAuth grant type is supported? client_credentials only ================


async def test_client_credentials_grant_in_form_data_issues_a_token(merchant: Merchant) -> None:
    answer = await merchant.http.post("/oauth/token", data=GRANT, auth=merchant.basic)
    assert answer.status_code == 200
    assert set(answer.json()) == TOKEN_FIELDS


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "authorization_code",
        "refresh_token",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ],
)
async def test_other_grant_types_return_400_unsupported_grant_type(
    merchant: Merchant, grant_type: str
) -> None:
    form = {"grant_type": grant_type, "username": "u", "password": "p", "code": "c", "refresh_token": "r"}
    answer = await merchant.http.post("/oauth/token", data=form, auth=merchant.basic)
    body = oauth_error_of(answer, 400, "unsupported_grant_type")
    assert "access_token" not in body


async def test_missing_grant_type_returns_400_invalid_request(merchant: Merchant) -> None:
    answer = await merchant.http.post("/oauth/token", data={"scope": "*"}, auth=merchant.basic)
    oauth_error_of(answer, 400, "invalid_request")


# ==== FAQ: Where do I obtain client_id and client_secret? (API Keys) ==================
# The credentials issued for the account obtain a token by Basic auth or form fields.


async def test_issued_client_id_and_secret_obtain_a_token_by_basic_or_form(merchant: Merchant) -> None:
    by_basic = await merchant.http.post("/oauth/token", data=GRANT, auth=merchant.basic)
    cid, secret = merchant.basic
    by_form = await merchant.http.post(
        "/oauth/token", data={**GRANT, "client_id": cid, "client_secret": secret}
    )
    for answer in (by_basic, by_form):
        assert answer.status_code == 200, answer.text
        assert answer.json()["access_token"].startswith("prq_at_sbx_")
    assert by_basic.json()["access_token"] != by_form.json()["access_token"]


# ==== FAQ: How long is an access_token valid? expires_in = 3600 =======================


async def test_token_answer_says_expires_in_3600_and_bearer(merchant: Merchant) -> None:
    answer = await merchant.http.post("/oauth/token", data=GRANT, auth=merchant.basic)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == TOKEN_FIELDS
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "*"


async def test_token_is_valid_for_exactly_expires_in_seconds(merchant: Merchant, clock: Any) -> None:
    issued = await merchant.http.post("/oauth/token", data=GRANT, auth=merchant.basic)
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    clock.advance(issued.json()["expires_in"] - 5)
    assert (await merchant.http.get("/payment/request", headers=headers)).status_code == 200
    clock.advance(10)
    assert (await merchant.http.get("/payment/request", headers=headers)).status_code == 401


# ==== FAQ: What is the minimal body for POST /payment/request? =========================


async def test_minimal_body_creates_a_payment_request(merchant: Merchant, clock: Any) -> None:
    before = clock()
    answer = await merchant.http.post("/payment/request", json=MINIMAL, headers=await merchant.headers())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) >= PAYMENT_FIELDS
    assert uuid.UUID(body["id"]).version == 4  # glossary: UUID resource ids
    assert body["status"] == "pending"
    assert body["amount"] == "100"
    assert body["currency"] == "USD"
    assert body["redirect_url"] == "https://yourapp.com/thanks"
    assert body["reference_id"] is None
    assert body["paid_at"] is body["cancelled_at"] is body["expired_at"] is None
    assert body["environment"] == "sandbox"
    assert body["checkout_url"] == f"http://testserver/checkout/{body['id']}"
    created = rfc3339(body["created_at"])
    assert before.replace(microsecond=0) <= created
    assert (rfc3339(body["expires_at"]) - created).total_seconds() == 24 * 3600


# ==== FAQ: Can I tag requests? reference_id is returned unchanged in all responses ====


@pytest.mark.parametrize(
    "reference_id",
    ["ORDER-123", "  Order #123 / ünïcödé 😀 \t<b>&amp;</b>  ", "0042", "a" * 255],
    ids=["plain", "unicode-and-spaces", "leading-zeros", "max-length"],
)
async def test_reference_id_is_returned_unchanged_everywhere(merchant: Merchant, reference_id: str) -> None:
    headers = await merchant.headers()
    created = await merchant.create_payment(reference_id=reference_id)
    assert created["reference_id"] == reference_id
    fetched = await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)
    assert fetched.json()["reference_id"] == reference_id
    listed = await merchant.http.get(
        "/payment/request", params={"reference_id": reference_id}, headers=headers
    )
    assert [(p["id"], p["reference_id"]) for p in listed.json()["data"]] == [(created["id"], reference_id)]
    cancelled = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["reference_id"] == reference_id


# ==== FAQ: How do I confirm payment completion? Poll GET until status is paid ==========


async def test_polling_shows_paid_once_the_payment_is_settled(merchant: Merchant, services: Services) -> None:
    created = await merchant.create_payment(amount="100")
    first = await get_payment(merchant, created["id"])
    assert first.json()["status"] == "pending"
    assert first.json()["paid_at"] is None
    await settle(services, merchant, created["id"], Status.PAID)
    polled = await get_payment(merchant, created["id"])
    assert polled.status_code == 200
    body = polled.json()
    assert body["status"] == "paid"
    assert body["paid_at"] is not None
    assert rfc3339(body["paid_at"]) >= rfc3339(body["created_at"])
    assert (body["amount"], body["currency"]) == ("100", "USD")


# ==== FAQ: What statuses can a payment request have? =================================


async def test_statuses_are_exactly_pending_paid_expired_cancelled(
    merchant: Merchant, services: Services, clock: Any
) -> None:
    headers = await merchant.headers()
    pending = await merchant.create_payment()
    paid = await merchant.create_payment()
    cancelled = await merchant.create_payment()
    expired = await merchant.create_payment(expires_in=60)
    await settle(services, merchant, paid["id"], Status.PAID)
    answer = await merchant.http.post(f"/payment/request/{cancelled['id']}/cancel", headers=headers)
    assert answer.json()["status"] == "cancelled"
    clock.advance(61)
    seen = {
        p["id"]: (await get_payment(merchant, p["id"])).json() for p in (pending, paid, cancelled, expired)
    }
    assert {pid: body["status"] for pid, body in seen.items()} == {
        pending["id"]: "pending",
        paid["id"]: "paid",
        cancelled["id"]: "cancelled",
        expired["id"]: "expired",
    }
    assert seen[cancelled["id"]]["cancelled_at"] is not None
    assert seen[expired["id"]]["expired_at"] is not None
    listed = await merchant.http.get("/payment/request", params={"limit": 100}, headers=headers)
    assert {p["status"] for p in listed.json()["data"]} == {"pending", "paid", "expired", "cancelled"}


@pytest.mark.parametrize("status", ["pending", "paid", "expired", "cancelled"])
async def test_each_documented_status_is_a_valid_list_filter(merchant: Merchant, status: str) -> None:
    answer = await merchant.http.get(
        "/payment/request", params={"status": status}, headers=await merchant.headers()
    )
    assert answer.status_code == 200


@pytest.mark.parametrize("status", ["failed", "refunded", "PAID", "completed", ""])
async def test_undocumented_status_filter_returns_422(merchant: Merchant, status: str) -> None:
    answer = await merchant.http.get(
        "/payment/request", params={"status": status}, headers=await merchant.headers()
    )
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "status"
    for documented in ("pending", "paid", "expired", "cancelled"):
        assert documented in error["message"]


# ==== FAQ: What happens if required fields are missing? 400 + error.message ==========


async def test_missing_required_fields_return_400_with_details_in_message(merchant: Merchant) -> None:
    for field in ("amount", "currency", "redirect_url"):
        body = {k: v for k, v in MINIMAL.items() if k != field}
        answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())
        assert answer.status_code == 400
        message = answer.json()["error"]["message"]
        assert field in message
        assert "required" in message.lower() or "missing" in message.lower()


# ==== FAQ: Does the API support recurring or partial payments? No. ====================


@pytest.mark.parametrize(
    "amount", ["10.5", 10.5, "0.5", 0.5, "100.00"], ids=["s10.5", "f10.5", "s0.5", "f0.5", "s100.00"]
)
async def test_fractional_amount_returns_422(merchant: Merchant, amount: object) -> None:
    body = {**MINIMAL, "amount": amount}
    answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "amount"


async def test_a_paid_request_is_a_one_off_charge_that_stays_paid(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment()
    await settle(services, merchant, created["id"], Status.PAID)
    answer = await merchant.http.post(
        f"/payment/request/{created['id']}/cancel", headers=await merchant.headers()
    )
    error = error_of(answer, 409, "invalid_state")
    assert error["message"]
    with pytest.raises(Conflict):
        await settle(services, merchant, created["id"], Status.PAID)
    assert (await get_payment(merchant, created["id"])).json()["status"] == "paid"
