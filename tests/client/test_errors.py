"""The exception tree: each error answer raises the class its status names, carrying
status, error.type, error.code, error.message, param and the request id."""

from __future__ import annotations

import httpx
import pytest

from payreq.client import (
    APIError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PayreqError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
    WaitTimeout,
)
from tests.client.fakes import client, error


def raised_by(answer: httpx.Response) -> APIError:
    with pytest.raises(APIError) as raised:
        client(lambda r: answer, token=True, rate_limit=None, max_retries=0).get_payment("p1")
    return raised.value


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, ValidationError),
        (418, APIError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_each_status_raises_its_class(status: int, kind: type[APIError]) -> None:
    exc = raised_by(error(status, "t", "c", "m"))
    assert type(exc) is kind
    assert exc.status == status


def test_the_envelope_fields_are_carried() -> None:
    exc = raised_by(
        error(422, "validation_error", "invalid_amount", "amount must be a positive integer.", param="amount")
    )
    assert isinstance(exc, ValidationError)
    assert (exc.type, exc.code, exc.message, exc.param, exc.request_id) == (
        "validation_error",
        "invalid_amount",
        "amount must be a positive integer.",
        "amount",
        "req_abc",
    )
    assert (
        str(exc)
        == "[422 invalid_amount] amount must be a positive integer. (param: amount) (request id: req_abc)"
    )


def test_the_request_id_header_serves_when_the_body_has_none() -> None:
    exc = raised_by(
        httpx.Response(502, text="<html>Bad Gateway</html>", headers={"X-Request-ID": "req_proxy"})
    )
    assert isinstance(exc, ServerError)
    assert exc.request_id == "req_proxy"
    assert exc.message == "Bad Gateway: <html>Bad Gateway</html>"
    assert exc.type is None and exc.code is None


def test_rate_limit_error_carries_retry_after() -> None:
    exc = raised_by(
        error(429, "rate_limited", "rate_limited", "Too many requests.", headers={"Retry-After": "2"})
    )
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after == 2.0


def test_the_tree() -> None:
    for kind in (
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        ValidationError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(kind, APIError)
    assert issubclass(APIError, PayreqError)
    assert issubclass(TransportError, PayreqError) and not issubclass(TransportError, APIError)
    assert issubclass(WaitTimeout, PayreqError) and issubclass(WaitTimeout, TimeoutError)


def test_a_2xx_that_is_not_payreqs_answer_raises_api_error() -> None:
    answer = httpx.Response(200, text="<html>captive portal</html>", headers={"X-Request-ID": "req_x"})
    with pytest.raises(APIError, match="not what payreq sends") as raised:
        client(lambda r: answer, token=True, rate_limit=None).get_payment("p1")
    assert (raised.value.status, raised.value.request_id) == (200, "req_x")
    with pytest.raises(APIError, match="KeyError"):
        client(lambda r: httpx.Response(200, json={"id": "p1"}), token=True, rate_limit=None).get_payment(
            "p1"
        )
