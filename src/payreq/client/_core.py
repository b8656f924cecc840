"""The sans-I/O core that both clients share: it builds every request, reads every
answer, and decides about tokens, retries and the rate limit. It performs no I/O: a
call is a generator that yields what it needs (send this request, sleep this long, give
me a token) and receives the result; ``Client`` runs it with ``httpx.Client`` and
``time.sleep``, ``AsyncClient`` with ``httpx.AsyncClient`` and ``asyncio.sleep``.

One call, step by step:

1. With an API key (``client_id`` + ``client_secret``) it asks for the access token; the
   client fetches one from ``/oauth/token`` on first use and again shortly before
   ``expires_in`` runs out (one fetch at a time, shared by every call).
2. It waits for a slot of the rate limiter (``_ratelimit``), then sends.
3. A 401 with an API key fetches a new token and sends again, once.
4. 429, 500, 502, 503, 504 and failed connections are retried up to ``max_retries``
   times, after ``Retry-After`` when the answer has one, else after an exponential
   back-off with full jitter. POST and PATCH carry an ``Idempotency-Key`` (yours, or one
   generated per call) that every retry repeats with the same bytes, so a retried
   create never makes two payments. No other 4xx is retried, with two exceptions that
   follow an attempt that may have been carried out although its answer never came
   (see ``MAYBE_DONE``): a 409 ``idempotency_key_in_use`` (that attempt still runs on
   the server) is retried, and a DELETE's 404 means that attempt did it.
5. Only a success status is parsed into the call's model: 204 for a DELETE (what payreq
   answers), any 2xx for the rest. Anything else raises from ``_exceptions``, a 3xx
   too (payreq never redirects an API call: a redirect means a wrong ``base_url`` or a
   proxy in between, and nothing was done).
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote, quote_plus

import httpx

from payreq.client._exceptions import APIError, RateLimitError, TransportError, WaitTimeout, error_class
from payreq.client._models import PaymentRequest
from payreq.client._ratelimit import RateLimiter
from payreq.client._version import USER_AGENT

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAYBE_DONE_STATUSES = frozenset({502, 504})
"""A gateway's answers for an upstream that did not answer in time or at all: payreq
may have carried the request out. A 429 (refused before anything ran), a 503 and a
500 (payreq's own: its handler failed and its transaction was rolled back) mean it was
not, so a DELETE retried after them and answered 404 raises NotFoundError."""
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before the request left: the server never saw it. Any other transport error
(a read time-out, a connection dropped mid-answer) may follow a request carried out."""
WRITE_METHODS = frozenset({"POST", "PATCH"})
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3


class Options(TypedDict, total=False):
    """Per-call options, accepted by every method."""

    timeout: float | httpx.Timeout | None
    """Seconds one attempt may take (connect, send, wait, read); default: the client's."""
    max_retries: int
    """Retries after a 429, 5xx or failed connection; default: the client's (3)."""
    extra_headers: Mapping[str, str]
    """Headers added to this call's requests."""


class WriteOptions(Options, total=False):
    """Per-call options of a method that creates or changes something."""

    idempotency_key: str
    """Sent as ``Idempotency-Key`` on every attempt; default: a new UUID per call."""


class WaitOptions(TypedDict, total=False):
    """Options of ``wait_for_payment``, whose own ``timeout`` is the whole wait."""

    request_timeout: float | None
    """Seconds each poll may take (cut to the time left); default: the client's timeout."""
    max_retries: int
    extra_headers: Mapping[str, str]


OPTION_NAMES = frozenset(WriteOptions.__optional_keys__)


def split_options(params: Mapping[str, Any], fields: frozenset[str]) -> tuple[dict[str, Any], WriteOptions]:
    """A method's ``**params`` into its body fields and its options; a name it does not
    know is a TypeError, as Python would raise for a misspelt keyword argument."""
    unknown = set(params) - fields - OPTION_NAMES
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    body = {k: v for k, v in params.items() if k in fields}
    options: WriteOptions = {k: v for k, v in params.items() if k in OPTION_NAMES}  # type: ignore[assignment]
    return body, options


def segment(value: str) -> str:
    """An id as one path segment, so that it can never reach another resource: every
    character but the unreserved ones is percent-encoded, and an id that no quoting makes
    safe is refused before anything is sent (ValueError): an empty one (it would name the
    collection), ``.`` or ``..`` (a URL's dot segments are resolved away: ``tokens/..`` is
    the application itself), or one with a ``/`` or ``\\`` (a server may decode ``%2F``
    and route ``{app}%2Ftokens`` as ``{app}/tokens``). No payreq id has any of these."""
    text = str(value)
    if text in ("", ".", "..") or "/" in text or "\\" in text:
        raise ValueError(f"{text!r} is not an id: an id is never empty, '.' or '..', and has no '/' or '\\'")
    return quote(text, safe="")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One operation: what to send, and how to read a 2xx answer's JSON."""

    method: str
    path: str
    parse: Callable[[Any], T]
    options: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, str | int] | None = None
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    authenticated: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.options) - OPTION_NAMES
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")


# -- what a call asks its driver for ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    request: httpx.Request
    total: float | None = None
    """Seconds the whole exchange may take (a deadline's time left), else unbounded."""


class DeadlineReached(Exception):
    """A flow with a deadline (``wait_for_payment``'s) would wait or send past it."""


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class NeedToken:
    stale: str | None
    """The token a 401 refused: replace it, not just any expired one."""


Action = Send | Sleep | NeedToken
Flow = Generator[Action, Any, T]


# -- policies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with full jitter: attempt n waits a random time in
    [0, min(cap, base * 2**n)], or the answer's ``Retry-After`` when it has one (up to
    ``max_retry_after``, 60 s by default; a longer one is raised at once as
    ``RateLimitError`` rather than slept through, and so is every later call of the
    client while that wait lasts: none of them sleeps longer than ``max_retry_after``)."""

    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0
    jitter: Callable[[], float] = random.random
    """A random number in [0, 1): the share of the back-off to wait."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.jitter() * min(self.cap, self.base * 2.0**attempt)


@dataclass(slots=True)
class TokenCache:
    """The access token and when to stop using it (monotonic seconds)."""

    token: str | None = None
    refresh_at: float = 0.0

    def current(self, now: float, stale: str | None) -> str | None:
        if self.token is None or now >= self.refresh_at or self.token == stale:
            return None
        return self.token

    def store(self, token: str, expires_in: float, now: float) -> None:
        margin = min(60.0, max(1.0, expires_in * 0.1))
        self.token = token
        self.refresh_at = now + max(0.0, expires_in - margin)


def retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After``: seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True, slots=True)
class Credentials:
    base_url: str
    client_id: str | None = None
    client_secret: str | None = None
    client_token: str | None = None
    scope: str | None = None

    @property
    def uses_api_key(self) -> bool:
        return self.client_token is None


class Core:
    """Everything the two clients share; no I/O."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        rate_limit: int | None,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.base_url = credentials.base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry = retry
        self.clock = clock
        self.limiter = RateLimiter(rate_limit, clock=clock) if rate_limit else None
        self.tokens = TokenCache()

    # -- a call -------------------------------------------------------------------------

    def _left(self, deadline: float | None, wait: float = 0.0) -> float | None:
        """The time left before ``deadline`` once ``wait`` more seconds are spent
        (DeadlineReached when none is), or None without a deadline."""
        if deadline is None:
            return None
        left = deadline - self.clock() - wait
        if left <= 0:
            raise DeadlineReached
        return left

    def flow(self, call: Call[T], deadline: float | None = None) -> Flow[T]:
        options = call.options
        retries = options.get("max_retries", self.max_retries)
        key = options.get("idempotency_key")
        if key is None and call.authenticated and call.method in WRITE_METHODS:
            key = str(uuid.uuid4())
        content, content_type = self._body(call)
        token: str | None = None
        if call.authenticated and self.credentials.uses_api_key:
            token = yield NeedToken(stale=None)
        attempt = 0
        refreshed = False
        maybe_done = False  # an earlier attempt may have been carried out; its answer never came
        while True:
            request = self._request(call, token, key, content, content_type, self._left(deadline))
            result = yield from self._send(request, deadline)
            if isinstance(result, httpx.RequestError):
                if isinstance(result, httpx.TransportError) and attempt < retries:
                    wait = self.retry.delay(attempt) or 0.0
                    self._left(deadline, wait)
                    yield Sleep(wait)
                    attempt += 1
                    maybe_done = maybe_done or not isinstance(result, NOT_SENT)
                    continue
                raise TransportError(f"{call.method} {call.path}: {result!r}") from result
            response = result
            status = response.status_code
            if status == 401 and token is not None and not refreshed:
                refreshed = True
                token = yield NeedToken(stale=token)
                continue
            if status in RETRY_STATUSES and attempt < retries:
                delay = self.retry.delay(attempt, retry_after_seconds(response.headers.get("retry-after")))
                if delay is not None:
                    self._left(deadline, delay)
                    yield Sleep(delay)
                    attempt += 1
                    maybe_done = maybe_done or status in MAYBE_DONE_STATUSES
                    continue
            if (
                status == 409
                and maybe_done
                and attempt < retries
                and _code(response) == "idempotency_key_in_use"
            ):
                wait = self.retry.delay(attempt) or 0.0
                self._left(deadline, wait)
                yield Sleep(wait)
                attempt += 1
                continue  # our own earlier attempt, whose answer was lost, still runs
            if status == 404 and maybe_done and call.method == "DELETE":
                return call.parse(None)  # an earlier attempt deleted it; its answer was lost
            if not 200 <= status < 300 or (call.method == "DELETE" and status != 204):
                raise api_error(response, expected="204" if call.method == "DELETE" else "2xx")
            try:
                return call.parse(_json(response))
            except (ValueError, KeyError, TypeError) as exc:  # not payreq's answer (a proxy's page?)
                raise APIError(
                    f"{call.method} {call.path}: the {status} answer is not what payreq sends ({exc!r})",
                    status=status,
                    request_id=response.headers.get("x-request-id"),
                ) from exc

    def wait_flow(
        self, get: Callable[[Mapping[str, Any]], Call[PaymentRequest]], timeout: float, options: WaitOptions
    ) -> Flow[PaymentRequest]:
        """Poll until the payment is terminal: after 0.5 s, then 1.5 times longer each
        time up to 5 s. ``timeout`` bounds the whole wait: each poll's time-out, its
        retries' back-off and ``Retry-After``, the rate limiter's waits, an answer's body
        read in chunks and (in ``AsyncClient``, which can cancel it) a request in flight
        are all cut to the time left, and WaitTimeout is raised once none is."""
        deadline = self.clock() + timeout
        interval = 0.5
        payment: PaymentRequest | None = None
        poll: dict[str, Any] = {k: v for k, v in options.items() if k != "request_timeout"}
        if "request_timeout" in options:
            poll["timeout"] = options["request_timeout"]
        while True:
            try:
                payment = yield from self.flow(get(poll), deadline=deadline)
                if payment.status.terminal:
                    return payment
            except DeadlineReached:
                state = f"still {payment.status.value}" if payment else "not answered"
                name = payment.id if payment else "request"
                raise WaitTimeout(f"payment {name} is {state} after {timeout:g} s", payment=payment) from None
            yield Sleep(max(0.0, min(interval, deadline - self.clock())))
            interval = min(interval * 1.5, 5.0)

    def token_flow(self) -> Flow[str]:
        """Fetch an access token (RFC 6749 §4.4) and keep it."""
        creds = self.credentials
        if creds.client_id is None or creds.client_secret is None:
            raise TypeError("an access token needs client_id and client_secret")
        pair = f"{quote_plus(creds.client_id)}:{quote_plus(creds.client_secret)}"
        form = {"grant_type": "client_credentials"}
        if creds.scope:
            form["scope"] = creds.scope
        call: Call[Mapping[str, Any]] = Call(
            "POST",
            "/oauth/token",
            parse=dict,
            content=httpx.QueryParams(form).__str__().encode(),
            content_type="application/x-www-form-urlencoded",
            authenticated=False,
            options={"extra_headers": {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}},
        )
        body = yield from self.flow(call)
        token = str(body["access_token"])
        self.tokens.store(token, float(body.get("expires_in", 3600)), self.clock())
        return token

    # -- pieces ---------------------------------------------------------------------------

    def _send(
        self, request: httpx.Request, deadline: float | None = None
    ) -> Generator[Action, Any, httpx.Response | httpx.RequestError]:
        limiter = self.limiter
        if limiter is not None:
            while (wait := limiter.try_start()) > 0:
                if wait > self.retry.max_retry_after:
                    raise RateLimitError(
                        f"{request.method} {request.url.path}: payreq asked this client to wait {wait:.0f} s "
                        f"more, longer than RetryPolicy.max_retry_after ({self.retry.max_retry_after:g} s); "
                        "not sent",
                        status=429,
                        retry_after=wait,
                    )
                self._left(deadline, wait)
                yield Sleep(wait)
        try:
            result: httpx.Response | httpx.RequestError = yield Send(request, self._left(deadline))
        except BaseException:  # cancelled (or timed out, interrupted) in flight: free the slot
            if limiter is not None:
                limiter.finish()
            raise
        if limiter is not None:
            if isinstance(result, httpx.Response):
                retry_after = None
                if result.status_code == 429:
                    retry_after = retry_after_seconds(result.headers.get("retry-after")) or 1.0
                limiter.finish(result.headers, retry_after=retry_after)
            else:
                limiter.finish()
        return result

    def _body(self, call: Call[Any]) -> tuple[bytes | None, str | None]:
        if call.content is not None:
            return call.content, call.content_type
        if call.json is not None:
            return json.dumps(call.json, separators=(",", ":")).encode(), "application/json"
        return None, None

    def _request(
        self,
        call: Call[Any],
        token: str | None,
        key: str | None,
        content: bytes | None,
        content_type: str | None,
        left: float | None = None,
    ) -> httpx.Request:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif call.authenticated and self.credentials.client_token:
            headers["Authorization"] = f"Bearer {self.credentials.client_token}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        if key is not None:
            headers["Idempotency-Key"] = key
        headers.update(call.options.get("extra_headers") or {})
        timeout = httpx.Timeout(call.options.get("timeout", self.timeout)).as_dict()
        if left is not None:  # never past the deadline, whatever the configured time-out
            timeout = {phase: left if t is None else min(t, left) for phase, t in timeout.items()}
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            params=dict(call.params) if call.params else None,
            headers=headers,
            content=content,
            extensions={"timeout": timeout},
        )


def _json(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def api_error(response: httpx.Response, *, expected: str = "2xx") -> APIError:
    """The exception for an answer that is not a success: the JSON envelope (SPEC §4),
    RFC 6749's body at ``/oauth/*``, or whatever a proxy in between sent (a redirect is
    named with where it points)."""
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    if status < 400:
        where = response.headers.get("location")
        to = f" to {where}" if where else ""
        return APIError(
            f"{response.request.method} {response.request.url.path}: the answer is {status} "
            f"{response.reason_phrase}{to}, not a success ({expected}); payreq never redirects an "
            "API call, so base_url may be wrong or a proxy answered",
            status=status,
            request_id=request_id,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    type_ = code = param = None
    message = response.reason_phrase or f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        type_, code, param = error.get("type"), error.get("code"), error.get("param")
        message = error.get("message") or message
        request_id = error.get("request_id") or request_id
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        type_ = code = body["error"]
        message = body.get("error_description") or message
    elif response.text:
        message = f"{message}: {response.text[:200]}"
    fields: dict[str, Any] = {
        "status": status,
        "type": type_,
        "code": code,
        "param": param,
        "request_id": request_id,
        "body": body,
    }
    cls = error_class(status)
    if status == 403 and code == "invalid_client":
        cls = error_class(401)
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=retry_after_seconds(response.headers.get("retry-after")), **fields
        )
    return cls(message, **fields)
