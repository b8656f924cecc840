"""The sender's own guarantees, against real sockets (SPEC §6): addresses are checked
where the connection is made, whatever the name resolves to by then; TLS verifies the
URL's name; a proxy from the environment is never used; hosts are as strict as before."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trustme

from payreq.webhook import sender as sender_module
from payreq.webhook.sender import Outcome, Sender
from payreq.webhook.ssrf import UrlPolicy, syntax_problem
from tests.webhook.conftest import FAST
from tests.webhook.receiver import Receiver

STRICT = replace(FAST, policy=UrlPolicy())
"""Public addresses only: what a server where anyone can sign up runs with."""
HEADERS = {"content-type": "application/json", "webhook-id": "msg_test"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    live = Receiver().start()
    yield live
    live.stop()


@pytest.fixture
def resolving(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names this test's resolver answers (the event loop's resolver calls
    ``socket.getaddrinfo`` in a thread); other names resolve as usual."""
    names: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0))
                for ip in names[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names


@pytest.fixture
async def sockets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The address of every socket the sender connects (through this event loop)."""
    connected: list[str] = []
    loop_type = type(asyncio.get_running_loop())
    real = loop_type.sock_connect

    async def recording(self: asyncio.AbstractEventLoop, sock: socket.socket, address: Any) -> None:
        connected.append(str(address[0]))
        await real(self, sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(loop_type, "sock_connect", recording)
    return connected


async def send(sender: Sender, url: str) -> Outcome:
    try:
        return await sender.send(url, '{"type":"test"}', HEADERS)
    finally:
        await sender.aclose()


async def test_a_name_with_one_private_address_among_public_ones_is_refused_whole(
    receiver: Receiver, resolving: dict[str, list[str]], sockets: list[str]
) -> None:
    resolving["mixed.example"] = ["93.184.215.14", "127.0.0.1"]
    outcome = await send(Sender(STRICT), f"https://mixed.example:{receiver.port}/hooks")
    assert outcome.status_code is None
    assert outcome.error == "refused: mixed.example resolves to 127.0.0.1, which this URL may not reach"
    assert sockets == []
    assert receiver.received == []


async def test_a_name_re_pointed_after_its_check_reaches_nothing_it_should_not(
    receiver: Receiver, resolving: dict[str, list[str]], sockets: list[str]
) -> None:
    """DNS rebinding: allowed (loopback, for this operator) on the first connection,
    a private address on the next: the next is refused before any socket is made."""
    config = replace(FAST, policy=UrlPolicy.of("127.0.0.0/8"))
    resolving["rebind.example"] = ["127.0.0.1"]
    sender = Sender(config)
    url = f"http://rebind.example:{receiver.port}/hooks"
    try:
        assert (await sender.send(url, "{}", HEADERS)).status_code == 200
        await sender.aclose()  # the pooled connection is gone: the next one resolves again
        resolving["rebind.example"] = ["10.0.0.1"]
        outcome = await sender.send(url, "{}", HEADERS)
    finally:
        await sender.aclose()
    assert outcome.error == "refused: rebind.example resolves to 10.0.0.1, which this URL may not reach"
    assert sockets == ["127.0.0.1"]
    assert len(receiver.received) == 1


async def test_no_socket_is_made_towards_a_refused_address_whatever_hands_it_over(
    monkeypatch: pytest.MonkeyPatch, sockets: list[str]
) -> None:
    """The last check, where the socket is made: even a resolver that skipped its check
    gets no connection to a refused address."""

    async def unchecked(
        self: sender_module.GuardedResolver, host: str, port: int = 0, family: Any = 0
    ) -> Any:
        return [
            {
                "hostname": host,
                "host": "10.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    monkeypatch.setattr(sender_module.GuardedResolver, "resolve", unchecked)
    outcome = await send(Sender(STRICT), "https://hooks.shop.example/x")
    assert outcome.error == "refused: 10.0.0.1 is an address this URL may not reach"
    assert sockets == []


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]"])
async def test_literal_addresses_are_checked_in_every_spelling(
    host: str, receiver: Receiver, sockets: list[str]
) -> None:
    outcome = await send(Sender(STRICT), f"https://{host}:{receiver.port}/hooks")
    assert outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith(f"refused: {host.strip('[]')} resolves to ")
    assert sockets == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1"])
async def test_an_allowed_address_in_a_legacy_spelling_is_reached_with_the_host_as_written(
    host: str, receiver: Receiver
) -> None:
    outcome = await send(Sender(FAST), f"http://{host}:{receiver.port}/hooks")
    assert outcome.status_code == 200, outcome
    [request] = receiver.received
    assert request.headers["host"] == f"{host}:{receiver.port}"


@pytest.fixture
async def ipv6_receiver() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A minimal HTTP endpoint on ``::1``; yields its port and the requests' heads."""
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        heads.append(head)
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    try:
        server = await asyncio.start_server(answer, "::1", 0)
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    async with server:
        yield server.sockets[0].getsockname()[1], heads


async def test_an_ipv6_literal_is_reached_when_allowed_and_refused_otherwise(
    ipv6_receiver: tuple[int, list[bytes]], sockets: list[str]
) -> None:
    port, heads = ipv6_receiver
    url = f"http://[::1]:{port}/hooks"
    refused = await send(Sender(replace(FAST, policy=UrlPolicy.of("127.0.0.0/8"))), url)
    assert refused.error == "refused: ::1 resolves to ::1, which this URL may not reach"
    assert sockets == []
    allowed = await send(Sender(FAST), url)
    assert allowed.status_code == 204, allowed
    assert sockets == ["::1"]
    assert len(heads) == 1


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_endpoint(ca: trustme.CA, name: str) -> tuple[asyncio.Server, int]:
    """An https endpoint on 127.0.0.1 whose certificate (from ``ca``) names ``name``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


async def test_tls_verifies_the_urls_name_while_connecting_to_the_checked_address(
    ca: trustme.CA, resolving: dict[str, list[str]], sockets: list[str]
) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    config = replace(FAST, policy=UrlPolicy.of("127.0.0.0/8"))
    resolving["hooks.shop.example"] = ["127.0.0.1"]
    resolving["other.shop.example"] = ["127.0.0.1"]
    server, port = await tls_endpoint(ca, "hooks.shop.example")
    async with server:
        right = await send(Sender(config, ssl_context=trusting), f"https://hooks.shop.example:{port}/x")
        wrong = await send(Sender(config, ssl_context=trusting), f"https://other.shop.example:{port}/x")
        unknown_ca = await send(Sender(config), f"https://hooks.shop.example:{port}/x")
    assert right.status_code == 200, right
    assert sockets.count("127.0.0.1") == 3
    assert wrong.status_code is None
    assert wrong.error is not None and "certificate verify failed" in wrong.error
    assert "other.shop.example" in wrong.error  # the name it checked is the URL's
    assert unknown_ca.status_code is None
    assert unknown_ca.error is not None and "certificate verify failed" in unknown_ca.error


async def test_a_proxy_from_the_environment_is_never_used(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Receiver().start()
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url("/"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        outcome = await send(Sender(FAST), receiver.url())
    finally:
        proxy.stop()
    assert outcome.status_code == 200
    assert len(receiver.received) == 1
    assert proxy.received == []


HOSTS = [
    "xn--a.example",
    "xn--zz.example",
    "xn--.example",
    "xn--ls8h.example",
    "foo.xn--a.example",
    "xn--bcher-kva.example",
    "bücher.example",
    "BÜCHER.example",
    "ß.example",
    "\u03c3.example",
    "例え.テスト",
    "☃.example",
    "💩.la",
    "ﬁ.example",
    "Ⅻ.example",
    "ﾃｽﾄ.example",
    "a_b.example",
    "-foo.example",
    "256.1.1.1",
    "1.2.3.4",
    "1.2.3.4.5",
    "[::1]",
    "[fe80::1%25eth0]",
    "[v1.x]",
]


@pytest.mark.parametrize("host", HOSTS)
def test_a_host_is_refused_exactly_when_httpx_would_refuse_to_send_to_it(host: str) -> None:
    """The host check payreq had when it sent with httpx: the same names pass and fail
    (IDNA 2008, no quiet UTS 46 mapping of ``ﬁ`` to ``fi``)."""
    url = f"https://{host}/hooks"
    try:
        httpx.URL(url).host  # noqa: B018
        sendable = True
    except (httpx.InvalidURL, ValueError):
        sendable = False
    problem = syntax_problem(url)
    assert (problem is None) is sendable, problem
    if not sendable:
        assert problem is not None and "cannot be sent to" in problem
