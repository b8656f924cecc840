"""The HTTP server ``payreq serve`` runs: uvicorn with httptools, bounded.

httptools (llhttp) puts no limit on the size of a request's head: a single 64 MiB
header is read into memory before any authentication. ``BoundedHttpTools`` counts the
bytes of each request's head (request line and headers) and answers 431 and closes the
connection past ``PAYREQ_MAX_HEADER_BYTES``. Concurrency is bounded by uvicorn's
``limit_concurrency`` (``PAYREQ_MAX_CONNECTIONS``: past it, new requests get 503).
A reverse proxy in front should bound the same (and body size, and slow clients);
the README's deploy section says how.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from payreq.config import get_settings

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 38\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request header fields are too large.\r\n"
)


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
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._tail = b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # keep-alive: the next request's head starts
