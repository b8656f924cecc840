"""Accounts: creating a merchant with everything it needs to start (``bootstrap``)."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import asdict, dataclass

from argon2 import PasswordHasher

from payreq.account import repository
from payreq.application import repository as applications
from payreq.auth.subject import Scope, Tenant
from payreq.db import Connection
from payreq.db.tables import ENVIRONMENTS
from payreq.errors import Conflict, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import (
    SecretKind,
    digest,
    new_application_client_id,
    new_client_id,
    new_secret,
    random_string,
)
from payreq.kit.jsonbody import check_text

_hasher = PasswordHasher()  # argon2id with the library's current defaults


def hash_password(password: str) -> str:
    """argon2id; slow on purpose (tens of ms), so call it outside a transaction."""
    return _hasher.hash(password)


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


@dataclass(frozen=True)
class NewApiKey:
    """An API key as created; ``client_secret`` is shown this once."""

    id: uuid.UUID
    client_id: str
    client_secret: str
    label: str


class AccountService:
    def __init__(self, *, clock: Clock = utc_now, max_api_keys: int = 100) -> None:
        self.clock = clock
        self.max_api_keys = max_api_keys

    async def create_api_key(self, conn: Connection, tenant: Tenant, *, label: str) -> NewApiKey:
        """A new API key of the account in ``tenant``'s environment; at most
        ``max_api_keys`` unrevoked ones (422 past it), so that a tenant cannot grow the
        table, or its budgets, without bound. Pages and the CLI call this."""
        label = label.strip()
        check_text(label, "label")
        if not 1 <= len(label) <= 200:
            raise ValidationFailed("label must be 1 to 200 characters.", param="label")
        if (
            await repository.count_live_api_keys(conn, tenant.account_id, tenant.environment)
            >= self.max_api_keys
        ):
            raise ValidationFailed(
                f"This account already has {self.max_api_keys} API keys in {tenant.environment}, the most "
                "allowed; revoke one first.",
                code="too_many_api_keys",
            )
        key = NewApiKey(
            id=uuid.uuid4(),
            client_id=new_client_id(tenant.environment),
            client_secret=new_secret(SecretKind.CLIENT_SECRET, tenant.environment),
            label=label,
        )
        await repository.insert_api_key(
            conn,
            id=key.id,
            account_id=tenant.account_id,
            environment=tenant.environment,
            label=label,
            client_id=key.client_id,
            secret_digest=digest(key.client_secret),
            created_at=self.clock(),
        )
        return key

    async def bootstrap(
        self,
        conn: Connection,
        *,
        email: str,
        password: str,
        password_hash: str,
        environment: str,
        name: str = "Demo merchant",
    ) -> Bootstrapped:
        """An account with a dashboard user, a default application per environment,
        an API key and a ``*`` client token in ``environment``."""
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
        email = email.strip().lower()
        if await repository.user_exists(conn, email):
            raise Conflict(f"A user with the email {email} already exists.", code="email_taken")
        now = self.clock()
        account_id = uuid.uuid4()
        await repository.insert_account(conn, id=account_id, name=name, created_at=now)
        await repository.insert_user(
            conn,
            id=uuid.uuid4(),
            account_id=account_id,
            email=email,
            password_hash=password_hash,
            created_at=now,
        )
        chosen: tuple[uuid.UUID, str, str] | None = None
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
            if env == environment:
                chosen = (app_id, app_client_id, webhook_secret)
        assert chosen is not None
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
        client_token = new_secret(SecretKind.CLIENT_TOKEN, environment)
        await applications.insert_client_token(
            conn,
            id=uuid.uuid4(),
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
