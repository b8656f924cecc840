"""What an attempt's ``error`` says: a classification in payreq's own words, never
bytes the receiver chose. The merchant reads attempts; with an allowed private
network (or any URL) the sender must not read out what an internal service answers
(a banner, a redirect target), which would make it an oracle and a port scanner."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.webhook.conftest import delivering, event_ids, eventually, set_webhook_url
from tests.webhook.receiver import Answer, Receiver

SECRET = "internal-7f3a9c"


async def _attempts(merchant: Merchant, event_id: str) -> list[dict]:  # type: ignore[type-arg]
    answer = await merchant.http.get(f"/api/events/{event_id}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    return answer.json()["attempts"]  # type: ignore[no-any-return]


class RawServer:
    """A TCP service on 127.0.0.1 that answers every connection with ``reply`` and
    hangs up: an SSH daemon, a Redis, anything that is no web server."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(self.reply)
        await writer.drain()
        writer.close()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
async def raw_server(request: pytest.FixtureRequest) -> AsyncIterator[RawServer]:
    server = RawServer(request.param)
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


async def test_a_redirect_is_recorded_as_such_without_its_location(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.default = Answer(302, b"", {"location": f"http://{SECRET}.corp:6379/admin"})
    async with delivering(services, schedule=(0, 30)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
        await eventually(lambda: _attempts(hooked, created_id))
    [attempt] = await _attempts(hooked, created_id)
    assert attempt["statusCode"] == 302
    assert attempt["error"] == "redirect (not followed): HTTP 302"
    assert SECRET not in str(attempt)


@pytest.mark.parametrize(
    "raw_server",
    [
        pytest.param(f"SSH-2.0-OpenSSH_9.6 {SECRET}\r\n".encode(), id="ssh-banner"),
        pytest.param(f"-ERR unknown command '{SECRET}'\r\n".encode(), id="redis-error"),
        pytest.param(f"HTTP/1.1 200 OK\r\n{SECRET}\r\n\r\n".encode(), id="broken-header"),
    ],
    indirect=True,
)
async def test_an_answer_that_is_not_http_is_classified_and_never_quoted(
    services: Services, hooked: Merchant, raw_server: RawServer, fence: None
) -> None:
    answer = await set_webhook_url(hooked, raw_server.url())
    assert answer.status_code == 200, answer.text
    async with delivering(services, schedule=(0, 30)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _attempts(hooked, created_id))
    assert raw_server.connections >= 1
    [attempt] = await _attempts(hooked, created_id)
    assert attempt["statusCode"] is None
    assert attempt["error"] == "not an HTTP answer"
    assert attempt["responseBody"] is None
    assert SECRET not in str(attempt)
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT last_error FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
            "WHERE e.payment_id = :p AND e.type = 'payment.created'",
            {"p": uuid.UUID(payment["id"])},
        )
    assert row is not None and row["last_error"] == "not an HTTP answer"
