"""Per-call options on every method: ``timeout`` reaches every request, ``extra_headers``
and ``max_retries`` too, and a real slow server is cut off at the timeout."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from payreq.client import AsyncClient, BankDetails, Client, TransportError, WaitTimeout
from tests.client.fakes import BASE, FakeTime, Recorder, async_client, client, payment_a, payment_b

APP = "a" * 32
WHEN = "2026-12-01T08:00:00Z"


def application() -> dict[str, Any]:
    return {
        "clientId": APP,
        "name": "Shop",
        "environment": "sandbox",
        "isDefault": False,
        "webhookUrl": None,
        "defaultRedirectUrl": None,
        "defaultExpiresIn": None,
        "currencies": None,
        "methods": ["sandbox"],
        "bankDetails": None,
        "createdAt": WHEN,
        "webhookDisabledAt": None,
        "webhookSecret": "whsec_AAAA",
        "previousSecretExpiresAt": None,
    }


def event() -> dict[str, Any]:
    return {
        "id": "e1",
        "type": "payment.paid",
        "createdAt": WHEN,
        "clientId": APP,
        "paymentId": "p1",
        "data": payment_b(status="paid"),
        "delivery": None,
        "attempts": [],
    }


def token() -> dict[str, Any]:
    return {
        "id": "t1",
        "label": "l",
        "scopes": ["*"],
        "expiresAt": None,
        "createdAt": WHEN,
        "lastUsedAt": None,
        "token": "prq_ct",
    }


def statement() -> dict[str, Any]:
    return {
        "id": "s1",
        "format": "csv",
        "source": "api",
        "filename": None,
        "createdAt": WHEN,
        "summary": {},
        "lines": [],
    }


def answer(request: httpx.Request) -> httpx.Response:
    """A plausible answer for every route of the API."""
    path, method = request.url.path, request.method
    if method == "DELETE":
        return httpx.Response(204)
    if path.startswith("/payment/request"):
        if path == "/payment/request" and method == "GET":
            return httpx.Response(
                200, json={"data": [payment_a()], "has_more": False, "next_starting_after": None}
            )
        return httpx.Response(200, json=payment_a(status="paid"))
    if path.endswith("/instructions"):
        body = {
            "paymentId": "p1",
            "method": "sandbox",
            "status": "pending",
            "amount": 1,
            "currencyCode": "USD",
            "reference": None,
            "expiresAt": WHEN,
            "checkoutUrl": "x",
            "title": "t",
            "steps": ["a"],
        }
        return httpx.Response(200, json=body)
    if path in ("/api/payments", "/api/events"):
        item = payment_b() if path == "/api/payments" else event()
        return httpx.Response(200, json={"data": [item], "hasMore": False, "nextCursor": None})
    if (
        path.startswith("/api/payment") and not path.startswith("/api/payment-applications")
    ) or "/simulate" in path:
        return httpx.Response(200, json=payment_b())
    if path.endswith("/tokens"):
        return httpx.Response(200, json={"data": [token()]} if method == "GET" else token())
    if path == "/api/payment-applications" and method == "GET":
        return httpx.Response(200, json={"data": [application()]})
    if path.startswith("/api/payment-applications"):
        return httpx.Response(200, json=application())
    if path == "/api/events/replay":
        return httpx.Response(202, json={"replayed": 2})
    if path.startswith("/api/events"):
        return httpx.Response(200, json=event())
    if path.startswith("/api/statements"):
        return httpx.Response(200, json=statement())
    raise AssertionError(f"no fake answer for {method} {path}")


def consume(result: Any) -> Any:
    return list(result) if hasattr(result, "pages") else result


SINCE = datetime(2026, 11, 1, tzinfo=UTC)
METHODS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("create_payment_request", (), {"amount": 100, "currency": "USD", "redirect_url": "https://s.example/t"}),
    ("get_payment_request", ("p1",), {}),
    ("cancel_payment_request", ("p1",), {}),
    ("list_payment_requests", (), {"status": "paid"}),
    (
        "create_checkout",
        (),
        {"amount": 1, "currency_code": "USD", "reference": "r", "reference_label": "R", "client_id": APP},
    ),
    ("get_payment", ("p1",), {}),
    ("get_instructions", ("p1", "sandbox"), {}),
    ("list_payments", (), {"status": "paid"}),
    ("simulate_payment", ("p1", "paid"), {}),
    ("list_applications", (), {}),
    (
        "create_application",
        (),
        {"name": "Shop", "bank_details": BankDetails(account_holder="A", bank_name="B", iban="X")},
    ),
    ("get_application", (APP,), {}),
    ("update_application", (APP,), {"webhook_url": None}),
    ("delete_application", (APP,), {}),
    ("rotate_webhook_secret", (APP,), {}),
    ("create_client_token", (APP,), {"label": "l", "scopes": ["*"]}),
    ("list_client_tokens", (APP,), {}),
    ("revoke_client_token", (APP, "t1"), {}),
    ("list_events", (), {"type": "payment.paid"}),
    ("get_event", ("e1",), {}),
    ("redeliver_event", ("e1",), {}),
    ("replay_events", (SINCE,), {}),
    ("import_statement", (b"amount,currency,reference\n",), {"content_type": "text/csv"}),
    ("get_statement_import", ("s1",), {}),
]
PUBLIC = sorted(name for name in dir(Client) if not name.startswith("_") and callable(getattr(Client, name)))


def test_the_table_covers_every_public_method() -> None:
    covered = {name for name, _, _ in METHODS} | {"close", "wait_for_payment"}
    assert covered == set(PUBLIC)
    assert {n for n in dir(AsyncClient) if not n.startswith("_") and callable(getattr(AsyncClient, n))} == (
        set(PUBLIC) - {"close"} | {"aclose"}
    )


@pytest.mark.parametrize(("name", "args", "kwargs"), METHODS, ids=[m[0] for m in METHODS])
def test_every_method_honours_timeout_and_extra_headers(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    server = Recorder(answer)
    payreq = client(server, rate_limit=None, timeout=30.0)
    consume(getattr(payreq, name)(*args, **kwargs, timeout=1.5, extra_headers={"X-Trace": "t-1"}))
    consume(getattr(payreq, name)(*args, **kwargs))
    with_options, default = server.api()
    assert with_options.extensions["timeout"] == httpx.Timeout(1.5).as_dict()
    assert default.extensions["timeout"] == httpx.Timeout(30.0).as_dict()
    assert with_options.headers["x-trace"] == "t-1"
    assert "x-trace" not in default.headers
    assert with_options.headers["user-agent"].startswith("payreq-python/")


@pytest.mark.parametrize(("name", "args", "kwargs"), METHODS, ids=[m[0] for m in METHODS])
async def test_every_async_method_honours_timeout(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    server = Recorder(answer)
    async with async_client(server, rate_limit=None) as payreq:
        result = getattr(payreq, name)(*args, **kwargs, timeout=2.5)
        if hasattr(result, "pages"):
            [item async for item in result]
        else:
            await result
    assert server.api()[0].extensions["timeout"] == httpx.Timeout(2.5).as_dict()


def test_a_misspelt_option_is_a_type_error() -> None:
    server = Recorder(answer)
    with pytest.raises(TypeError, match="timout"):
        client(server).create_payment_request(
            amount=1,
            currency="USD",
            redirect_url="https://s.example",
            timout=3,  # type: ignore[call-arg]
        )
    with pytest.raises(TypeError, match="max_retry"):
        client(server).get_payment_request("p1", max_retry=3)  # type: ignore[call-arg]
    assert server.requests == []


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """A server that answers a head at once, then its body one byte every 0.1 s for 3 s:
    each read arrives well within any per-read time-out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n"
                )
                for _ in range(30):
                    if stop.wait(0.1):
                        break
                    conn.sendall(b" ")

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = sock.accept()[0]
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    sock.close()


def timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(TransportError) as raised:
        call()
    assert isinstance(raised.value.__cause__, httpx.TimeoutException)
    return time.monotonic() - started


def test_a_call_to_a_server_that_never_answers_ends_at_its_timeout(silent_server: str) -> None:
    with Client(silent_server, client_token="t", timeout=30, max_retries=0) as payreq:
        assert timed(lambda: payreq.get_payment("p1", timeout=0.3)) < 2.0
        assert (
            timed(
                lambda: payreq.create_checkout(
                    amount=1,
                    currency_code="USD",
                    reference="r",
                    reference_label="R",
                    client_id=APP,
                    timeout=0.3,
                )
            )
            < 2.0
        )


async def test_an_async_call_to_a_server_that_never_answers_ends_at_its_timeout(silent_server: str) -> None:
    async with AsyncClient(silent_server, client_token="t", max_retries=0) as payreq:
        started = time.monotonic()
        with pytest.raises(TransportError):
            await payreq.get_payment("p1", timeout=0.3)
        assert time.monotonic() - started < 2.0


def test_wait_for_payment_cuts_each_poll_to_the_time_left() -> None:
    server = Recorder(lambda r: httpx.Response(200, json=payment_a()))
    payreq = client(server, rate_limit=None, timeout=30.0)
    with pytest.raises(WaitTimeout, match="still pending after 2 s") as raised:
        payreq.wait_for_payment("p1", timeout=2.0)
    assert raised.value.payment.status == "pending"
    timeouts = [r.extensions["timeout"]["read"] for r in server.api()]
    assert timeouts[0] == 2.0
    assert all(t <= 2.0 for t in timeouts)
    assert BASE in str(server.api()[0].url)


def test_only_the_fields_given_are_sent_and_none_means_left_out() -> None:
    server = Recorder(answer)
    payreq = client(server, rate_limit=None)
    payreq.create_payment_request(
        amount=100, currency="USD", redirect_url="https://s.example/t", reference_id=None, expires_in=None
    )
    payreq.create_checkout(
        amount=1,
        currency_code="USD",
        reference="r",
        reference_label="R",
        client_id=APP,
        redirect_url=None,
        metadata={"a": "b"},
    )
    payreq.update_application(APP, webhook_url=None, name="New")
    a, b, patch = (r.content for r in server.api())
    assert a == b'{"amount":"100","currency":"USD","redirect_url":"https://s.example/t"}'
    assert (
        b
        == b'{"amount":1,"currencyCode":"USD","reference":"r","referenceLabel":"R","clientId":"'
        + APP.encode()
        + b'","metadata":{"a":"b"}}'
    )
    assert patch == b'{"webhookUrl":null,"name":"New"}'  # PATCH: a None clears the field


def test_wait_for_payment_never_sleeps_past_its_timeout() -> None:
    """A Retry-After of 30 s, or retries' back-off, were slept through: a 2 s wait took
    90 s. Now every wait is cut to the deadline and WaitTimeout comes at it."""
    fake = FakeTime()
    busy = httpx.Response(503, headers={"Retry-After": "30"}, json={"error": {"type": "api_error"}})
    payreq = client(Recorder(lambda r: busy), fake, token=True, timeout=30.0)
    with pytest.raises(WaitTimeout) as raised:
        payreq.wait_for_payment("p1", timeout=2.0)
    assert str(raised.value) == "payment request is not answered after 2 s"
    assert raised.value.payment is None
    assert sum(fake.sleeps) <= 2.0


def test_wait_for_payment_keeps_the_last_state_when_later_polls_are_refused() -> None:
    fake = FakeTime()
    answers = iter([httpx.Response(200, json=payment_a())])

    def handler(request: httpx.Request) -> httpx.Response:
        limited = httpx.Response(429, headers={"Retry-After": "60"}, json={"error": {"type": "rate_limited"}})
        return next(answers, limited)

    payreq = client(Recorder(handler), fake, token=True, rate_limit=None)
    with pytest.raises(WaitTimeout, match="still pending after 3 s") as raised:
        payreq.wait_for_payment("p1", timeout=3.0)
    assert raised.value.payment is not None and raised.value.payment.status == "pending"
    assert sum(fake.sleeps) <= 3.0


SLOW_SERVERS = pytest.mark.parametrize("server", ["silent_server", "trickling_server"])
"""One never answers; one answers its body a byte at a time, each read in time."""


@SLOW_SERVERS
async def test_an_async_wait_ends_at_its_timeout_with_a_request_in_flight(
    server: str, request: pytest.FixtureRequest
) -> None:
    async with AsyncClient(request.getfixturevalue(server), client_token="t", timeout=30.0) as payreq:
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            await payreq.wait_for_payment("p1", timeout=1.0)
        assert time.monotonic() - started < 1.5


@SLOW_SERVERS
def test_a_sync_wait_ends_at_its_timeout_with_a_request_in_flight(
    server: str, request: pytest.FixtureRequest
) -> None:
    with Client(request.getfixturevalue(server), client_token="t", timeout=30.0) as payreq:
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            payreq.wait_for_payment("p1", timeout=1.0)
        assert time.monotonic() - started < 1.5
