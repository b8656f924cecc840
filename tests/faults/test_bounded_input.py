"""Bounded input (the security research's T23): oversized bodies answer 413; deeply
nested or huge JSON, NUL bytes, lone surrogates and invalid UTF-8 get the one answer
the README's "Bounded input" table promises for each case; list limits are clamped;
never a 5xx, and every answer comes quickly."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of

FAST = 1.0  # seconds: no input may make an answer slow


async def timed(call: Any) -> httpx.Response:
    started = time.monotonic()
    answer: httpx.Response = await call
    assert time.monotonic() - started < FAST, "the answer took too long"
    assert answer.status_code < 500, answer.text
    return answer


def a_body(**fields: Any) -> dict[str, Any]:
    return {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks", **fields}


def b_body(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    return {
        "amount": 1000,
        "currencyCode": "EUR",
        "reference": "order-1",
        "referenceLabel": "Order 1",
        "clientId": merchant.credentials.application_client_id,
        "redirectUrl": "https://shop.example/thanks",
        **fields,
    }


CREATE_PATHS = ["/payment/request", "/api/payment/checkout"]


@pytest.mark.parametrize("path", CREATE_PATHS)
@pytest.mark.parametrize("size", [64 * 1024 + 1, 5 * 1024 * 1024])
async def test_a_body_over_64_kib_answers_413(merchant: Merchant, path: str, size: int) -> None:
    content = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    answer = await timed(
        merchant.http.post(
            path, content=content, headers={**(await merchant.headers()), "Content-Type": "application/json"}
        )
    )
    assert error_of(answer, 413, "payload_too_large")["code"] == "payload_too_large"


async def test_a_chunked_body_over_64_kib_answers_413(merchant: Merchant) -> None:
    async def chunks() -> Any:
        for _ in range(80):
            yield b"x" * 1024

    answer = await timed(
        merchant.http.post(
            "/payment/request",
            content=chunks(),
            headers={
                **(await merchant.headers()),
                "Content-Type": "application/json",
                "Idempotency-Key": "k",
            },
        )
    )
    assert error_of(answer, 413, "payload_too_large")


async def test_a_body_of_exactly_64_kib_is_read(merchant: Merchant) -> None:
    prefix = b'{"amount":"1000","currency":"USD","redirect_url":"https://shop.example/","reference_id":"'
    content = prefix + b"x" * (64 * 1024 - len(prefix) - 2) + b'"}'
    assert len(content) == 64 * 1024
    answer = await timed(
        merchant.http.post(
            "/payment/request",
            content=content,
            headers={**(await merchant.headers()), "Content-Type": "application/json"},
        )
    )
    # read whole and judged: reference_id is too long
    assert error_of(answer, 422, "validation_error")["param"] == "reference_id"


def one_answer(answer: httpx.Response, status: int, code: str, param: str | None) -> None:
    """The documented answer: status, code and param, in the envelope."""
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert (error["code"], error.get("param")) == (code, param), error
    assert error["type"] == ("invalid_request" if status == 400 else "validation_error")
    assert error["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize("path", CREATE_PATHS)
@pytest.mark.parametrize("depth", [100, 10_000])
async def test_deeply_nested_json_answers_422_naming_the_field(
    merchant: Merchant, path: str, depth: int
) -> None:
    # the decoder checks each value against its field's type as it reads: the first
    # "[" where amount expects a number or a string ends the read, at any depth
    content = b'{"amount": ' + b"[" * depth + b"]" * depth + b"}"
    answer = await timed(
        merchant.http.post(
            path, content=content, headers={**(await merchant.headers()), "Content-Type": "application/json"}
        )
    )
    one_answer(answer, 422, "invalid_value", "amount")


# (body, status, code, param on contract A, param on contract B)
HUGE: dict[str, tuple[bytes, int, str, str | None, str | None]] = {
    "long-array": (b'{"amount": [' + b"1," * 30_000 + b"1]}", 422, "invalid_value", "amount", "amount"),
    "wide-object": (
        b'{"metadata": {' + b",".join(b'"k%d": "v"' % i for i in range(5000)) + b"}}",
        422,
        "invalid_value",
        "metadata",
        "metadata",
    ),
    "huge-integer": (b'{"amount": 1' + b"0" * 5000 + b"}", 422, "invalid_value", "amount", "amount"),
    "float-overflow": (b'{"amount": 1e400}', 422, "invalid_value", "amount", "amount"),
    # a digit string is a string: read whole, then the first missing field is named
    "huge-digit-string": (
        b'{"amount": "' + b"9" * 40_000 + b'"}',
        400,
        "missing_field",
        "currency",
        "currencyCode",
    ),
    "unterminated": (b"[" * 20_000, 400, "invalid_body", None, None),
}


@pytest.mark.parametrize("case", HUGE)
async def test_huge_json_within_the_limit_gets_its_one_answer(merchant: Merchant, case: str) -> None:
    content, status, code, param_a, param_b = HUGE[case]
    for path, param in zip(CREATE_PATHS, (param_a, param_b), strict=True):
        answer = await timed(
            merchant.http.post(
                path,
                content=content,
                headers={**(await merchant.headers()), "Content-Type": "application/json"},
            )
        )
        one_answer(answer, status, code, param)


A_TEXT_FIELDS = ["reference_id", "redirect_url"]


@pytest.mark.parametrize("field", A_TEXT_FIELDS)
@pytest.mark.parametrize("bad", ["nul\u0000byte", "lone\ud800surrogate", "\udfff"])
async def test_nul_bytes_and_lone_surrogates_answer_422_on_contract_a(
    merchant: Merchant, field: str, bad: str
) -> None:
    value = f"https://shop.example/{bad}" if field == "redirect_url" else bad
    content = _json_with_raw_string(a_body(), field, value)
    answer = await timed(
        merchant.http.post(
            "/payment/request",
            content=content,
            headers={**(await merchant.headers()), "Content-Type": "application/json"},
        )
    )
    refused(answer, field)


def refused(answer: httpx.Response, param: str) -> None:
    """A NUL is JSON-valid and refused as a field value (422 naming it); a lone
    surrogate escape is not valid JSON text for msgspec (400 invalid_json)."""
    if answer.status_code == 400:
        assert error_of(answer, 400, "invalid_request")["code"] == "invalid_json"
    else:
        assert error_of(answer, 422, "validation_error")["param"] == param


@pytest.mark.parametrize("field", ["reference", "referenceLabel", "redirectUrl"])
@pytest.mark.parametrize("bad", ["nul\u0000byte", "lone\ud800surrogate"])
async def test_nul_bytes_and_lone_surrogates_answer_422_on_contract_b(
    merchant: Merchant, field: str, bad: str
) -> None:
    value = f"https://shop.example/{bad}" if field == "redirectUrl" else bad
    content = _json_with_raw_string(b_body(merchant), field, value)
    answer = await timed(
        merchant.http.post(
            "/api/payment/checkout",
            content=content,
            headers={**(await merchant.headers()), "Content-Type": "application/json"},
        )
    )
    refused(answer, field)


@pytest.mark.parametrize("bad", ["nul\u0000", "lone\ud800"])
async def test_nul_bytes_and_lone_surrogates_in_metadata_answer_422(merchant: Merchant, bad: str) -> None:
    for metadata in ({"key": bad}, {bad: "value"}):
        content = _raw_json(a_body(metadata=metadata))
        answer = await timed(
            merchant.http.post(
                "/payment/request",
                content=content,
                headers={**(await merchant.headers()), "Content-Type": "application/json"},
            )
        )
        if answer.status_code == 400:
            assert answer.json()["error"]["code"] == "invalid_json"
        else:
            assert error_of(answer, 422, "validation_error")["param"].startswith("metadata")


@pytest.mark.parametrize(
    "content",
    [b'{"amount": "10\xff00"}', b"\xef\xbb\xbf{}", b'{"amount": "\xed\xa0\x80"}', b"\x00"],
    ids=["invalid-utf8", "bom", "encoded-surrogate", "nul-document"],
)
async def test_undecodable_bodies_answer_400(merchant: Merchant, content: bytes) -> None:
    for path in CREATE_PATHS:
        answer = await timed(
            merchant.http.post(
                path,
                content=content,
                headers={**(await merchant.headers()), "Content-Type": "application/json"},
            )
        )
        assert error_of(answer, 400, "invalid_request")["code"] in ("invalid_json", "invalid_body"), (
            answer.text
        )


LIST_QUERIES = [
    ("/payment/request", "reference_id"),
    ("/payment/request", "starting_after"),
    ("/payment/request", "status"),
    ("/api/payments", "reference"),
    ("/api/payments", "clientId"),
    ("/api/payments", "cursor"),
    ("/api/payments", "status"),
    ("/api/payments", "createdFrom"),
]


FREE_TEXT = {"reference_id", "reference", "clientId"}
CURSORS = {"starting_after", "cursor"}


@pytest.mark.parametrize(("path", "param"), LIST_QUERIES)
@pytest.mark.parametrize("bad", ["%00", "a%00b", "%ED%A0%80", "%FF", "%C0%80"])
async def test_nul_and_bad_utf8_in_query_parameters_get_their_one_answer(
    merchant: Merchant, path: str, param: str, bad: str
) -> None:
    """NUL anywhere: 422 naming the parameter. Bytes that are not UTF-8 are read as
    U+FFFD: a free-text filter (reference, clientId) then matches nothing (200, an
    empty page); a status, date or cursor is 422 like any other malformed value."""
    answer = await timed(merchant.http.get(f"{path}?{param}={bad}", headers=await merchant.headers()))
    if "%00" not in bad and param in FREE_TEXT:
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == []
        return
    one_answer(answer, 422, "invalid_cursor" if param in CURSORS else "invalid_value", param)


@pytest.mark.parametrize(
    "path", ["/payment/request/%00", "/api/payment/%00", "/payment/request/%ED%A0%80/cancel"]
)
async def test_nul_and_bad_utf8_in_paths_answer_404(merchant: Merchant, path: str) -> None:
    method = "POST" if path.endswith("/cancel") else "GET"
    answer = await timed(merchant.http.request(method, path, headers=await merchant.headers()))
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("path", ["/payment/request", "/api/payments"])
async def test_list_limits_are_clamped(merchant: Merchant, path: str) -> None:
    for _ in range(3):
        await merchant.create_payment(reference_id=f"clamp-{uuid.uuid4()}")
    headers = await merchant.headers()

    huge = await timed(merchant.http.get(f"{path}?limit=100000", headers=headers))
    small = await timed(merchant.http.get(f"{path}?limit=0", headers=headers))
    negative = await timed(merchant.http.get(f"{path}?limit=-5", headers=headers))
    overflow = await timed(merchant.http.get(f"{path}?limit=99999999999999999999999", headers=headers))

    assert huge.status_code == 200
    assert len(huge.json()["data"]) == 3
    assert small.status_code == 200 and len(small.json()["data"]) == 1
    assert negative.status_code == 200 and len(negative.json()["data"]) == 1
    # a limit past any integer is clamped like any other large one
    assert overflow.status_code == 200, overflow.text
    assert len(overflow.json()["data"]) == 3


async def test_a_page_never_holds_more_than_100(merchant: Merchant) -> None:
    headers = await merchant.headers()
    for _ in range(105):
        answer = await merchant.http.post("/payment/request", json=a_body(), headers=headers)
        assert answer.status_code == 201
    page = await timed(merchant.http.get("/payment/request?limit=100000", headers=headers))
    assert len(page.json()["data"]) == 100
    assert page.json()["has_more"] is True


def _raw_json(value: Any) -> bytes:
    """JSON with \\u escapes for every non-ASCII or control character, so that lone
    surrogates and NUL reach the server as the client wrote them."""
    import json

    return json.dumps(value, ensure_ascii=True).encode()


def _json_with_raw_string(document: dict[str, Any], field: str, value: str) -> bytes:
    return _raw_json({**document, field: value})
