"""``payreq serve`` bounds what one client can make it hold: a request head over
PAYREQ_MAX_HEADER_BYTES is answered 431 and the connection closed before it is read
whole; past PAYREQ_MAX_CONNECTIONS, 503. A real server process on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from payreq.cli.server import CoalescedWrites
from tests.fixtures.live import environment, payreq, serve


def _database(tmp_path: Path) -> dict[str, str]:
    env = environment(f"sqlite:///{tmp_path / 'serve.db'}")
    payreq("migrate", env=env)
    return env


def _raw(url: str, head: bytes, *, chunk: int = 64 * 1024, timeout: float = 10) -> bytes:
    """Send ``head`` (as a slow client would, in chunks) and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        try:
            for start in range(0, len(head), chunk):
                conn.sendall(head[start : start + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection while we were still sending
        answer = b""
        try:
            while data := conn.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
        return answer


def test_a_huge_request_header_is_refused_with_431_and_the_server_stays_responsive(tmp_path: Path) -> None:
    env = _database(tmp_path)
    with serve({**env, "PAYREQ_MAX_HEADER_BYTES": "16384"}, tmp_path / "serve.log") as server:
        started = time.monotonic()
        head = b"GET /payment/request HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
        answer = _raw(server.url, head)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert time.monotonic() - started < 5
        _assert_envelope(answer, 431, "invalid_request", "headers_too_large")
        # a head within the bound is served as usual (401: no token)
        ok = _raw(
            server.url,
            b"GET /payment/request HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Small: "
            + b"a" * 8000
            + b"\r\n\r\n",
        )
        assert ok.startswith(b"HTTP/1.1 401 "), ok[:200]
        assert httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200


def _assert_envelope(raw: bytes, status: int, type_: str, code: str) -> dict[bytes, bytes]:
    """The server's own answer in the house error envelope, its request id in both
    the header and the body, and the connection closed after it."""
    [(got, headers, body)] = _answers(raw)
    assert got == status
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"connection"] == b"close"
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == (type_, code)
    assert error["message"]
    assert error["request_id"] == headers[b"x-request-id"].decode()
    assert error["request_id"].startswith("req_")
    return headers


def test_bytes_that_are_not_http_get_a_400_in_the_house_envelope(tmp_path: Path) -> None:
    env = _database(tmp_path)
    with serve(env, tmp_path / "serve.log") as server:
        for garbage in (
            b"HELLO\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
        ):
            answer = _raw(server.url, garbage)
            assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
            _assert_envelope(answer, 400, "invalid_request", "malformed_http")
        assert httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200


def test_a_small_head_sent_with_a_large_body_in_one_read_is_not_refused(tmp_path: Path) -> None:
    """A browser's upload sends its head and the start of a large body together; only the
    head counts towards the bound."""
    env = _database(tmp_path)
    with serve({**env, "PAYREQ_MAX_HEADER_BYTES": "16384"}, tmp_path / "serve.log") as server:
        body = b"id,amount,currency,reference\n" + b"R-1,1.00,EUR,nothing\n" * 20_000
        head = (
            b"POST /api/statements HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: text/csv\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        answer = _raw(server.url, head + body, chunk=len(head) + len(body))
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # no token: the app answered


def test_past_the_connection_limit_requests_get_503(tmp_path: Path) -> None:
    env = _database(tmp_path)
    with serve({**env, "PAYREQ_MAX_CONNECTIONS": "2"}, tmp_path / "serve.log") as server:
        parts = urlsplit(server.url)
        idle = [socket.create_connection((parts.hostname, parts.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)
            answer = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
            headers = _assert_envelope(answer, 503, "service_unavailable", "too_many_connections")
            assert headers[b"retry-after"] == b"1"
        finally:
            for conn in idle:
                conn.close()
        time.sleep(0.2)
        assert httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200


def _answers(raw: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Each answer of a byte stream: status, headers, body (by Content-Length)."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        length = int(headers[b"content-length"])
        found.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def test_pipelined_and_closing_requests_get_whole_answers_in_order(tmp_path: Path) -> None:
    """Writes are coalesced per turn of the loop (``CoalescedWrites``): requests sent at
    once still get their answers whole and in order, and an answer that closes the
    connection arrives whole before the close."""
    env = _database(tmp_path)
    paths = ["/readyz", "/payment/request/nope", "/openapi.json", "/nowhere", "/readyz"]
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipelined-{n:04d}\r\n"
        for n, path in enumerate(paths)
    ]
    requests[-1] += "Connection: close\r\n"
    with serve(env, tmp_path / "serve.log") as server:
        raw = _raw(server.url, "".join(r + "\r\n" for r in requests).encode())
    answers = _answers(raw)
    assert [status for status, _, _ in answers] == [200, 401, 200, 404, 200]
    assert [headers[b"x-request-id"] for _, headers, _ in answers] == [
        b"pipelined-%04d" % n for n in range(5)
    ]
    assert b'"code":"missing_token"' in answers[1][2]
    assert answers[-1][1][b"connection"] == b"close"


async def test_writes_of_one_turn_leave_together_and_close_sends_what_is_held() -> None:
    sent: list[bytes] = []

    class Transport:
        closed = False

        def write(self, data: bytes) -> None:
            assert not self.closed
            sent.append(bytes(data))

        def close(self) -> None:
            self.closed = True

        def is_closing(self) -> bool:
            return self.closed

        def get_extra_info(self, name: str) -> str:
            return f"info:{name}"

    real = Transport()
    coalesced = CoalescedWrites(real)  # type: ignore[arg-type]
    coalesced.write(b"head;")
    coalesced.write(b"body")
    assert sent == [b"head;body"]  # the head and its body in one send
    coalesced.write(b"alone")
    assert sent == [b"head;body"]  # held until the end of this turn
    await asyncio.sleep(0)
    assert sent == [b"head;body", b"alone"]
    coalesced.write(b"last")
    coalesced.close()
    assert sent[-1] == b"last" and real.closed  # sent before the close, never lost
    await asyncio.sleep(0)
    assert sent.count(b"last") == 1
    assert coalesced.get_extra_info("peername") == "info:peername"


def test_head_is_answered_with_the_gets_head_and_no_content(tmp_path: Path) -> None:
    """A real server: HEAD /healthz gets the GET's status line and Content-Length, then
    nothing, and the connection serves the next request."""
    env = _database(tmp_path)
    with serve(env, tmp_path / "serve.log") as server:
        got = httpx.get(f"{server.url}/healthz", timeout=5)
        answer = _raw(
            server.url,
            b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        first, _, rest = answer.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert f"content-length: {len(got.content)}".encode() in first.lower()
        assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]  # no content came in between
        assert rest.endswith(got.content)
