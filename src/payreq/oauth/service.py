"""The client_credentials grant (RFC 6749 §4.4) and token revocation (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote_plus
from uuid import UUID

from payreq.account import repository as accounts
from payreq.auth.service import CACHE_SIZE
from payreq.auth.subject import KNOWN_SCOPES, Scope
from payreq.db import Connection, Database, Row
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import SecretKind, digest, digests_match, new_secret, secret_kind
from payreq.kit.ids import new_ordered_uuid
from payreq.oauth import repository
from payreq.oauth.errors import InvalidClient, InvalidRequest, InvalidScope, UnsupportedGrantType

_NO_MATCH = digest("no client has this secret")
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""An API key's ``last_used_at`` (when it last obtained a token) is written at most this often."""


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class Grant:
    """An authenticated token request, before anything is written: the key and the
    budgets it spends (checked between ``grant`` and ``issue``)."""

    key: Row
    scope: str

    @property
    def rate_key(self) -> str:
        return _rate_keys(self.key)[0]

    @property
    def account_rate_key(self) -> str:
        return _rate_keys(self.key)[1]


_RATE_KEYS: dict[UUID, tuple[str, str]] = {}


def _rate_keys(key: Row) -> tuple[str, str]:
    """The budgets a key spends, ``key:<id>`` and ``acct:<account>:<environment>``: kept
    by the key's id (a key's account and environment never change), so that a token
    request formats no UUID. Emptied when full, so it never holds more than ``CACHE_SIZE``."""
    names = _RATE_KEYS.get(key["id"])
    if names is None:
        if len(_RATE_KEYS) >= CACHE_SIZE:
            _RATE_KEYS.clear()
        names = _RATE_KEYS[key["id"]] = (
            f"key:{key['id']}",
            f"acct:{key['account_id']}:{key['environment']}",
        )
    return names


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated parameter is an error."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The body is not a valid form.") from None
    # what urllib.parse.parse_qs(text, keep_blank_values=True) reads (fields split at
    # "&", empty ones skipped, a field without "=" a blank value, "+" a space, then
    # percent-decoded as UTF-8 with U+FFFD for a bad sequence), in a third of its time
    fields: dict[str, str] = {}
    repeated: set[str] = set()
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in field or "%" in field:
            name, value = unquote_plus(name), unquote_plus(value)
        if name in fields:
            repeated.add(name)
        else:
            fields[name] = value
    if repeated:
        raise InvalidRequest(f"Parameters must not repeat: {', '.join(sorted(repeated))}.")
    return fields


def client_credentials(authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
    """HTTP Basic (RFC 6749 §2.3.1, form-encoded id and secret) or the form fields; never both.

    An empty parameter counts as omitted (RFC 6749 §3.2); a form ``client_id`` next to
    Basic must name the same client.
    """
    in_form = bool(form.get("client_secret"))
    if authorization:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("Unsupported client authentication scheme.")
        if in_form:
            raise InvalidRequest("Use one client authentication method, not two.")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidClient("The Basic authorization header is malformed.") from None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise InvalidClient("The Basic authorization header is malformed.")
        client_id = unquote_plus(client_id)
        if form.get("client_id") and form["client_id"] != client_id:
            raise InvalidRequest("client_id does not match the authenticated client.")
        return _known_shape(ClientCredentials(client_id, unquote_plus(secret)))
    if in_form and form.get("client_id"):
        return _known_shape(ClientCredentials(form["client_id"], form["client_secret"]))
    raise InvalidClient("Client authentication is required.")


def _known_shape(credentials: ClientCredentials) -> ClientCredentials:
    """A client id with a NUL names no client (ids are base62): 403 like any unknown
    id, on both engines (PostgreSQL refuses a NUL in a text parameter outright)."""
    if "\x00" in credentials.client_id:
        raise InvalidClient()
    return credentials


def parse_scope(requested: str | None) -> str:
    if requested is None or not requested.strip():
        return Scope.ALL.value
    scopes = requested.split()
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise InvalidScope(f"Unknown scope: {' '.join(unknown)}.")
    return " ".join(dict.fromkeys(scopes))


class KnownClients:
    """API keys that authenticated at ``/oauth/token`` within the last ``seconds``, by
    client id and secret, so that the next token request of the same client reads no
    key and computes no SHA-256: the bearer tokens' cache (``Authenticator``), with its
    limits. Only keys that authenticated enter, for at most ``seconds`` (and never past
    the end of a rolled key's overlap, when the previous secret matched), in this
    process's memory, where every request's secret passes anyway; ``clear`` empties it
    on every credential change of this process once that has committed (the
    Authenticator's ``forget_all``), and other processes see a change within
    ``seconds``. A look-up compares the pair only with an entry of the same randomised
    string hash, so its timing tells a guesser nothing."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self.seconds = seconds
        self.clock = clock
        self._ttl = timedelta(seconds=seconds)
        self._keys: dict[tuple[str, str], tuple[Row, datetime]] = {}
        self.generation = 0

    def get(self, credentials: ClientCredentials) -> Row | None:
        pair = (credentials.client_id, credentials.client_secret)
        known = self._keys.get(pair)
        if known is None:
            return None
        key, until = known
        if self.clock() < until:
            return key
        del self._keys[pair]
        return None

    def keep(
        self, credentials: ClientCredentials, key: Row, *, generation: int, until: datetime | None
    ) -> None:
        """Remember ``key`` unless credentials changed since ``generation`` was read."""
        if not self.seconds or generation != self.generation:
            return
        if len(self._keys) >= CACHE_SIZE:
            self._keys.clear()
        fresh_until = self.clock() + self._ttl
        self._keys[(credentials.client_id, credentials.client_secret)] = (
            key,
            fresh_until if until is None else min(fresh_until, until),
        )

    def clear(self) -> None:
        self.generation += 1
        self._keys.clear()


class OAuthService:
    def __init__(
        self,
        *,
        token_ttl: int = 3600,
        clock: Clock = utc_now,
        credentials_changed: Callable[[], None] = lambda: None,
        cache_seconds: float = 0.0,
    ) -> None:
        self.token_ttl = token_ttl
        self.clock = clock
        self.credentials_changed = credentials_changed
        self.clients = KnownClients(cache_seconds, clock)
        self._used: dict[UUID, datetime] = {}
        """The last use this process wrote for a key (``issue``): a key row kept by
        ``clients`` from before that write still says the older time."""

    async def authenticate_client(self, conn: Connection, credentials: ClientCredentials) -> Row:
        return (await self._authenticate(conn, credentials))[0]

    async def _authenticate(
        self, conn: Connection, credentials: ClientCredentials
    ) -> tuple[Row, datetime | None]:
        """The key, and when its authentication ends (a rolled key's previous secret
        matched: the end of its overlap; else None)."""
        key = await accounts.api_key_by_client_id(conn, credentials.client_id)
        presented = digest(credentials.client_secret)
        # compare even for an unknown client so both failures take the same time
        matches = digests_match(presented, key["secret_digest"] if key else _NO_MATCH)
        until = None
        if key is not None and not matches and key["previous_secret_digest"] is not None:
            # a rolled key: the old secret works until its overlap ends
            until = key["previous_secret_expires_at"]
            matches = until > self.clock() and digests_match(presented, key["previous_secret_digest"])
        if key is None or not matches or key["revoked_at"] is not None or key["disabled_at"] is not None:
            raise InvalidClient()
        return key, until

    async def grant(self, db: Database, *, authorization: str | None, form: Mapping[str, str]) -> Grant:
        """Authenticate the client and check the request (reads only: a client known
        from the last ``cache_seconds`` reads nothing). The caller spends the key's
        budget, then ``issue`` writes the token."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required.")
        credentials = client_credentials(authorization, form)
        key = self.clients.get(credentials)
        if key is None:
            generation = self.clients.generation
            async with db.read() as conn:
                key, until = await self._authenticate(conn, credentials)
            self.clients.keep(credentials, key, generation=generation, until=until)
        if grant_type != "client_credentials":
            raise UnsupportedGrantType("Only the client_credentials grant is supported.")
        return Grant(key, parse_scope(form.get("scope")))

    async def issue(self, conn: Connection, grant: Grant) -> IssuedToken:
        """A new access token for the grant: its row, and the key's last use when that
        is older than a minute (both then in one transaction: ``conn`` may be a unit
        of ``Database.single``)."""
        key, scope = grant.key, grant.scope
        now = self.clock()
        token = new_secret(SecretKind.ACCESS_TOKEN, key["environment"])
        since = now - LAST_USED_RESOLUTION
        # the key as read for the grant, or this process's own later write: less than a
        # minute before, it needs no UPDATE (which would change nothing: last_used_at
        # only moves forward)
        used, written = key["last_used_at"], self._used.get(key["id"])
        if written is not None and (used is None or written > used):
            used = written
        touch = used is None or used <= since
        if touch:
            await conn.begin()
        await repository.insert_access_token(
            conn,
            id=new_ordered_uuid(),
            api_key_id=key["id"],
            token_digest=digest(token),
            scope=scope,
            created_at=now,
            expires_at=now + timedelta(seconds=self.token_ttl),
        )
        if touch:
            await accounts.touch_api_key(conn, key["id"], at=now, unless_since=since)
            conn.after_commit(functools.partial(self._note_use, key["id"], now))
        return IssuedToken(access_token=token, expires_in=self.token_ttl, scope=scope)

    def _note_use(self, key_id: UUID, at: datetime) -> None:
        if len(self._used) >= CACHE_SIZE:
            self._used.clear()
        self._used[key_id] = at

    async def revoke(self, conn: Connection, *, authorization: str | None, form: Mapping[str, str]) -> None:
        """RFC 7009: revoke one of the client's own access tokens, or a client token of
        the key's account and environment (a key may mint a ``*`` access token, which may
        revoke client tokens anyway); unknown tokens, and other accounts' tokens, are
        answered the same 200 and nothing changes."""
        key = await self.authenticate_client(conn, client_credentials(authorization, form))
        token = form.get("token")
        if not token:
            raise InvalidRequest("token is required.")
        if secret_kind(token) is SecretKind.CLIENT_TOKEN:
            await repository.revoke_client_token(
                conn,
                account_id=key["account_id"],
                environment=key["environment"],
                token_digest=digest(token),
                at=self.clock(),
            )
        else:
            await repository.revoke_access_token(
                conn, api_key_id=key["id"], token_digest=digest(token), at=self.clock()
            )
        conn.after_commit(self.credentials_changed)
