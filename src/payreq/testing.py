"""Test your own integration against the real gateway, not a mock.

``LocalServer`` starts an ephemeral ``payreq serve`` (a child process) on a free
loopback port, with a temporary SQLite database, its own worker (webhooks are really
delivered) and a sandbox account, and stops it and deletes everything when done:

    from payreq.testing import LocalServer

    with LocalServer() as server:
        payment = server.client.create_payment_request(
            amount=1000, currency="EUR", redirect_url="https://shop.example/thanks"
        )
        server.pay(payment.id)  # the sandbox simulator, as a payer would
        assert server.client.get_payment_request(payment.id).status == "paid"

As a pytest plugin (``pytest -p payreq.testing``, or ``-p payreq.testing`` in your
``addopts``) it gives the fixtures ``payreq_server`` (one ``LocalServer`` for the whole
session) and ``payreq_client`` (its ``Client``). ``sign_webhook`` makes the body and
headers of a real delivery, for testing your webhook handler without a server.

This module imports ``payreq.client`` and ``payreq.webhooks`` only: the server runs
in its own process, started with ``python -m payreq`` (or ``command=``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import httpx

from payreq.client import AsyncClient, Client, Payment
from payreq.webhooks import WebhookEvent, signature

__all__ = ["LocalServer", "SignedWebhook", "payreq_client", "payreq_server", "sign_webhook"]

WEBHOOK_USER_AGENT = "payreq-webhooks/1"


class SignedWebhook(NamedTuple):
    """What a delivery carries: POST ``body`` with ``headers``."""

    body: bytes
    headers: dict[str, str]


def sign_webhook(
    event: Mapping[str, Any] | WebhookEvent,
    secret: str | Sequence[str],
    *,
    id: str | None = None,
    timestamp: int | None = None,
) -> SignedWebhook:
    """The body and Standard Webhooks headers of a delivery of ``event`` (a ``WebhookEvent``,
    or the body's object ``{"type", "timestamp", "data"}``), signed with ``secret`` (or with
    each of several, as during a rotation). ``id`` is ``webhook-id`` (default: a new UUID,
    or the event's own id); ``timestamp`` is Unix seconds (default: now)."""
    if isinstance(event, WebhookEvent):
        stamp = event.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        payload: Mapping[str, Any] = {"type": event.type, "timestamp": stamp, "data": dict(event.data)}
        msg_id = id or event.id
    else:
        payload = event
        msg_id = id or str(uuid.uuid4())
    body = json.dumps(payload, separators=(",", ":")).encode()
    at = int(time.time()) if timestamp is None else timestamp
    secrets = [secret] if isinstance(secret, str) else list(secret)
    return SignedWebhook(
        body,
        {
            "content-type": "application/json",
            "user-agent": WEBHOOK_USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(at),
            "webhook-signature": " ".join(signature(s, msg_id, at, body) for s in secrets),
        },
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalServer:
    """An ephemeral payreq with a sandbox account; see the module docstring.

    ``env`` adds server settings (``{"PAYREQ_DEFAULT_RATE_LIMIT": "50"}``); the
    caller's own ``PAYREQ_*`` variables never reach the server, so a test can never
    touch a real database. Webhooks may go to loopback addresses (your test's
    receiver). ``command`` runs the server another way (default ``python -m payreq``).
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.command = list(command or [sys.executable, "-m", "payreq"])
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self.credentials: dict[str, str] = {}
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._client: Client | None = None

    # -- what a test uses --------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The sandbox account's API key (with ``client_secret``)."""
        return self.credentials["client_id"]

    @property
    def client_secret(self) -> str:
        return self.credentials["client_secret"]

    @property
    def client_token(self) -> str:
        """A ``*`` client token of the default application."""
        return self.credentials["client_token"]

    @property
    def application_client_id(self) -> str:
        """The default payment application's Client ID."""
        return self.credentials["application_client_id"]

    @property
    def webhook_secret(self) -> str:
        """The default application's webhook secret."""
        return self.credentials["webhook_secret"]

    @property
    def client(self) -> Client:
        """A ``Client`` with the account's API key (access token, scope ``*``)."""
        if self._client is None:
            self._client = Client(**self.client_options())
        return self._client

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for your own ``Client(...)`` or ``AsyncClient(...)``."""
        self._require_started()
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "application_client_id": self.application_client_id,
        }

    def async_client(self) -> AsyncClient:
        """A new ``AsyncClient`` with the account's API key; close it yourself."""
        return AsyncClient(**self.client_options())

    def environ(self) -> dict[str, str]:
        """The variables your application reads (``os.environ.update(server.environ())``)."""
        self._require_started()
        return {
            "PAYREQ_BASE_URL": self.base_url,
            "PAYREQ_CLIENT_ID": self.client_id,
            "PAYREQ_CLIENT_SECRET": self.client_secret,
            "PAYMENT_CLIENT_ID": self.application_client_id,
            "PAYMENT_CLIENT_TOKEN": self.client_token,
            "WEBHOOK_SECRET": self.webhook_secret,
        }

    def pay(self, payment_id: str) -> Payment:
        """Settle a pending payment as paid, as a payer would at the sandbox checkout."""
        return self.client.simulate_payment(payment_id, "paid")

    def expire(self, payment_id: str) -> Payment:
        """Let a pending payment expire now."""
        return self.client.simulate_payment(payment_id, "expired")

    def cancel(self, payment_id: str) -> Payment:
        """Cancel a pending payment, as a payer would at the checkout."""
        return self.client.simulate_payment(payment_id, "cancelled")

    @contextmanager
    def receive_webhooks(
        self, handler: Callable[[bytes, dict[str, str]], int], *, application_client_id: str | None = None
    ) -> Iterator[str]:
        """Real deliveries to your handler: a loopback HTTP receiver that calls
        ``handler(body, headers)`` (lower-case header names) and answers the status it
        returns, made the application's webhook URL until the block ends. Yields the URL.
        The default application is the one contract A payments belong to."""
        application = application_client_id or self.application_client_id

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    status = handler(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:
                    status = 500
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        thread = threading.Thread(target=receiver.serve_forever, name="payreq-webhooks", daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks"
        try:
            self.client.update_application(application, webhook_url=url)
            yield url
        finally:
            try:
                self.client.update_application(application, webhook_url=None)
            finally:
                receiver.shutdown()
                receiver.server_close()
                thread.join()

    def log(self) -> str:
        """What the server wrote so far."""
        if self._dir is None or not (self._dir / "server.log").exists():
            return ""
        return (self._dir / "server.log").read_text(errors="replace")

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> LocalServer:
        if self._process is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="payreq-local-"))
        try:
            env = self._environment()
            self._cli(["migrate"], env)
            self.credentials = json.loads(self._cli(["bootstrap", "--json", "--environment", "sandbox"], env))
            self._serve(env)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- pieces ------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        assert self._dir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")}
        env.update(
            PAYREQ_DATABASE_URL=f"sqlite:///{self._dir / 'payreq.db'}",
            PAYREQ_LOG_LEVEL="WARNING",
            PAYREQ_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8,::1/128",
        )
        env.update(self.extra_env)
        return env

    def _cli(self, args: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(  # noqa: S603 - our own command line, no shell
            [*self.command, *args], env=env, cwd=self._dir, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"payreq {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def _serve(self, env: dict[str, str]) -> None:
        assert self._dir is not None
        for _ in range(3):  # a free port may be taken by someone else before we bind it
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            with (self._dir / "server.log").open("ab") as out:
                self._process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
                    [*self.command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env={**env, "PAYREQ_BASE_URL": base_url},
                    cwd=self._dir,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready(base_url):
                self.base_url = base_url
                return
        raise RuntimeError(f"payreq serve did not start:\n{self.log()[-3000:]}")

    def _wait_ready(self, base_url: str) -> bool:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                return False
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"payreq serve did not answer in {self.startup_timeout:g} s:\n{self.log()[-3000:]}"
        )

    def _require_started(self) -> None:
        if not self.base_url:
            raise RuntimeError("the LocalServer is not started: use it as a context manager or call start()")


# -- the pytest plugin (``pytest -p payreq.testing``) ---------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pass
else:

    @pytest.fixture(scope="session")
    def payreq_server() -> Iterator[LocalServer]:
        """One ephemeral payreq for the whole test session."""
        with LocalServer() as server:
            yield server

    @pytest.fixture
    def payreq_client(payreq_server: LocalServer) -> Client:
        """The session server's ``Client`` (API key, scope ``*``)."""
        return payreq_server.client
