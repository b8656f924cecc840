"""A merchant's webhook endpoint for tests: a real HTTP server on 127.0.0.1 (threads,
so it answers whatever the event loop of the test is doing), with scripted answers,
and a record of every request. It can go down and come back on the same port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fixtures.live import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """``time.time()`` when it arrived."""

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None
    """Answer only once this is set (at most 30 s): a request left hanging."""


Script = Callable[[Received], Answer]


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        """Answers for the next requests, in order; then ``default``."""
        self.default = Answer()
        self.script: Script | None = None
        self.in_flight: dict[str, int] = {}
        self.overlaps: list[str] = []
        """webhook-ids that arrived while the same id was still being answered."""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.time(),
                )
                answer = receiver._arrive(request)
                try:
                    if answer.hold is not None:
                        answer.hold.wait(timeout=30)
                    if answer.delay:
                        time.sleep(answer.delay)
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender gave up (time-out); that is its business
                finally:
                    receiver._leave(request)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: connections are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _arrive(self, request: Received) -> Answer:
        with self._lock:
            self.received.append(request)
            webhook_id = request.headers.get("webhook-id", "")
            if self.in_flight.get(webhook_id):
                self.overlaps.append(webhook_id)
            self.in_flight[webhook_id] = self.in_flight.get(webhook_id, 0) + 1
            if self.script is not None:
                return self.script(request)
            return self.answers.pop(0) if self.answers else self.default

    def _leave(self, request: Received) -> None:
        with self._lock:
            self.in_flight[request.headers.get("webhook-id", "")] -= 1

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def of(self, webhook_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.headers.get("webhook-id") == webhook_id]
