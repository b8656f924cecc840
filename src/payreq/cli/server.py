"""The HTTP server ``payreq serve`` runs: uvicorn with httptools, bounded.

httptools (llhttp) puts no limit on the size of a request's head: a single 64 MiB
header is read into memory before any authentication. ``BoundedHttpTools`` counts the
bytes of each request's head (request line and headers) and answers 431 and closes the
connection past ``PAYREQ_MAX_HEADER_BYTES``. Concurrency is bounded by uvicorn's
``limit_concurrency`` (``PAYREQ_MAX_CONNECTIONS``: past it, new requests get 503).
A reverse proxy in front should bound the same (and body size, and slow clients);
the README's deploy section says how.

The answers the server gives on its own, before any request reaches the app (a head
too large, bytes that are not HTTP, the connection limit), carry the house error
envelope as every other answer does (``{"error": {"type", "code", "message",
"request_id"}}`` with its ``X-Request-ID``), not uvicorn's plain text, so a client's
error handling sees one shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from payreq.config import get_settings
from payreq.http import envelope_body, new_request_id, send_json

_REASONS = {400: b"Bad Request", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def _refusal_parts(type_: str, code: str, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers (but for the content's type and length) and body of one of the
    server's own answers, in the house envelope."""
    rid = new_request_id()
    body = envelope_body(rid, type=type_, code=code, message=message)
    headers = [
        (b"cache-control", b"no-store"),
        (b"x-request-id", rid.encode()),
        (b"connection", b"close"),
    ]
    return headers, body


def refusal(status: int, type_: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for the bytes the server
    refuses before a request exists (a head too large, a head that is not HTTP)."""
    headers, body = _refusal_parts(type_, code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"HTTP/1.1 %d %s\r\n%s\r\n%s" % (status, _REASONS[status], head, body)


async def over_the_connection_limit(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """What a request past ``PAYREQ_MAX_CONNECTIONS`` is answered, instead of uvicorn's
    plain-text 503."""
    headers, body = _refusal_parts(
        "service_unavailable",
        "too_many_connections",
        "The server has too many open connections; retry with back-off.",
    )
    await send_json(send, 503, body, [*headers, (b"retry-after", b"1")])  # type: ignore[arg-type]


class CoalescedWrites:
    """A transport whose writes of one turn of the event loop leave in one ``send``:
    uvicorn writes an answer's head and its body separately, two system calls and two
    TCP segments for every small JSON answer (the head's write was a tenth of a poll's
    CPU in the profile). A write is held until the next one (they go together) or the
    end of the turn; ``close`` sends what is held first, ``abort`` drops it, as the
    transport would have. Everything else is the transport's own."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._held = None
        self._transport.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on each request's head (read from the
    settings in each server process, so ``--workers`` children apply it too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes = get_settings().max_header_bytes
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # only the head counts: a read that carries its end also carries the start of
            # the body (a browser's upload sends both at once), which is bounded elsewhere
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            if self._head_bytes > self.max_header_bytes:
                self._refuse()
                return
            self._tail = seen[-3:]
        super().data_received(data)

    def _refuse(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                refusal(
                    431,
                    "invalid_request",
                    "headers_too_large",
                    f"The request's head (request line and headers) is over {self.max_header_bytes} bytes.",
                )
            )
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """Bytes that are not an HTTP/1.1 request (uvicorn logs ``msg``): the house
        envelope, and the connection closed, as uvicorn does."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                refusal(400, "invalid_request", "malformed_http", "The request is not valid HTTP/1.1.")
            )
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._tail = b""
        limit = self.limit_concurrency
        if limit is None or (len(self.connections) < limit and len(self.tasks) < limit):
            super().on_headers_complete()
            return
        # past the limit uvicorn runs its own plain-text app for this request; it runs
        # ours instead (uvicorn's check, made here first, and skipped for this one call)
        self.logger.warning("Exceeded concurrency limit.")
        app, self.app, self.limit_concurrency = self.app, over_the_connection_limit, None
        try:
            super().on_headers_complete()
        finally:
            self.app, self.limit_concurrency = app, limit

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # keep-alive: the next request's head starts
