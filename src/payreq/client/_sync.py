"""``Client``: the synchronous face of the SDK, on ``httpx.Client``. Every method builds
its call with ``_operations`` and runs it through the shared ``_core``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from payreq.client import _operations as ops
from payreq.client._core import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Call,
    Core,
    Flow,
    NeedToken,
    Options,
    RetryPolicy,
    Send,
    Sleep,
    WaitOptions,
    WriteOptions,
)
from payreq.client._env import resolve
from payreq.client._models import (
    Application,
    ApplicationWithSecret,
    ClientToken,
    Event,
    EventDetail,
    Instructions,
    NewClientToken,
    Payment,
    PaymentRequest,
    StatementImport,
)
from payreq.client._pagination import Paginator

T = TypeVar("T")


class Client:
    """A synchronous payreq client; safe to share between threads.

    ``Client(base_url, client_id=..., client_secret=...)`` for an API key (the access
    token is fetched, cached and refreshed by itself), or ``Client(base_url,
    client_token=...)`` for a payment application's client token. Without arguments it
    reads ``PAYREQ_BASE_URL``, ``PAYREQ_CLIENT_ID``/``PAYREQ_CLIENT_SECRET`` or
    ``PAYREQ_CLIENT_TOKEN`` (and the seeds' ``PAYMENT_CLIENT_TOKEN``, ``PAYMENT_CLIENT_ID``).

    ``timeout`` bounds each attempt, ``max_retries`` the retries after a 429, 5xx or
    failed connection, ``rate_limit`` is the budget assumed (requests per second) until
    the server's ``RateLimit-*`` headers tell the real one (``None``: no client-side
    limiter). ``http_client`` or ``transport`` replace the underlying httpx pieces.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        client_token: str | None = None,
        application_client_id: str | None = None,
        scope: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: int | None = 5,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        credentials, self.application_client_id = resolve(
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            client_token=client_token,
            application_client_id=application_client_id,
            scope=scope,
        )
        self._core = Core(
            credentials,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            retry=retry or RetryPolicy(),
            clock=clock,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport)
        self._sleep = sleep
        self._token_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self._core.base_url

    # -- running the core's flows ------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        result: Any = None
        try:
            while True:
                action = flow.send(result)
                if isinstance(action, Send):
                    try:
                        result = self._send(action)
                    except httpx.RequestError as exc:
                        result = exc
                elif isinstance(action, Sleep):
                    self._sleep(action.seconds)
                    result = None
                elif isinstance(action, NeedToken):
                    result = self._token(action.stale)
        except StopIteration as done:
            value: T = done.value
            return value
        finally:
            flow.close()  # a cancelled or interrupted call ends its flow now: its limiter slot is freed

    def _send(self, action: Send) -> httpx.Response:
        """Send, and with a deadline's time left (``action.total``) read the body in
        chunks, giving up once the time is spent: a server that trickles its answer a
        byte at a time stays within every per-read time-out, and would otherwise hold a
        ``wait_for_payment`` past its own. (Its head is bounded by the per-read
        time-outs only: a blocking client has no way to cut a read short.)"""
        if action.total is None:
            return self._http.send(action.request)
        end = time.monotonic() + action.total
        response = self._http.send(action.request, stream=True)
        if response.is_stream_consumed:  # a transport that answers from memory
            return response
        try:
            raw = []
            for chunk in response.iter_raw():
                raw.append(chunk)
                if time.monotonic() >= end:
                    raise httpx.ReadTimeout("the wait's deadline passed", request=action.request)
        finally:
            response.close()
        whole = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=b"".join(raw),
            request=action.request,
            extensions=response.extensions,
        )
        whole.read()
        return whole

    def _token(self, stale: str | None) -> str:
        with self._token_lock:
            token = self._core.tokens.current(self._core.clock(), stale)
            return token if token is not None else self._run(self._core.token_flow())

    def _call(self, call: Call[T]) -> T:
        return self._run(self._core.flow(call))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- contract A: payment requests ---------------------------------------------------

    def create_payment_request(self, **params: Unpack[ops.CreatePaymentRequest]) -> PaymentRequest:
        """Create a payment request; send the payer to its ``checkout_url``."""
        return self._call(ops.create_payment_request(params))

    def get_payment_request(self, id: str, /, **options: Unpack[Options]) -> PaymentRequest:
        """Read a payment request."""
        return self._call(ops.get_payment_request(id, options))

    def cancel_payment_request(self, id: str, /, **options: Unpack[WriteOptions]) -> PaymentRequest:
        """Cancel a pending payment request (ConflictError once it is terminal)."""
        return self._call(ops.cancel_payment_request(id, options))

    def list_payment_requests(self, **params: Unpack[ops.ListPaymentRequests]) -> Paginator[PaymentRequest]:
        """Payment requests, newest first, every page."""
        return Paginator(self._call, ops.list_payment_requests(params))

    def wait_for_payment(
        self, id: str, /, timeout: float = 300.0, **options: Unpack[WaitOptions]
    ) -> PaymentRequest:
        """Poll until the payment request is paid, expired or cancelled (WaitTimeout after ``timeout`` s)."""
        return self._run(self._core.wait_flow(lambda o: ops.get_payment_request(id, o), timeout, options))

    # -- contract B: payments ---------------------------------------------------------

    def create_checkout(self, **params: Unpack[ops.CreateCheckout]) -> Payment:
        """Create a payment of a payment application; send the payer to its ``checkout_url``."""
        return self._call(ops.create_checkout(params, self.application_client_id))

    def get_payment(self, id: str, /, **options: Unpack[Options]) -> Payment:
        """Read a payment."""
        return self._call(ops.get_payment(id, options))

    def get_instructions(self, id: str, /, method: str, **options: Unpack[Options]) -> Instructions:
        """What the payer must do to pay with ``method`` (sandbox, bank_transfer, ...)."""
        return self._call(ops.get_instructions(id, method, options))

    def list_payments(self, **params: Unpack[ops.ListPayments]) -> Paginator[Payment]:
        """The account's payments, newest first, every page (access token only)."""
        return Paginator(self._call, ops.list_payments(params))

    def simulate_payment(self, id: str, /, outcome: ops.Outcome, **options: Unpack[WriteOptions]) -> Payment:
        """Sandbox only: settle a pending payment as paid, cancelled or expired."""
        return self._call(ops.simulate_payment(id, outcome, options))

    # -- applications and client tokens (access token only) ---------------------------

    def list_applications(self, **options: Unpack[Options]) -> list[Application]:
        return self._call(ops.list_applications(options))

    def create_application(self, **params: Unpack[ops.CreateApplication]) -> ApplicationWithSecret:
        """Create a payment application; only this answer shows its ``webhook_secret``."""
        return self._call(ops.create_application(params))

    def get_application(self, client_id: str, /, **options: Unpack[Options]) -> Application:
        return self._call(ops.get_application(client_id, options))

    def update_application(self, client_id: str, /, **params: Unpack[ops.UpdateApplication]) -> Application:
        """Change the fields given; ``None`` clears an optional one."""
        return self._call(ops.update_application(client_id, params))

    def delete_application(self, client_id: str, /, **options: Unpack[Options]) -> None:
        """Archive an application: its payments stay, its client tokens stop working."""
        return self._call(ops.delete_application(client_id, options))

    def rotate_webhook_secret(
        self, client_id: str, /, **options: Unpack[WriteOptions]
    ) -> ApplicationWithSecret:
        """A new webhook secret; the previous one also signs for 24 hours."""
        return self._call(ops.rotate_webhook_secret(client_id, options))

    def create_client_token(
        self, client_id: str, /, **params: Unpack[ops.CreateClientToken]
    ) -> NewClientToken:
        """A client token of the application; its secret ``token`` is in this answer only."""
        return self._call(ops.create_client_token(client_id, params))

    def list_client_tokens(self, client_id: str, /, **options: Unpack[Options]) -> list[ClientToken]:
        return self._call(ops.list_client_tokens(client_id, options))

    def revoke_client_token(self, client_id: str, token_id: str, /, **options: Unpack[Options]) -> None:
        return self._call(ops.revoke_client_token(client_id, token_id, options))

    # -- events -----------------------------------------------------------------------

    def list_events(self, **params: Unpack[ops.ListEvents]) -> Paginator[Event]:
        """The event log, oldest first, every page."""
        return Paginator(self._call, ops.list_events(params))

    def get_event(self, id: str, /, **options: Unpack[Options]) -> EventDetail:
        """An event with every attempt to deliver it."""
        return self._call(ops.get_event(id, options))

    def redeliver_event(self, id: str, /, **options: Unpack[WriteOptions]) -> EventDetail:
        return self._call(ops.redeliver_event(id, options))

    def replay_events(self, since: datetime, /, **options: Unpack[WriteOptions]) -> int:
        """Send again every failed event since ``since``; answers how many."""
        return self._call(ops.replay_events(since, options))

    # -- bank statements --------------------------------------------------------------

    def import_statement(
        self, content: bytes | str, /, **params: Unpack[ops.ImportStatement]
    ) -> StatementImport:
        """Import a bank statement (CSV or camt.053); every line is reported."""
        return self._call(ops.import_statement(content, params))

    def get_statement_import(self, id: str, /, **options: Unpack[Options]) -> StatementImport:
        return self._call(ops.get_statement_import(id, options))
