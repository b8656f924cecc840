"""``POST /oauth/token``: the client_credentials grant (SPEC §2, RFC 6749 §4.4, seeds'
troubleshooting table; security.md T1-T8)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from payreq.account import repository as accounts
from payreq.kit.crypto import digest
from payreq.services import Services
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.oauth.support import GRANT, assert_envelope, assert_oauth_error, basic

PAYMENT = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}

MakeMerchant = Callable[..., Awaitable[Merchant]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_token_response(answer: httpx.Response, *, prefix: str = "prq_at_sbx_", scope: str = "*") -> str:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body: dict[str, Any] = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}, body
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == scope
    token: str = body["access_token"]
    assert token.startswith(prefix)
    assert token[len(prefix) :].isalnum()
    return token


# -- happy paths -------------------------------------------------------------------------------


async def test_token_with_http_basic_returns_bearer_token_that_lists_payments(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    creds = merchant.credentials
    answer = await http.post("/oauth/token", data=GRANT, headers=basic(creds.client_id, creds.client_secret))
    token = assert_token_response(answer)

    listed = await http.get("/payment/request", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []


async def test_token_with_form_credentials_returns_bearer_token_that_works(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    creds = merchant.credentials
    form = {**GRANT, "client_id": creds.client_id, "client_secret": creds.client_secret}
    token = assert_token_response(await http.post("/oauth/token", data=form))

    created = await http.post("/payment/request", json=PAYMENT, headers=bearer(token))
    assert created.status_code == 201, created.text
    fetched = await http.get(f"/payment/request/{created.json()['id']}", headers=bearer(token))
    assert fetched.status_code == 200
    assert fetched.json()["id"] == created.json()["id"]


async def test_each_token_call_issues_a_new_token(http: httpx.AsyncClient, merchant: Merchant) -> None:
    first = assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    second = assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    assert first != second
    for token in (first, second):
        assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200


async def test_form_body_with_charset_parameter_is_accepted(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
            **basic(*merchant.basic),
        },
    )
    assert_token_response(answer)


async def test_production_key_gets_live_token_that_sees_production_payments(
    http: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant(environment="production")
    assert live.credentials.client_id.startswith("prq_id_live_")
    token = assert_token_response(
        await http.post("/oauth/token", data=GRANT, auth=live.basic), prefix="prq_at_live_"
    )
    created = await http.post("/payment/request", json=PAYMENT, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["environment"] == "production"


# -- Basic credentials are form-urlencoded first (RFC 6749 §2.3.1) -----------------------------


async def test_basic_header_built_with_quote_plus_is_accepted(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    creds = merchant.credentials
    answer = await http.post("/oauth/token", data=GRANT, headers=basic(creds.client_id, creds.client_secret))
    assert_token_response(answer)


async def test_basic_header_halves_are_percent_decoded(http: httpx.AsyncClient, merchant: Merchant) -> None:
    """Every character percent-encoded is still a valid form encoding of the same id and secret."""
    creds = merchant.credentials

    def escape_all(text: str) -> str:
        return "".join(f"%{b:02X}" for b in text.encode())

    headers = basic(escape_all(creds.client_id), escape_all(creds.client_secret), encode=False)
    assert_token_response(await http.post("/oauth/token", data=GRANT, headers=headers))


async def test_secret_with_reserved_and_non_ascii_characters_works_in_basic_and_form(
    http: httpx.AsyncClient, services: Services, merchant: Merchant
) -> None:
    """A client whose id and secret contain ``:``, ``%``, ``+``, space and non-ASCII (T2)."""
    client_id = f"odd:id+{uuid.uuid4().hex[:8]} é"
    secret = "s3cr:et%25+plus/and space=é€"
    async with services.db.transaction() as conn:
        await accounts.insert_api_key(
            conn,
            id=uuid.uuid4(),
            account_id=uuid.UUID(merchant.credentials.account_id),
            environment="sandbox",
            label="odd key",
            client_id=client_id,
            secret_digest=digest(secret),
            created_at=services.clock(),
        )
    via_basic = await http.post("/oauth/token", data=GRANT, headers=basic(client_id, secret))
    token = assert_token_response(via_basic)
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200

    form = {**GRANT, "client_id": client_id, "client_secret": secret}
    assert_token_response(await http.post("/oauth/token", data=form))

    # the same secret sent without form-encoding means something else ("+" is a space)
    raw = basic(client_id.replace("+", "%2B"), secret, encode=False)
    assert_oauth_error(await http.post("/oauth/token", data=GRANT, headers=raw), 403, "invalid_client")


# -- scope (RFC 6749 §3.3) ---------------------------------------------------------------------


async def test_narrow_scope_is_granted_and_enforced(http: httpx.AsyncClient, merchant: Merchant) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, "scope": "payments.get"}, auth=merchant.basic)
    token = assert_token_response(answer, scope="payments.get")

    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200
    existing = await merchant.create_payment()
    fetched = await http.get(f"/payment/request/{existing['id']}", headers=bearer(token))
    assert fetched.status_code == 200

    refused = await http.post("/payment/request", json=PAYMENT, headers=bearer(token))
    error = assert_envelope(refused, 403, "Insufficient permissions")
    assert error["type"] == "permission_error"
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge

    cancel = await http.post(f"/payment/request/{existing['id']}/cancel", headers=bearer(token))
    assert_envelope(cancel, 403, "Insufficient permissions")
    after = await http.get(f"/payment/request/{existing['id']}", headers=bearer(token))
    assert after.json()["status"] == "pending"


async def test_create_only_scope_cannot_read(http: httpx.AsyncClient, merchant: Merchant) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, "scope": "payments.create"}, auth=merchant.basic)
    token = assert_token_response(answer, scope="payments.create")
    created = await http.post("/payment/request", json=PAYMENT, headers=bearer(token))
    assert created.status_code == 201, created.text
    refused = await http.get(f"/payment/request/{created.json()['id']}", headers=bearer(token))
    assert_envelope(refused, 403, "Insufficient permissions")
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


async def test_several_space_separated_scopes_are_all_granted(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    form = {**GRANT, "scope": "payments.create payments.get"}
    token = assert_token_response(
        await http.post("/oauth/token", data=form, auth=merchant.basic), scope="payments.create payments.get"
    )
    created = await http.post("/payment/request", json=PAYMENT, headers=bearer(token))
    assert created.status_code == 201, created.text
    fetched = await http.get(f"/payment/request/{created.json()['id']}", headers=bearer(token))
    assert fetched.status_code == 200


async def test_repeated_scope_is_granted_once(http: httpx.AsyncClient, merchant: Merchant) -> None:
    form = {**GRANT, "scope": "payments.get  payments.get"}
    answer = await http.post("/oauth/token", data=form, auth=merchant.basic)
    assert_token_response(answer, scope="payments.get")


async def test_empty_scope_counts_as_omitted_and_grants_everything(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, "scope": ""}, auth=merchant.basic)
    token = assert_token_response(answer, scope="*")
    assert (await http.post("/payment/request", json=PAYMENT, headers=bearer(token))).status_code == 201


@pytest.mark.parametrize("scope", ["payments.refund", "payments.get admin", "PAYMENTS.GET"])
async def test_unknown_scope_returns_400_invalid_scope(
    http: httpx.AsyncClient, merchant: Merchant, scope: str
) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, "scope": scope}, auth=merchant.basic)
    assert_oauth_error(answer, 400, "invalid_scope")


# -- request errors (400) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="missing"),
        pytest.param(b"scope=payments.get", id="missing-with-other-fields"),
        pytest.param(b"grant_type=", id="empty"),
        pytest.param(b"grant_type", id="no-equals-sign"),
        pytest.param(b"grant_type=client_credentials&grant_type=client_credentials", id="repeated"),
    ],
)
async def test_bad_grant_type_parameter_returns_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant, body: bytes
) -> None:
    answer = await http.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic(*merchant.basic)},
    )
    assert_oauth_error(answer, 400, "invalid_request")


async def test_repeated_scope_parameter_returns_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=payments.get&scope=payments.create",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic(*merchant.basic)},
    )
    assert_oauth_error(answer, 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "implicit"])
async def test_other_grant_types_return_400_unsupported_grant_type(
    http: httpx.AsyncClient, merchant: Merchant, grant_type: str
) -> None:
    form = {
        "grant_type": grant_type,
        "username": "someone",
        "password": "x",
        "code": "c",
        "refresh_token": "r",
    }
    answer = await http.post("/oauth/token", data=form, auth=merchant.basic)
    body = assert_oauth_error(answer, 400, "unsupported_grant_type")
    assert "access_token" not in body


async def test_json_body_returns_400_invalid_request(http: httpx.AsyncClient, merchant: Merchant) -> None:
    creds = merchant.credentials
    answer = await http.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": "x"},
        auth=merchant.basic,
    )
    assert_oauth_error(answer, 400, "invalid_request")


async def test_body_that_is_not_utf8_returns_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic(*merchant.basic)},
    )
    assert_oauth_error(answer, 400, "invalid_request")


async def test_basic_header_and_form_secret_together_return_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    creds = merchant.credentials
    form = {**GRANT, "client_id": creds.client_id, "client_secret": creds.client_secret}
    answer = await http.post("/oauth/token", data=form, auth=merchant.basic)
    assert_oauth_error(answer, 400, "invalid_request")


async def test_empty_client_secret_field_next_to_basic_counts_as_omitted(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, "client_secret": ""}, auth=merchant.basic)
    assert_token_response(answer)


async def test_form_client_id_that_contradicts_basic_is_refused(
    http: httpx.AsyncClient, merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    form = {**GRANT, "client_id": other.credentials.client_id}
    answer = await http.post("/oauth/token", data=form, auth=merchant.basic)
    # the request contradicts itself (README, OAuth): 400 invalid_request, not a
    # credential failure: the Basic credentials themselves are valid
    assert_oauth_error(answer, 400, "invalid_request")


async def test_form_client_id_that_matches_basic_is_accepted(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    form = {**GRANT, "client_id": merchant.credentials.client_id}
    assert_token_response(await http.post("/oauth/token", data=form, auth=merchant.basic))


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_another_method_returns_405_with_allow_post_in_the_oauth_shape(
    http: httpx.AsyncClient, method: str
) -> None:
    answer = await http.request(method, "/oauth/token", params=GRANT)
    assert_oauth_error(answer, 405, "invalid_request")  # an OAuth2 library reads "error" as a string
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert "POST" in allowed
    assert "GET" not in allowed


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_a_body_over_64_kib_returns_413_in_the_oauth_shape(
    http: httpx.AsyncClient, merchant: Merchant, path: str
) -> None:
    form = {**GRANT, "token": "x", "padding": "a" * (64 * 1024)}
    answer = await http.post(path, data=form, auth=merchant.basic)
    body = assert_oauth_error(answer, 413, "invalid_request")
    assert body["error_description"] == "The request body is larger than 64 KiB."


# -- client authentication errors (403 invalid_client, seeds) ---------------------------------


async def test_wrong_secret_returns_403_invalid_client_without_echoing_it(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    wrong = "prq_cs_sbx_" + "A" * 32
    answer = await http.post("/oauth/token", data=GRANT, headers=basic(merchant.credentials.client_id, wrong))
    body = assert_oauth_error(answer, 403, "invalid_client")
    assert wrong not in answer.text
    assert "access_token" not in body


async def test_wrong_secret_in_form_returns_403_invalid_client(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    form = {**GRANT, "client_id": merchant.credentials.client_id, "client_secret": "nope"}
    assert_oauth_error(await http.post("/oauth/token", data=form), 403, "invalid_client")


async def test_wrong_secret_and_unknown_client_answer_identically(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    """No client enumeration: same status, headers and body bytes (T3)."""
    wrong_secret = await http.post(
        "/oauth/token", data=GRANT, headers=basic(merchant.credentials.client_id, "prq_cs_sbx_wrong")
    )
    unknown_client = await http.post(
        "/oauth/token", data=GRANT, headers=basic("prq_id_sbx_doesnotexist00000000", "prq_cs_sbx_wrong")
    )
    assert_oauth_error(wrong_secret, 403, "invalid_client")
    assert_oauth_error(unknown_client, 403, "invalid_client")
    assert wrong_secret.content == unknown_client.content

    def visible(answer: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in answer.headers.items() if k not in ("date", "x-request-id")}

    assert visible(wrong_secret) == visible(unknown_client)


async def test_unknown_client_in_form_returns_403_invalid_client(http: httpx.AsyncClient) -> None:
    form = {**GRANT, "client_id": "prq_id_sbx_nobody", "client_secret": "prq_cs_sbx_nothing"}
    assert_oauth_error(await http.post("/oauth/token", data=form), 403, "invalid_client")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic !!!not-base64!!!", id="bad-base64"),
        pytest.param("Basic " + base64.b64encode(b"no-colon-here").decode(), id="no-colon"),
        pytest.param("Basic", id="empty"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), id="not-utf8"),
        pytest.param("Bearer prq_at_sbx_" + "x" * 32, id="bearer-scheme"),
        pytest.param("Digest username=someone", id="digest-scheme"),
    ],
)
async def test_malformed_authorization_header_returns_403_invalid_client(
    http: httpx.AsyncClient, authorization: str
) -> None:
    answer = await http.post("/oauth/token", data=GRANT, headers={"Authorization": authorization})
    assert_oauth_error(answer, 403, "invalid_client")


async def test_basic_scheme_name_is_case_insensitive(http: httpx.AsyncClient, merchant: Merchant) -> None:
    header = basic(*merchant.basic)["Authorization"].replace("Basic ", "basic ", 1)
    answer = await http.post("/oauth/token", data=GRANT, headers={"Authorization": header})
    assert_token_response(answer)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"client_id": "prq_id_sbx_someone"}, id="client-id-only"),
        pytest.param({"client_secret": "prq_cs_sbx_something"}, id="secret-only"),
    ],
)
async def test_missing_client_credentials_return_403_invalid_client(
    http: httpx.AsyncClient, extra: dict[str, str]
) -> None:
    answer = await http.post("/oauth/token", data={**GRANT, **extra})
    assert_oauth_error(answer, 403, "invalid_client")


async def test_revoked_api_key_gets_403_invalid_client_and_its_tokens_stop_working(
    http: httpx.AsyncClient, services: Services, merchant: Merchant, clock: MovableClock
) -> None:
    """The key is revoked by an operator (another process), so the key and its tokens
    stop working once this process's credential cache has aged out
    (PAYREQ_AUTH_CACHE_SECONDS): the key authenticated for the token just before."""
    issued = await merchant.token()
    assert (await http.get("/payment/request", headers=bearer(issued))).status_code == 200

    async with services.db.transaction() as conn:
        assert await accounts.revoke_api_key(conn, merchant.credentials.client_id, services.clock())

    clock.advance(services.settings.auth_cache_seconds)
    answer = await http.post("/oauth/token", data=GRANT, auth=merchant.basic)
    assert_oauth_error(answer, 403, "invalid_client")
    form = {
        **GRANT,
        "client_id": merchant.credentials.client_id,
        "client_secret": merchant.credentials.client_secret,
    }
    assert_oauth_error(await http.post("/oauth/token", data=form), 403, "invalid_client")
    refused = await http.get("/payment/request", headers=bearer(issued))
    assert_envelope(refused, 401, "Unauthenticated")
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_one_merchants_token_does_not_see_anothers_payments(
    http: httpx.AsyncClient, merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    theirs = await other.create_payment()
    token = assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    answer = await http.get(f"/payment/request/{theirs['id']}", headers=bearer(token))
    assert_envelope(answer, 404)
    listed = await http.get("/payment/request", headers=bearer(token))
    assert listed.status_code == 200
    assert theirs["id"] not in listed.text


async def test_a_token_records_when_its_key_was_last_used_at_most_once_a_minute(
    http: httpx.AsyncClient,
    services: Services,
    merchant: Merchant,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``last_used_at`` is written by the first token and then at most once a minute; a
    token within the minute runs no UPDATE at all (the key as read for the grant says
    so, or, for a key row kept from before the write, the process's note of it)."""
    touches: list[object] = []
    touch = accounts.touch_api_key

    async def counted(*args: Any, **kwargs: Any) -> None:
        touches.append(kwargs["at"])
        await touch(*args, **kwargs)

    monkeypatch.setattr(accounts, "touch_api_key", counted)

    async def last_used() -> object:
        async with services.db.read() as conn:
            row = await conn.fetch_one(
                "SELECT last_used_at FROM api_keys WHERE client_id = :c",
                {"c": merchant.credentials.client_id},
            )
        assert row is not None
        return row["last_used_at"]

    assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    first = await last_used()
    assert first is not None and touches == [first]
    # at once: the key row the credential cache kept was read before that write
    assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    assert len(touches) == 1
    clock.advance(30)
    assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    assert await last_used() == first
    assert len(touches) == 1
    clock.advance(31)
    assert_token_response(await http.post("/oauth/token", data=GRANT, auth=merchant.basic))
    later = await last_used()
    assert len(touches) == 2 and later == touches[1]
    assert isinstance(later, type(first)) and later > first  # type: ignore[operator]


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_a_client_id_with_a_nul_is_an_unknown_client_on_both_engines(
    http: httpx.AsyncClient, merchant: Merchant, path: str
) -> None:
    form = (
        f"grant_type=client_credentials&token=x&client_id={merchant.credentials.client_id}%00&client_secret=x"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    in_form = await http.post(path, content=form, headers=headers)
    assert_oauth_error(in_form, 403, "invalid_client")
    nul_id = f"{merchant.credentials.client_id}\x00"
    in_basic = await http.post(path, data={**GRANT, "token": "x"}, headers=basic(nul_id, "x"))
    assert_oauth_error(in_basic, 403, "invalid_client")
