"""One attempt over HTTP: POST the signed body, wait at most the time-out, read at most
the first KiB of the answer, follow no redirect. Every URL goes through a client whose
network backend checks the addresses it connects to (``ssrf.GuardedBackend``).

The answer's body is kept (to show in the attempt log) only when it came from a public
address: from a network the operator allowed (loopback, a private range), a merchant
would otherwise read the gateway's own internal services through the event log."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from payreq.kit.clock import utc_now
from payreq.webhook.config import WebhookConfig
from payreq.webhook.ssrf import IPAddress, Reach, is_public, reach_for, syntax_problem


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt saw."""

    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - utc_now()).total_seconds())


CONNECTIONS_PER_CLIENT = 4
"""httpcore's pool looks at every connection it holds on each request: 32 connections in
one pool deliver a third of what eight pools of four do (bench/webhooks.py)."""


class Sender:
    """Sends attempts through pooled clients: per kind of reach (public https, sandbox
    loopback...), ``concurrency / 4`` small pools taken in turn."""

    def __init__(self, config: WebhookConfig, *, public: Callable[[IPAddress], bool] = is_public) -> None:
        self.config = config
        self.public = public
        self._shards = max(1, -(-config.concurrency // CONNECTIONS_PER_CLIENT))
        self._turn = itertools.count()
        self._clients: dict[tuple[Reach, int], httpx.AsyncClient] = {}
        self._ssl_context: ssl.SSLContext | None = None

    def _client(self, reach: Reach) -> httpx.AsyncClient:
        key = (reach, next(self._turn) % self._shards)
        client = self._clients.get(key)
        if client is None:
            size = min(CONNECTIONS_PER_CLIENT, self.config.concurrency)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=5.0)
            from payreq.webhook.ssrf import GuardedTransport

            client = self._clients[key] = httpx.AsyncClient(
                transport=GuardedTransport(reach, limits=limits, ssl_context=self._tls()),
                timeout=httpx.Timeout(self.config.timeout),
                follow_redirects=False,
                trust_env=False,
            )
        return client

    def _tls(self) -> ssl.SSLContext:
        """One context for every pool: loading the CA bundle takes about 20 ms."""
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def send(self, url: str, payload: str, headers: dict[str, str]) -> Outcome:
        started = time.perf_counter()
        problem = syntax_problem(url)
        if problem:
            return Outcome(None, 0, None, f"refused: the webhook URL {problem}")
        reach = reach_for(urlsplit(url).scheme, policy=self.config.policy)
        try:
            async with asyncio.timeout(self.config.timeout):
                return await self._post(self._client(reach), url, payload, headers, started)
        except TimeoutError:
            return Outcome(None, _ms(started), None, f"timed out after {self.config.timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), None, _describe(exc))

    async def _post(
        self, client: httpx.AsyncClient, url: str, payload: str, headers: dict[str, str], started: float
    ) -> Outcome:
        async with client.stream("POST", url, content=payload.encode(), headers=headers) as response:
            latency = _ms(started)
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= self.config.response_bytes:
                        break
            except httpx.HTTPError:
                pass  # the status is what counts; a broken body is shown as far as it came
            code = response.status_code
            error = None
            if 300 <= code < 400:
                error = f"redirects are not followed (Location: {response.headers.get('location', '')[:200]})"
            retry_after = (
                retry_after_seconds(response.headers.get("retry-after")) if code in (429, 503) else None
            )
            text: str | None = bytes(body[: self.config.response_bytes]).decode("utf-8", errors="replace")
            if not self._from_public(response):
                text = None  # an operator-allowed network's answer is not stored or shown
            return Outcome(code, latency, text, error, retry_after)

    def _from_public(self, response: httpx.Response) -> bool:
        stream = response.extensions.get("network_stream")
        address = stream.get_extra_info("server_addr") if stream is not None else None
        if not address:
            return False
        try:
            return self.public(ipaddress.ip_address(str(address[0]).split("%", 1)[0]))
        except ValueError:
            return False

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _ms(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" not in text.lower():
        text = f"could not connect: {text}"
    return text[:500]
