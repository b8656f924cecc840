"""One attempt over HTTP: POST the signed body, wait at most the time-out, read at most
the first KiB of the answer, follow no redirect. Every URL goes through a client whose
connector checks the addresses it connects to: names through ``GuardedResolver``,
literal addresses here, and every socket once more (``ssrf.guarded_socket_factory``).

The client is aiohttp's: per attempt it takes about a sixth of the CPU httpx took
(bench/webhooks.py), which was two thirds of what one worker spent on a delivery.

The answer's body is kept (to show in the attempt log) only when it came from a public
address: from a network the operator allowed (loopback, a private range), a merchant
would otherwise read the gateway's own internal services through the event log."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult

from payreq.webhook.config import WebhookConfig
from payreq.webhook.outcome import Outcome, retry_after_seconds
from payreq.webhook.ssrf import (
    BlockedAddress,
    IPAddress,
    Reach,
    UrlPolicy,
    checked_addresses,
    guarded_socket_factory,
    host_of,
    is_public,
    literal_address,
    reach_for,
    syntax_problem,
)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the address check at the moment of connecting: the
    connector connects only to the addresses this hands back, all of them checked
    (``checked_addresses``); TLS still verifies the URL's name, which aiohttp keeps as
    the server name. A connector asks it for names only: literal addresses are checked
    by the sender, and every socket once more (``guarded_socket_factory``)."""

    def __init__(self, reach: Reach) -> None:
        self.reach = reach

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": str(ip),
                "port": port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for ip in await checked_addresses(self.reach, host, port)
        ]

    async def close(self) -> None:
        pass


KEEPALIVE_SECONDS = 5.0
PLANS_KEPT = 4096
"""URLs whose checks a sender remembers (then it forgets them all and starts again)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    refusal: str | None
    """Why nothing is sent (the URL, or its literal address); else None."""
    reach: Reach | None
    target: str
    host: str | None = None
    """A ``Host`` header for a target rewritten from a legacy spelling of an address."""


def _plan(url: str, policy: UrlPolicy) -> _Plan:
    problem = syntax_problem(url)
    if problem:
        return _Plan(f"refused: the webhook URL {problem}", None, url)
    parts = urlsplit(url)
    reach = reach_for(parts.scheme, policy=policy)
    host = host_of(url)
    literal = literal_address(host)
    if literal is None:
        return _Plan(None, reach, url)
    # the connector resolves names only: a literal address is checked here
    if not reach.allows(literal):
        return _Plan(f"refused: {host} resolves to {literal}, which this URL may not reach", reach, url)
    if literal.version == 4 and host != str(literal):  # 0x7f000001, 2130706433, 127.1
        netloc = str(literal) if parts.port is None else f"{literal}:{parts.port}"
        return _Plan(None, reach, urlunsplit(parts._replace(netloc=netloc)), parts.netloc)
    return _Plan(None, reach, url)


class _Response(aiohttp.ClientResponse):
    """An answer that remembers the address it came from: aiohttp hands a connection
    back to its pool as soon as a short answer has arrived whole."""

    peer: object = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        self.peer = transport.get_extra_info("peername") if transport is not None else None
        return await super().start(connection)


class Sender:
    """Sends attempts through one pooled client per kind of reach (public https, an
    operator-allowed network...), each with up to ``concurrency`` connections."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        public: Callable[[IPAddress], bool] = is_public,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.public = public
        self._sessions: dict[Reach, aiohttp.ClientSession] = {}
        self._ssl_context = ssl_context
        self._plans: dict[str, _Plan] = {}

    def _session(self, reach: Reach) -> aiohttp.ClientSession:
        session = self._sessions.get(reach)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self.config.concurrency,
                limit_per_host=0,
                resolver=GuardedResolver(reach),
                use_dns_cache=False,  # every new connection resolves and checks again
                socket_factory=guarded_socket_factory(reach),
                ssl=self._tls(),
                keepalive_timeout=KEEPALIVE_SECONDS,
            )
            session = self._sessions[reach] = aiohttp.ClientSession(
                connector=connector,
                # the attempt's one time-out is send()'s, around all of it (name, connect,
                # TLS, answer, body): a second timer here would only cost CPU
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,  # a proxy from the environment would connect for us, unchecked
                cookie_jar=aiohttp.DummyCookieJar(),  # one merchant's cookies are no other's
                raise_for_status=False,
                response_class=_Response,
            )
        return session

    def _tls(self) -> ssl.SSLContext:
        """One context for every client (loading the CA bundle takes about 20 ms): the
        bundle httpx used, certifi's, unless ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` names one."""
        if self._ssl_context is None:
            if os.environ.get("SSL_CERT_FILE"):
                self._ssl_context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self._ssl_context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
            else:
                self._ssl_context = ssl.create_default_context(cafile=certifi.where())
        return self._ssl_context

    def _plan(self, url: str) -> _Plan:
        """What sending to ``url`` takes, worked out once per URL (they repeat)."""
        plan = self._plans.get(url)
        if plan is not None:
            return plan
        if len(self._plans) >= PLANS_KEPT:
            self._plans.clear()
        plan = self._plans[url] = _plan(url, self.config.policy)
        return plan

    async def send(self, url: str, payload: str, headers: dict[str, str]) -> Outcome:
        started = time.perf_counter()
        plan = self._plan(url)
        if plan.refusal is not None:
            return Outcome(None, 0 if plan.reach is None else _ms(started), None, plan.refusal)
        assert plan.reach is not None
        if plan.host is not None:
            headers = {**headers, "host": plan.host}
        try:
            async with asyncio.timeout(self.config.timeout):
                return await self._post(self._session(plan.reach), plan.target, payload, headers, started)
        except TimeoutError:
            return Outcome(None, _ms(started), None, f"timed out after {self.config.timeout:g} s")
        except aiohttp.ClientError as exc:
            return Outcome(None, _ms(started), None, _describe(exc))

    async def _post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        payload: str,
        headers: dict[str, str],
        started: float,
    ) -> Outcome:
        async with session.post(
            url, data=payload.encode(), headers=headers, allow_redirects=False
        ) as response:
            latency = _ms(started)
            body = bytearray()
            try:
                while len(body) < self.config.response_bytes:
                    chunk = await response.content.read(self.config.response_bytes - len(body))
                    if not chunk:
                        break
                    body += chunk
            except aiohttp.ClientError:
                pass  # the status is what counts; a broken body is shown as far as it came
            code = response.status
            error = None
            if 300 <= code < 400:
                # the Location is the receiver's to choose: naming it would read out
                # whatever an internal service redirects to
                error = f"redirect (not followed): HTTP {code}"
            retry_after = (
                retry_after_seconds(response.headers.get("retry-after")) if code in (429, 503) else None
            )
            text: str | None = bytes(body).decode("utf-8", errors="replace")
            if not self._from_public(response.peer if isinstance(response, _Response) else None):
                text = None  # an operator-allowed network's answer is not stored or shown
            return Outcome(code, latency, text, error, retry_after)

    def _from_public(self, peer: object) -> bool:
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            return self.public(ipaddress.ip_address(str(peer[0]).split("%", 1)[0]))
        except ValueError:
            return False

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _ms(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


NOT_HTTP = "not an HTTP answer"
"""An answer that is no HTTP response (an SSH banner, a Redis error...). What it said
is never recorded: the merchant reads the attempt, and an operator-allowed network's
services would otherwise answer the merchant through it (a port scanner's banner grab)."""


def _describe(exc: aiohttp.ClientError) -> str:
    """A fixed description of a failed attempt, in words of our own: the OS's, TLS's or
    ours, never text the receiver sent."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        text = f"could not connect: {exc.certificate_error}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, BlockedAddress):
            text = str(cause)
        elif cause.errno and cause.strerror and not str(cause.strerror).startswith(os.strerror(cause.errno)):
            text = f"could not connect: {os.strerror(cause.errno)} ({cause.strerror})"
        else:
            text = f"could not connect: {cause.strerror or cause}"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        text = "Server disconnected without sending a response."
    elif isinstance(exc, aiohttp.ClientResponseError):
        # the parser's message quotes the line it could not read: the receiver's bytes
        text = NOT_HTTP
    else:
        text = f"could not send: {type(exc).__name__}"
    return text[:500]
