"""``POST /payment/request``: the 400 / 422 / 413 split of SPEC §4 and the input rules
of §1-§2 (amount, currency, redirect_url, reference_id, metadata), with the
black-box cases T21-T24 of research/security.md.

400: the body is not JSON, not an object, or a required field is missing.
422: a field is present but breaks a rule. 413: the body is over 64 KiB.
Nothing a client sends may produce a 500.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import Merchant

VALID: dict[str, Any] = {"amount": "1000", "currency": "USD", "redirect_url": "https://m.example/return"}


async def post_raw(merchant: Merchant, content: bytes) -> httpx.Response:
    headers = {**await merchant.headers(), "Content-Type": "application/json"}
    return await merchant.http.post("/payment/request", content=content, headers=headers)


async def post_json(merchant: Merchant, body: object) -> httpx.Response:
    return await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())


async def create(merchant: Merchant, **fields: Any) -> httpx.Response:
    return await post_json(merchant, {**VALID, **fields})


def assert_envelope(
    answer: httpx.Response, status: int, type_: str, param: str | None = None
) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == type_
    assert error["code"]
    assert error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    if param is not None:
        assert error["param"] == param
    return error


def assert_created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "pending"
    uuid.UUID(body["id"])
    return body


# -- 400: not JSON, not an object -------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"amount=1000&currency=USD", id="form-encoded"),
        pytest.param(b"{not json", id="broken-json"),
        pytest.param(b'{"amount": "1000",', id="truncated-json"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"[]", id="json-array"),
        pytest.param(b'[{"amount": "1000", "currency": "USD"}]', id="array-of-objects"),
        pytest.param(b'"a string"', id="json-string"),
        pytest.param(b"42", id="json-number"),
        pytest.param(b"null", id="json-null"),
    ],
)
async def test_body_that_is_not_a_json_object_returns_400(merchant: Merchant, content: bytes) -> None:
    answer = await post_raw(merchant, content)
    assert_envelope(answer, 400, "invalid_request")


@pytest.mark.parametrize("field", ["amount", "currency", "redirect_url"])
async def test_each_missing_required_field_returns_400_naming_it(merchant: Merchant, field: str) -> None:
    body = {k: v for k, v in VALID.items() if k != field}
    error = assert_envelope(await post_json(merchant, body), 400, "invalid_request", param=field)
    assert field in error["message"]


async def test_empty_object_returns_400_naming_a_required_field(merchant: Merchant) -> None:
    error = assert_envelope(await post_json(merchant, {}), 400, "invalid_request")
    assert error["param"] in ("amount", "currency", "redirect_url")


# -- amount ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1000, "1000"], ids=["int", "digit-string"])
async def test_amount_as_integer_or_digit_string_is_accepted(merchant: Merchant, amount: object) -> None:
    body = assert_created(await create(merchant, amount=amount))
    assert body["amount"] == "1000"


@pytest.mark.parametrize("amount", [10**12, str(10**12)], ids=["int", "string"])
async def test_amount_at_the_maximum_is_accepted(merchant: Merchant, amount: object) -> None:
    assert assert_created(await create(merchant, amount=amount))["amount"] == str(10**12)


async def test_amount_of_one_minor_unit_is_accepted(merchant: Merchant) -> None:
    assert assert_created(await create(merchant, amount=1))["amount"] == "1"


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(10.5, id="float"),
        pytest.param("10.5", id="decimal-string"),
        pytest.param(1e3, id="float-1e3"),
        pytest.param(1000.0, id="float-1000.0"),
        pytest.param(-1, id="negative"),
        pytest.param("-1", id="negative-string"),
        pytest.param(0, id="zero"),
        pytest.param("0", id="zero-string"),
        pytest.param(None, id="null"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("", id="empty-string"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("1 ", id="trailing-space"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("1e3", id="exponent-string"),
        pytest.param("0x10", id="hex-string"),
        pytest.param("١٢٣", id="arabic-indic-digits"),
        pytest.param(2**63, id="2**63"),
        pytest.param(2**64, id="2**64"),
        pytest.param(10**30, id="10**30"),
        pytest.param(10**12 + 1, id="max-plus-one"),
        pytest.param(str(10**12 + 1), id="max-plus-one-string"),
        pytest.param("1" * 40, id="40-digit-string"),
        pytest.param([1000], id="list"),
        pytest.param({"value": 1000}, id="object"),
    ],
)
async def test_amount_that_is_not_a_positive_integer_in_range_returns_422(
    merchant: Merchant, amount: object
) -> None:
    assert_envelope(await create(merchant, amount=amount), 422, "validation_error", param="amount")


# -- currency --------------------------------------------------------------------


async def test_lower_case_currency_is_accepted_and_upper_cased(merchant: Merchant) -> None:
    body = assert_created(await create(merchant, currency="usd"))
    assert body["currency"] == "USD"
    answer = await merchant.http.get(f"/payment/request/{body['id']}", headers=await merchant.headers())
    assert answer.json()["currency"] == "USD"


@pytest.mark.parametrize("currency", ["JPY", "KWD", "EUR", "BHD"])
async def test_active_iso_4217_currencies_are_accepted(merchant: Merchant, currency: str) -> None:
    assert assert_created(await create(merchant, currency=currency, amount="500"))["currency"] == currency


@pytest.mark.parametrize(
    "currency",
    [
        pytest.param("ZZZ", id="unknown"),
        pytest.param("US", id="two-letters"),
        pytest.param("USDD", id="four-letters"),
        pytest.param("", id="empty"),
        pytest.param("XAU", id="gold-not-legal-tender"),
        pytest.param("XXX", id="no-currency-code"),
        pytest.param("DEM", id="withdrawn"),
        pytest.param("U\x00SD", id="nul"),
        pytest.param(840, id="numeric-code-as-int"),
        pytest.param(None, id="null"),
    ],
)
async def test_unsupported_currency_returns_422(merchant: Merchant, currency: object) -> None:
    assert_envelope(await create(merchant, currency=currency), 422, "validation_error", param="currency")


# -- redirect_url (security.md T24) ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://m.example", id="plain-http"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("data:text/html,x", id="data"),
        pytest.param("//evil.example", id="scheme-relative"),
        pytest.param("https:evil.example", id="https-without-slashes"),
        pytest.param("https:/evil.example", id="https-one-slash"),
        pytest.param("https://m.example@evil.example", id="userinfo"),
        pytest.param("https://m.example\\@evil", id="backslash-userinfo"),
        pytest.param("https://m.example\r\nLocation: https://evil.example", id="crlf"),
        pytest.param("https://m.example/\nx", id="lf"),
        pytest.param("https://m.example/ x", id="space"),
        pytest.param("https://m.example/" + "a" * 2048, id="over-2048-chars"),
        pytest.param("ftp://x", id="ftp"),
        pytest.param("https://", id="no-host"),
        pytest.param("/relative/path", id="relative"),
        pytest.param("", id="empty"),
        pytest.param(42, id="number"),
    ],
)
async def test_unsafe_redirect_url_returns_422(merchant: Merchant, url: object) -> None:
    assert_envelope(await create(merchant, redirect_url=url), 422, "validation_error", param="redirect_url")


async def test_https_redirect_url_is_accepted_unchanged(merchant: Merchant) -> None:
    url = "https://m.example/return?order=123&x=%20y#frag"
    assert assert_created(await create(merchant, redirect_url=url))["redirect_url"] == url


async def test_redirect_url_of_exactly_2048_chars_is_accepted(merchant: Merchant) -> None:
    url = "https://m.example/" + "a" * (2048 - len("https://m.example/"))
    assert len(url) == 2048
    assert assert_created(await create(merchant, redirect_url=url))["redirect_url"] == url


@pytest.mark.parametrize("url", ["http://localhost:3000/x", "http://127.0.0.1/x"])
async def test_local_http_redirect_url_is_accepted_in_sandbox(merchant: Merchant, url: str) -> None:
    assert assert_created(await create(merchant, redirect_url=url))["redirect_url"] == url


@pytest.mark.parametrize("url", ["http://localhost:3000/x", "http://127.0.0.1/x"])
async def test_local_http_redirect_url_returns_422_in_production(make_merchant: Any, url: str) -> None:
    production: Merchant = await make_merchant("production")
    assert_envelope(await create(production, redirect_url=url), 422, "validation_error", param="redirect_url")


async def test_https_redirect_url_is_accepted_in_production(make_merchant: Any) -> None:
    production: Merchant = await make_merchant("production")
    body = assert_created(await create(production))
    assert body["environment"] == "production"


# -- reference_id, metadata, text ---------------------------------------------------


async def test_reference_id_of_255_chars_is_accepted(merchant: Merchant) -> None:
    reference = "r" * 255
    assert assert_created(await create(merchant, reference_id=reference))["reference_id"] == reference


async def test_reference_id_of_256_chars_returns_422(merchant: Merchant) -> None:
    answer = await create(merchant, reference_id="r" * 256)
    assert_envelope(answer, 422, "validation_error", param="reference_id")


async def test_reference_id_of_255_non_ascii_chars_is_accepted(merchant: Merchant) -> None:
    reference = "ü" * 254 + "😀"
    assert assert_created(await create(merchant, reference_id=reference))["reference_id"] == reference


async def test_reference_id_that_is_not_a_string_returns_422(merchant: Merchant) -> None:
    assert_envelope(await create(merchant, reference_id=123), 422, "validation_error", param="reference_id")


async def test_reference_id_with_nul_byte_returns_422(merchant: Merchant) -> None:
    answer = await create(merchant, reference_id="ORDER\u0000-1")
    assert_envelope(answer, 422, "validation_error", param="reference_id")


async def test_reference_id_with_lone_surrogate_is_refused_without_500(merchant: Merchant) -> None:
    raw = b'{"amount":"1","currency":"USD","redirect_url":"https://a.example","reference_id":"\\ud800"}'
    answer = await post_raw(merchant, raw)
    # an escape that names no Unicode character: the body is not (UTF-8) JSON, SPEC's 400
    assert assert_envelope(answer, 400, "invalid_request")["code"] == "invalid_json"


async def test_metadata_with_20_keys_is_accepted(merchant: Merchant) -> None:
    metadata = {f"key{i}": f"value {i}" for i in range(20)}
    assert assert_created(await create(merchant, metadata=metadata))["metadata"] == metadata


async def test_metadata_is_returned_as_sent_an_empty_object_included(merchant: Merchant) -> None:
    empty = assert_created(await create(merchant, metadata={}))
    absent = assert_created(await create(merchant))
    assert (empty["metadata"], absent["metadata"]) == ({}, None)
    read = await merchant.http.get(f"/payment/request/{empty['id']}", headers=await merchant.headers())
    assert read.json()["metadata"] == {}


async def test_metadata_with_21_keys_returns_422(merchant: Merchant) -> None:
    metadata = {f"key{i}": "v" for i in range(21)}
    assert_envelope(await create(merchant, metadata=metadata), 422, "validation_error", param="metadata")


@pytest.mark.parametrize(
    "value",
    [1, 1.5, True, None, ["a"], {"nested": "x"}],
    ids=["int", "float", "bool", "null", "list", "dict"],
)
async def test_metadata_with_non_string_value_returns_422(merchant: Merchant, value: object) -> None:
    error = assert_envelope(await create(merchant, metadata={"order": value}), 422, "validation_error")
    assert error["param"].startswith("metadata")


@pytest.mark.parametrize("metadata", [["a"], "a=b", 5], ids=["list", "string", "number"])
async def test_metadata_that_is_not_an_object_returns_422(merchant: Merchant, metadata: object) -> None:
    assert_envelope(await create(merchant, metadata=metadata), 422, "validation_error", param="metadata")


async def test_metadata_value_with_nul_byte_returns_422(merchant: Merchant) -> None:
    error = assert_envelope(await create(merchant, metadata={"k": "a\u0000b"}), 422, "validation_error")
    assert error["param"].startswith("metadata")


# -- mass assignment ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "paid"),
        ("id", "f0e1d2c3-0000-4000-8000-000000000000"),
        ("account_id", "f0e1d2c3-0000-4000-8000-000000000001"),
        ("environment", "production"),
        ("paid_at", "2020-01-01T00:00:00Z"),
        ("checkout_url", "https://evil.example/checkout"),
    ],
)
async def test_server_owned_fields_in_the_body_are_refused_and_nothing_is_created(
    merchant: Merchant, field: str, value: str
) -> None:
    reference = f"forged-{uuid.uuid4().hex[:8]}"
    answer = await create(merchant, reference_id=reference, **{field: value})
    assert_envelope(answer, 400, "invalid_request", param=field)
    assert answer.json()["error"]["code"] == "unknown_field"
    listed = await merchant.http.get(
        "/payment/request", params={"reference_id": reference}, headers=await merchant.headers()
    )
    assert listed.json()["data"] == []


# -- size and shape limits (security.md T23) -----------------------------------------


async def test_body_over_64_kib_returns_413_envelope(merchant: Merchant) -> None:
    body = {**VALID, "reference_id": "x" * (64 * 1024)}
    answer = await post_json(merchant, body)
    assert_envelope(answer, 413, "payload_too_large")
    assert answer.headers["cache-control"] == "no-store"


async def test_body_over_64_kib_without_content_length_returns_413(merchant: Merchant) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(80):
            yield b" " * 1024
        yield b"{}"

    headers = {**await merchant.headers(), "Content-Type": "application/json"}
    answer = await merchant.http.post("/payment/request", content=chunks(), headers=headers)
    assert_envelope(answer, 413, "payload_too_large")


@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
async def test_deeply_nested_json_returns_400(merchant: Merchant, opener: bytes) -> None:
    answer = await post_raw(merchant, opener * 10_000)
    assert_envelope(answer, 400, "invalid_request")


async def test_deeply_nested_but_complete_json_returns_400(merchant: Merchant) -> None:
    answer = await post_raw(merchant, b"[" * 5_000 + b"]" * 5_000)
    assert_envelope(answer, 400, "invalid_request")


# -- bugs found (src/ unchanged; see the report) --------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b'{"amount":"1","currency":"USD","redirect_url":"https://a.example","reference_id":"\xff"}',
            id="0xff-in-string",
        ),
        pytest.param(
            b'{"amount":"1\xc3","currency":"USD","redirect_url":"https://a.example"}', id="truncated-utf8"
        ),
        pytest.param(
            b'{"amount":"1","currency":"USD","redirect_url":"https://a.example","reference_id":"\xed\xa0\x80"}',
            id="utf8-encoded-surrogate",
        ),
        pytest.param(
            b'{"amount":"1","currency":"USD","redirect_url":"https://a.example","metadata":{"k\xfe":"v"}}',
            id="invalid-utf8-in-key",
        ),
    ],
)
async def test_invalid_utf8_body_returns_400(merchant: Merchant, content: bytes) -> None:
    assert_envelope(await post_raw(merchant, content), 400, "invalid_request")


@pytest.mark.parametrize("key", ["", "k" * 41], ids=["empty-key", "41-char-key"])
async def test_metadata_key_breaking_a_rule_returns_422(merchant: Merchant, key: str) -> None:
    assert_envelope(await create(merchant, metadata={key: "v"}), 422, "validation_error", param="metadata")


async def test_metadata_value_over_500_chars_returns_422(merchant: Merchant) -> None:
    error = assert_envelope(await create(merchant, metadata={"k": "v" * 501}), 422, "validation_error")
    assert error["param"].startswith("metadata")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://m.example/\u0085x", id="c1-next-line"),
        pytest.param("https://m.example/\u2028x", id="line-separator"),
        pytest.param("https://m.example/\u00a0x", id="no-break-space"),
        pytest.param("https://m.example\u3000/x", id="ideographic-space-in-host"),
        pytest.param("https://m.example/\u200bx", id="zero-width-space"),
        pytest.param("https://m.example/\u202ex", id="right-to-left-override"),
        pytest.param("https://m.example/\ufeffx", id="byte-order-mark"),
    ],
)
async def test_redirect_url_with_invisible_or_control_characters_returns_422(
    merchant: Merchant, url: str
) -> None:
    assert_envelope(await create(merchant, redirect_url=url), 422, "validation_error", param="redirect_url")


async def _listed(merchant: Merchant) -> list[Any]:
    answer = await merchant.http.get(
        "/payment/request", params={"limit": 100}, headers=await merchant.headers()
    )
    data: list[Any] = answer.json()["data"]
    return data


@pytest.mark.parametrize(
    ("path", "raw", "param"),
    [
        (
            "/payment/request",
            b'{"amount":"100","currency":"USD","redirect_url":"https://m.example/r","amount":"1000000"}',
            "amount",
        ),
        (
            "/payment/request",
            b'{"amount":"100","currency":"USD","redirect_url":"https://m.example/r","metadata":{"a":"1","a":"2"}}',
            "metadata.a",
        ),
        (
            "/api/payment/checkout",
            b'{"amount":100,"currencyCode":"USD","reference":"R-1","referenceLabel":"R 1",'
            b'"clientId":"%s","amount":99999}',
            "amount",
        ),
    ],
    ids=["contract-a", "metadata", "contract-b"],
)
async def test_a_field_given_twice_is_refused_and_nothing_is_created(
    merchant: Merchant, path: str, raw: bytes, param: str
) -> None:
    if b"%s" in raw:
        raw = raw.replace(b"%s", merchant.credentials.application_client_id.encode())
    before = await _listed(merchant)
    headers = {**await merchant.headers(), "Content-Type": "application/json"}

    answer = await merchant.http.post(path, content=raw, headers=headers)

    error = assert_envelope(answer, 400, "invalid_request", param=param)
    assert error["code"] == "duplicate_field"
    assert await _listed(merchant) == before


async def test_an_outcome_given_twice_changes_nothing(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    headers = {**await merchant.headers(), "Content-Type": "application/json"}
    answer = await merchant.http.post(
        f"/api/sandbox/payment/{payment['id']}/simulate",
        content=b'{"outcome":"paid","outcome":"cancelled"}',
        headers=headers,
    )
    assert assert_envelope(answer, 400, "invalid_request", param="outcome")["code"] == "duplicate_field"
    read = await merchant.http.get(f"/payment/request/{payment['id']}", headers=await merchant.headers())
    assert read.json()["status"] == "pending"


@pytest.mark.parametrize("url", ["https://a..b/return", "https://ex%00ample.com/", "https://m.example:0/"])
async def test_a_redirect_url_no_browser_can_follow_returns_422(merchant: Merchant, url: str) -> None:
    assert_envelope(await create(merchant, redirect_url=url), 422, "validation_error", param="redirect_url")


@pytest.mark.parametrize("currency", ["u\u017fd", " USD ", "\u00a0USD"])
async def test_a_currency_that_is_not_three_ascii_letters_returns_422(
    merchant: Merchant, currency: str
) -> None:
    error = assert_envelope(
        await create(merchant, currency=currency), 422, "validation_error", param="currency"
    )
    assert error["code"] == "unsupported_currency"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/payment/request", "recurring=true"),
        ("/payment/request", "amount=5"),
        ("/api/payment/checkout", "recurring=1"),
    ],
)
async def test_a_query_parameter_a_write_does_not_take_is_refused_and_nothing_is_created(
    merchant: Merchant, path: str, query: str
) -> None:
    body: dict[str, Any] = VALID
    if path.startswith("/api/"):
        body = {
            "amount": 1000,
            "currencyCode": "USD",
            "reference": "R-1",
            "referenceLabel": "R 1",
            "clientId": merchant.credentials.application_client_id,
        }
    before = await _listed(merchant)
    answer = await merchant.http.post(f"{path}?{query}", json=body, headers=await merchant.headers())
    error = assert_envelope(answer, 400, "invalid_request", param=query.split("=")[0])
    assert error["code"] == "unknown_parameter"
    assert await _listed(merchant) == before


async def test_a_write_keeps_the_query_parameters_it_declares(merchant: Merchant) -> None:
    csv = b"id,amount,currency,reference\nQ-1,1.00,EUR,nothing\n"
    headers = {**await merchant.headers(), "Content-Type": "text/csv"}
    kept = await merchant.http.post("/api/statements?filename=q.csv", content=csv, headers=headers)
    assert kept.status_code == 201, kept.text
    refused = await merchant.http.post(
        "/api/statements?filename=q.csv&dryRun=1", content=csv, headers=headers
    )
    assert assert_envelope(refused, 400, "invalid_request", param="dryRun")["code"] == "unknown_parameter"
