"""``Idempotency-Key`` on every POST and PATCH under ``/payment/request`` and ``/api/``
(SPEC §4, after Stripe and the IETF draft), as one pure ASGI middleware, so that a new
route gets it without a line of its own.

For a request that carries the header:

1. The bearer credential is resolved (the authenticator caches it, so the route's own
   check costs nothing more). A request that does not authenticate passes through
   untouched: its 401/429 never touches the key store.
2. The key must be 1 to 255 printable ASCII characters, else 400 naming the header.
   It is scoped to the credential's account and environment (and, for a client
   token, its application): another caller's identical key is another key.
3. The body is read (at most the route's own limit: 64 KiB, or 10 MiB for a
   statement; a larger one passes through to its 413) and the request's fingerprint
   is the SHA-256 of method, path, query and the whole body.
4. While a request with the same scoped key runs in this process, a duplicate gets
   409 ``idempotency_key_in_use`` at once.
5. The key is claimed inside the handler's own write transaction (``hook``): after
   the route has checked scope and rate limit, before it changes anything. There a key
   already answered is replayed (same status, body and headers such as Content-Type
   and Location, plus ``Idempotent-Replayed: true``); one used for another request
   answers 422 ``idempotency_key_reused``; one held by a transaction in another
   process answers 409.
6. The answer is written into that same transaction before it commits, and only
   then sent: a client that got an answer can always have it replayed, and a crash
   leaves neither the change nor the key (a retry simply runs again).
   Answers that failed validation (400, 413, 415, 422), authentication, permission
   or rate checks (401, 403, 429) and server errors (5xx) are not stored: the change,
   if any, is rolled back with the key, and the client may retry with the same key.
   A handler with several units (a statement import, in batches) marks its last one
   (``hook.last_write``): the answer is written into that unit, so once the whole
   change is saved its answer is too; a crash between the batches leaves the key
   ``interrupted`` (409), never replayed and never run again.
   Every other answer (2xx, 404, 409 ...) is kept for 24 hours. An answer carrying a
   secret that is shown once (a client token, an API key's secret, a webhook secret
   when an application is created or its secret rotated) keeps only its status:
   replaying its key answers 409 ``idempotency_key_used`` instead of storing the
   secret. Such answers also carry ``Cache-Control: no-store`` (their routes say so).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import timedelta
from typing import Any, cast
from urllib.parse import parse_qs

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from payreq.auth.subject import AuthSubject
from payreq.db import observer as hook
from payreq.errors import BadRequest, Conflict, PayreqError, ValidationFailed
from payreq.http import send_error
from payreq.idempotency import repository
from payreq.idempotency.repository import Answer, Request, ScopedKey

log = structlog.get_logger("payreq.idempotency")

TTL = timedelta(hours=24)
HOLD_LIMIT = 0.25
"""Seconds a finished unit may wait for its answer. Rendering an answer takes
microseconds; a handler that does slow work after its unit (an outbound call) must
not keep SQLite's one connection locked, so its unit then commits on its own and the
answer is written separately when it comes."""
METHODS = frozenset({"POST", "PATCH"})
HEADER = b"idempotency-key"
PARAM = "Idempotency-Key"
_VALID_KEY = re.compile(rb"[\x20-\x7e]{1,255}")
# what a replay must repeat besides status and body; the request id, rate-limit
# headers and Content-Length belong to the replaying request
KEPT_HEADERS = frozenset(
    {"content-type", "location", "cache-control", "content-language", "link", "etag", "last-modified"}
)
NOT_STORED = frozenset({400, 401, 403, 405, 408, 413, 415, 422, 429})
# secrets shown once (kit/crypto prefixes, and webhook secrets in the Standard Webhooks
# format) are never written anywhere in clear
SECRET_MARKERS = (b'"prq_cs_', b'"prq_at_', b'"prq_ct_', b'"whsec_')

_running: set[ScopedKey] = set()


def covered(method: str, path: str) -> bool:
    return method in METHODS and (
        path.startswith("/api/") or path == "/payment/request" or path.startswith("/payment/request/")
    )


class IdempotentReplay(PayreqError):
    """Raised inside the handler's transaction when the key was answered before; the
    middleware sends the stored answer in place of whatever the handler's error
    renderer made of it."""

    status = 409
    type = "invalid_state"

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        super().__init__("replayed", code="idempotent_replay")


def key_in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still in progress; retry once it has completed.",
        code="idempotency_key_in_use",
        param=PARAM,
    )


def keys(scope: dict[str, Any]) -> list[bytes]:
    """The request's ``Idempotency-Key`` values, if its route is covered."""
    if not covered(scope["method"], scope["path"]):
        return []
    return [value for name, value in scope["headers"] if name == HEADER]


async def run_keyed(
    services: Any, scope: dict[str, Any], receive: Receive, send: Send, app: ASGIApp, raw_keys: list[bytes]
) -> None:
    """Run ``app`` for a request that carries an ``Idempotency-Key`` (``raw_keys``,
    from ``keys``): the edge middleware (``payreq.edge``) calls this."""
    asgi_scope = cast("Scope", scope)
    subject = await _subject(services, scope)
    if subject is None:
        await app(asgi_scope, receive, send)
        return
    if len(raw_keys) > 1 or not _VALID_KEY.fullmatch(raw_keys[0]):
        await send_error(
            scope,
            send,
            BadRequest(
                f"{PARAM} must be one header of 1 to 255 printable ASCII characters.",
                code="invalid_idempotency_key",
                param=PARAM,
            ),
        )
        return
    body, replayed_receive, complete = await _read_body(
        receive, scope["headers"], _body_limit(scope, services.settings.max_body_bytes)
    )
    if not complete:  # too large (413) or the client left: the app answers as usual
        await app(asgi_scope, replayed_receive, send)
        return
    key = ScopedKey(
        account_id=subject.tenant.account_id,
        environment=subject.tenant.environment,
        caller=str(subject.application_id) if subject.application_id is not None else "*",
        key=raw_keys[0].decode("ascii"),
    )
    if key in _running:
        await send_error(scope, send, key_in_use())
        return
    now = services.clock()
    attempt = Attempt(
        services.db,
        key,
        Request(
            fingerprint=fingerprint(scope, body),
            method=scope["method"],
            path=scope["path"],
            created_at=now,
            expires_at=now + TTL,
        ),
    )
    _running.add(key)
    token = hook.current.set(attempt)
    try:
        await app(asgi_scope, replayed_receive, attempt.wrap(scope, send))
    finally:
        hook.current.reset(token)
        _running.discard(key)
        await attempt.abandon()


class Attempt:
    """One keyed request: the observer its database units report to (``hook``), and
    the wrapper that holds its answer back until the answer is stored."""

    def __init__(self, db: Any, key: ScopedKey, request: Request) -> None:
        self.db = db
        self.key = key
        self.request = request
        self.claimed = False  # the claim is in the open unit, not yet committed
        self.settled = False  # a claim was made or judged; no other unit claims again
        self.handed: tuple[Any, hook.Finish] | None = None  # a finished unit awaiting the answer
        self.handed_later = False  # the unit handed over is a later one (the claim committed before it)
        self._last: Any = None  # the unit the handler marked as its last write (``hook.last_write``)
        self._hold_timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self.committed = False  # the claim committed without the answer (two units)
        self.failed = False  # a unit committed by the hold limit failed to commit
        self.verdict: PayreqError | None = None  # what the key's earlier use decided
        self.closed = False
        self._start: dict[str, Any] | None = None
        self._chunks: list[bytes] = []

    # -- the observer the database units call (hook.UnitObserver) -------------------

    async def flush(self) -> None:
        if self._flushing is not None:  # the hold limit's commit is under way: wait for it
            await asyncio.shield(self._flushing)
        if self.handed is None or self.closed:
            return
        finish = self._take()
        await finish(True)
        self.committed = True

    def _take(self) -> hook.Finish:
        assert self.handed is not None
        _, finish = self.handed
        self.handed = None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        return finish

    def _hold_expired(self) -> None:
        self._hold_timer = None
        if self.handed is not None and not self.closed:
            self._flushing = asyncio.ensure_future(self._commit_alone())

    async def _commit_alone(self) -> None:
        try:
            if self.handed is not None and not self.closed:
                await self._take()(True)
                self.committed = True
        except Exception as exc:  # the change is lost with its key; the answer will say 503
            log.warning("idempotency_unit_not_committed", error=type(exc).__name__)
            self.failed = True
        finally:
            self._flushing = None

    async def began(self, conn: Any) -> None:
        if self.settled or self.closed:
            return
        self.settled = True
        found = await repository.claim(conn, self.key, self.request)
        if found is None:
            self.claimed = True
            return
        self.verdict = self.judge(found)
        raise self.verdict

    def keeps(self, conn: Any) -> bool:
        if self.handed is not None or self.closed:
            return False
        return self.claimed or (self.committed and conn is self._last)

    def hand_over(self, conn: Any, finish: hook.Finish) -> None:
        self.handed_later = not self.claimed
        self.claimed = False
        self.handed = (conn, finish)
        self._hold_timer = asyncio.get_running_loop().call_later(HOLD_LIMIT, self._hold_expired)

    def last_write(self, conn: Any) -> None:
        self._last = conn

    def rolled_back(self) -> None:
        if self.claimed:  # the claim went with the unit; a later unit may claim again
            self.claimed = False
            self.settled = False

    # -- judging an earlier use of the key -------------------------------------------

    def judge(self, found: Any) -> PayreqError:
        if isinstance(found, repository.Busy):
            return key_in_use()
        if found["fingerprint"] != self.request.fingerprint:
            return ValidationFailed(
                f"This {PARAM} was already used for another request ({found['method']} {found['path']}); "
                "use a new key for a new request.",
                code="idempotency_key_reused",
                param=PARAM,
            )
        if found["status"] is None:
            return Conflict(
                f"A request with this {PARAM} is still in progress, or was interrupted after its "
                "change was saved; its answer cannot be replayed.",
                code="idempotency_key_in_use",
                param=PARAM,
            )
        answer = repository.stored_answer(found)
        if answer.withheld:
            return Conflict(
                f"The request with this {PARAM} completed with {answer.status}; its answer carried a "
                "secret that is shown only once, so it is not replayed.",
                code="idempotency_key_used",
                param=PARAM,
            )
        return IdempotentReplay(answer)

    # -- the answer ------------------------------------------------------------------

    def wrap(self, scope: dict[str, Any], send: Send) -> Send:
        async def held(asgi_message: Message) -> None:
            message = cast("dict[str, Any]", asgi_message)
            if message["type"] == "http.response.start":
                self._start = message
                return
            if message["type"] != "http.response.body" or self._start is None or self.closed:
                await send(asgi_message)
                return
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self.complete(scope, send, self._start, b"".join(self._chunks))

        return held

    async def complete(self, scope: dict[str, Any], send: Send, start: dict[str, Any], body: bytes) -> None:
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self.closed = True  # the units the middleware opens from here on are its own
        if self.verdict is not None:
            await send_verdict(scope, send, self.verdict)
            return
        status = int(start["status"])
        answer = Answer(
            status=status,
            headers=[
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in start.get("headers", [])
                if name.decode("latin-1").lower() in KEPT_HEADERS
            ],
            body=body,
            withheld=any(marker in body for marker in SECRET_MARKERS),
        )
        keep = status < 500 and status not in NOT_STORED
        if self.failed:
            await send_error(scope, send, _unavailable())
            return
        if self.handed is not None:
            conn, later = self.handed[0], self.handed_later
            finish = self._take()
            if not await self._end_unit(conn, finish, answer if keep else None, later=later):
                await send_error(scope, send, _unavailable())
                return
        elif self.committed:
            await self._settle_committed(answer if keep else None)
        elif keep:
            verdict = await self._store_late(answer)
            if verdict is not None:
                await send_verdict(scope, send, verdict)
                return
        await send(cast("Message", start))
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _end_unit(self, conn: Any, finish: hook.Finish, answer: Answer | None, *, later: bool) -> bool:
        """Commit the change with its answer (or roll both back); False if that failed.
        A ``later`` unit (the claim committed before it) is committed either way: with
        the answer, or with the key released when the answer is not kept."""
        if answer is None and not later:
            await _quietly(finish, False)
            return True
        try:
            if answer is None:
                await repository.release(conn, self.key)
            else:
                await repository.record_answer(conn, self.key, answer)
        except Exception as exc:
            log.warning("idempotency_answer_not_stored", error=type(exc).__name__)
            await _quietly(finish, False)
            return False
        try:
            await finish(True)
        except Exception as exc:
            log.warning("idempotency_commit_failed", error=type(exc).__name__)
            return False
        return True

    async def _settle_committed(self, answer: Answer | None) -> None:
        """The change committed earlier (the handler used two units): add the answer,
        or release the key if this answer is not kept."""
        try:
            async with self.db.transaction() as conn:
                if answer is None:
                    await repository.release(conn, self.key)
                else:
                    await repository.record_answer(conn, self.key, answer)
        except Exception as exc:
            log.warning("idempotency_answer_not_stored", error=type(exc).__name__)

    async def _store_late(self, answer: Answer) -> PayreqError | None:
        """No write claimed the key (the handler failed in its transaction, or only
        read): keep this answer unless the key was meanwhile used elsewhere."""
        try:
            async with self.db.transaction() as conn:
                found = await repository.claim(conn, self.key, self.request, answer)
        except Exception as exc:
            log.warning("idempotency_answer_not_stored", error=type(exc).__name__)
            return None
        return None if found is None else self.judge(found)

    async def abandon(self) -> None:
        """After the app returned: a unit still handed over never got its answer sent
        (the app failed or was cancelled), so its change is rolled back."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self.closed = True
        if self.handed is not None:
            # the claim's own unit goes with the unanswered request; a later one was
            # already promised by the units before it, and keeps the key in progress
            await _quietly(self._take(), self.handed_later)


async def _quietly(finish: hook.Finish, commit: bool) -> None:
    try:
        await finish(commit)
    except Exception as exc:
        log.warning("idempotency_unit_not_finished", error=type(exc).__name__)


def _unavailable() -> PayreqError:
    from payreq.db import DatabaseUnavailable

    return DatabaseUnavailable("The change could not be committed; retry with the same Idempotency-Key.")


async def _subject(services: Any, scope: dict[str, Any]) -> AuthSubject | None:
    """The caller, as the route will see it; None where the route will refuse it."""
    if "access_token" in parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        return None
    authorization = next((v for n, v in scope["headers"] if n == b"authorization"), None)
    try:
        subject: AuthSubject = await services.authenticator.authenticate(
            authorization.decode("latin-1") if authorization is not None else None
        )
    except PayreqError:
        return None
    return subject


ROUTE_BODY_LIMITS: dict[tuple[str, str], int] = {}
"""(method, path) -> a route's own body limit where it has one (a statement: 10 MiB),
filled by ``create_app`` from the routes: the edge runs before the framework routes."""


def _body_limit(scope: dict[str, Any], default: int) -> int:
    """The route's own body limit, so that a key on a large body fingerprints all of it."""
    return ROUTE_BODY_LIMITS.get((scope["method"], scope["path"].rstrip("/") or "/"), default)


async def _read_body(
    receive: Receive, headers: list[tuple[bytes, bytes]], limit: int
) -> tuple[bytes, Receive, bool]:
    """The whole body if it is within ``limit``, and a ``receive`` that gives the app
    every message again; ``complete`` is False for a larger body or a disconnect."""
    read: list[dict[str, Any]] = []
    for name, value in headers:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return b"", receive, False
    size = 0
    complete = False
    while True:
        message = cast("dict[str, Any]", await receive())
        read.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit:
            break
        if not message.get("more_body", False):
            complete = True
            break

    async def again() -> Any:
        if read:
            return read.pop(0)
        return await receive()

    body = b"".join(m.get("body", b"") for m in read if m["type"] == "http.request") if complete else b""
    return body, again, complete


def fingerprint(scope: dict[str, Any], body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b" ")
    digest.update(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"))
    digest.update(b"?")
    digest.update(scope.get("query_string", b""))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


async def send_verdict(scope: dict[str, Any], send: Send, verdict: PayreqError) -> None:
    if isinstance(verdict, IdempotentReplay):
        answer = verdict.answer
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})
        return
    await send_error(scope, send, verdict)
