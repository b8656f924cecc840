"""Accounts: creating a merchant with everything it needs to start (``bootstrap``)."""

from __future__ import annotations

import base64
import secrets
import uuid
import zoneinfo
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from argon2 import PasswordHasher

from payreq.account import repository
from payreq.application import repository as applications
from payreq.audit.models import Actor
from payreq.audit.service import AuditService
from payreq.auth.subject import Scope, Tenant
from payreq.db import Connection
from payreq.db.tables import ENVIRONMENTS
from payreq.errors import Conflict, NotFound, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import (
    SecretKind,
    digest,
    new_application_client_id,
    new_client_id,
    new_secret,
    random_string,
)
from payreq.kit.jsonbody import check_display_text

_hasher = PasswordHasher()  # argon2id with the library's current defaults


def hash_password(password: str) -> str:
    """argon2id; slow on purpose (tens of ms), so call it outside a transaction."""
    return _hasher.hash(password)


MAX_ACCOUNT_NAME = 200


def account_name(value: str, param: str = "account_name") -> str:
    """The business name, trimmed: payers read it on the checkout page and team members
    in the dashboard and in their invitations, so it is display text (no control,
    format or line-break characters, ``check_display_text``), 1 to 200 characters."""
    name = value.strip()
    check_display_text(name, param)
    if not 1 <= len(name) <= MAX_ACCOUNT_NAME:
        raise ValidationFailed(f"Enter your business name (1 to {MAX_ACCOUNT_NAME} characters).", param=param)
    return name


def new_password() -> str:
    return random_string(20)


def new_webhook_secret() -> str:
    """Standard Webhooks format: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Bootstrapped:
    """What ``payreq bootstrap --json`` prints (SPEC §8). Secrets appear only here."""

    account_id: str
    environment: str
    client_id: str
    client_secret: str
    application_client_id: str
    client_token: str
    webhook_secret: str
    dashboard_email: str
    dashboard_password: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    """Every IANA time zone name this machine knows (the tzdata package, else the system's)."""
    return frozenset(zoneinfo.available_timezones())


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone of a stored name; UTC if the name is no longer known."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


class AccountNotFound(NotFound):
    default_message = "No such account."


class AccountClosed(Exception):
    """The account was closed by its owner: the operator's disable and enable do not
    apply to it (it stays closed)."""

    def __init__(self, closed_at: datetime) -> None:
        super().__init__(f"closed by its owner at {closed_at.isoformat()}")
        self.closed_at = closed_at


@dataclass(frozen=True)
class NewApiKey:
    """An API key as created; ``client_secret`` is shown this once."""

    id: uuid.UUID
    client_id: str
    client_secret: str
    label: str


@dataclass(frozen=True)
class CreatedAccount:
    account_id: uuid.UUID
    user_id: uuid.UUID
    applications: dict[str, tuple[uuid.UUID, str, str]]
    """Per environment: the default application's id, Client ID and webhook secret."""


async def create_account(
    conn: Connection, *, name: str, email: str, password_hash: str, now: datetime
) -> CreatedAccount:
    """An account, its owner, and a default application per environment. Every way of
    making an account passes here, so its name follows ``account_name`` whoever asked."""
    name = account_name(name, "name")
    account_id, user_id = uuid.uuid4(), uuid.uuid4()
    await repository.insert_account(conn, id=account_id, name=name, created_at=now)
    await repository.insert_user(
        conn, id=user_id, account_id=account_id, email=email, password_hash=password_hash, created_at=now
    )
    made: dict[str, tuple[uuid.UUID, str, str]] = {}
    for env in ENVIRONMENTS:
        app_id, app_client_id, webhook_secret = (
            uuid.uuid4(),
            new_application_client_id(),
            new_webhook_secret(),
        )
        await applications.insert_application(
            conn,
            id=app_id,
            client_id=app_client_id,
            tenant=Tenant(account_id, env),
            name="Default application",
            is_default=True,
            webhook_secret=webhook_secret,
            created_at=now,
            # the sandbox simulates; production takes bank transfers once the merchant
            # has entered bank details
            methods='["sandbox"]' if env == "sandbox" else '["bank_transfer"]',
        )
        made[env] = (app_id, app_client_id, webhook_secret)
    return CreatedAccount(account_id, user_id, made)


async def refuse_past_api_key_cap(conn: Connection, tenant: Tenant, cap: int) -> None:
    """422 once the account has ``cap`` unrevoked keys in the environment: a tenant cannot
    grow the table, or its budgets, without bound. Every way of creating a key calls it."""
    if await repository.count_live_api_keys(conn, tenant.account_id, tenant.environment) >= cap:
        raise ValidationFailed(
            f"This account already has {cap} API keys in {tenant.environment}, the most allowed; "
            "revoke one first.",
            code="too_many_api_keys",
        )


class AccountService:
    def __init__(self, *, clock: Clock = utc_now, audit: AuditService | None = None) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)

    async def timezone(self, conn: Connection, account_id: uuid.UUID) -> zoneinfo.ZoneInfo:
        """The account's time zone (UTC unless set): the day a bank transfer was booked
        on, and so whether it was in time, is taken in it."""
        name = await repository.timezone(conn, account_id)
        if name is None:
            raise AccountNotFound()
        return zone(name)

    async def set_disabled(
        self, conn: Connection, actor: Actor, account_id: uuid.UUID, *, disabled: bool, reason: str = ""
    ) -> bool:
        """The operator disables a (hostile) account, or enables it again: while disabled,
        its API keys, access tokens and client tokens answer 401 (``/oauth/token`` 403
        ``invalid_client``), its members are signed out and cannot sign in, its checkout
        pages answer 410 and its webhooks wait (the worker leaves them due, unsent, and
        sends them once it is enabled). Audit-logged; False if it was already so
        (nothing recorded). ``AccountNotFound`` for an unknown id, ``AccountClosed`` for
        an account its owner closed: it stays closed, whichever was asked."""
        changed = await repository.set_account_disabled(
            conn, account_id, at=self.clock() if disabled else None
        )
        if not changed:
            state = await repository.account_state(conn, account_id)
            if state is None:
                raise AccountNotFound()
            if state["closed_at"] is not None:
                raise AccountClosed(state["closed_at"])
            return False
        await self.audit.record(
            conn,
            actor,
            account_id=account_id,
            environment=None,
            action="account.disabled" if disabled else "account.enabled",
            target_type="account",
            target_id=account_id,
            changes={"reason": reason} if reason else None,
        )
        return True

    async def set_timezone(self, conn: Connection, account_id: uuid.UUID, name: str) -> str:
        """Set the account's time zone to an IANA name (``Europe/Berlin``); the name stored."""
        clean = name.strip()
        if clean.upper() == "UTC":
            clean = "UTC"
        if clean not in timezone_names():
            raise ValidationFailed(
                "timezone must be an IANA time zone name such as Europe/Berlin or UTC.",
                code="invalid_timezone",
                param="timezone",
            )
        if not await repository.set_timezone(conn, account_id, clean):
            raise AccountNotFound()
        return clean

    async def bootstrap(
        self,
        conn: Connection,
        *,
        email: str,
        password: str,
        password_hash: str,
        environment: str,
        name: str = "Demo merchant",
        actor: Actor | None = None,
    ) -> Bootstrapped:
        """An account with a dashboard user, a default application per environment,
        an API key and a ``*`` client token in ``environment``."""
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
        name = account_name(name, "name")  # the checkout shows the merchant's name to payers
        email = email.strip().lower()
        if await repository.user_exists(conn, email):
            raise Conflict(f"A user with the email {email} already exists.", code="email_taken")
        created = await create_account(
            conn, name=name, email=email, password_hash=password_hash, now=self.clock()
        )
        account_id, now = created.account_id, self.clock()
        chosen = created.applications[environment]
        actor = actor or Actor.cli("payreq bootstrap")
        await self.audit.record(
            conn,
            actor,
            account_id=account_id,
            environment=None,
            action="account.created",
            target_type="account",
            target_id=account_id,
            changes={"name": name, "owner": email},
            at=now,
        )
        client_id, client_secret = (
            new_client_id(environment),
            new_secret(SecretKind.CLIENT_SECRET, environment),
        )
        await repository.insert_api_key(
            conn,
            id=uuid.uuid4(),
            account_id=account_id,
            environment=environment,
            label="Default key",
            client_id=client_id,
            secret_digest=digest(client_secret),
            created_at=now,
        )
        await self.audit.record(
            conn,
            actor,
            account_id=account_id,
            environment=environment,
            action="api_key.created",
            target_type="api_key",
            target_id=client_id,
            changes={"label": "Default key"},
            at=now,
        )
        client_token, token_id = new_secret(SecretKind.CLIENT_TOKEN, environment), uuid.uuid4()
        await self.audit.record(
            conn,
            actor,
            account_id=account_id,
            environment=environment,
            action="client_token.created",
            target_type="client_token",
            target_id=token_id,
            changes={"application": chosen[1], "label": "Bootstrap token", "scopes": [Scope.ALL.value]},
            at=now,
        )
        await applications.insert_client_token(
            conn,
            id=token_id,
            application_id=chosen[0],
            label="Bootstrap token",
            token_digest=digest(client_token),
            scopes=Scope.ALL.value,
            created_at=now,
        )
        return Bootstrapped(
            account_id=str(account_id),
            environment=environment,
            client_id=client_id,
            client_secret=client_secret,
            application_client_id=chosen[1],
            client_token=client_token,
            webhook_secret=chosen[2],
            dashboard_email=email,
            dashboard_password=password,
        )


async def time_zone_of(conn: Connection, account_id: uuid.UUID) -> tzinfo:
    """The account's time zone: the one place that reads it (dashboard times, exports);
    UTC for an account that is gone."""
    name = await repository.timezone(conn, account_id)
    return UTC if name is None else zone(name)
