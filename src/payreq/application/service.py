"""Payment applications: create, read, change, archive, rotate the webhook secret.

Dashboard operations: only an access token of the account acts here (the routes
refuse client tokens with 403, and so does ``tenant_of``). Services never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import structlog
from msgspec import UNSET, UnsetType

from payreq.account.service import new_webhook_secret
from payreq.application import repository, rules
from payreq.application.models import Application
from payreq.application.schemas import ApplicationCreate, ApplicationUpdate
from payreq.audit.service import AuditService
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject, CredentialKind, Tenant
from payreq.db import Connection
from payreq.errors import Conflict, Forbidden, NotFound
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import new_application_client_id
from payreq.webhook import signing
from payreq.webhook.ssrf import UrlPolicy

log = structlog.get_logger("payreq.application")

PREVIOUS_SECRET_TTL = timedelta(hours=24)
"""After a rotation the old webhook secret keeps signing, beside the new one, this long."""
EARLIER_SECRETS_KEPT = 5
"""Secrets rotated out that may sign at once (each for ``PREVIOUS_SECRET_TTL``): a
rotation that would need a sixth is refused (409) rather than cut one's 24 hours short,
and a delivery carries at most six signatures."""


class TooManyRotations(Conflict):
    default_code = "too_many_rotations"


class ApplicationNotFound(NotFound):
    default_message = "No such payment application."


@dataclass(frozen=True, slots=True)
class WithSecret:
    """An application and its webhook secret, at the two moments the secret is shown."""

    application: Application
    webhook_secret: str
    previous_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckedWebhookUrl:
    """A webhook URL as sent (``UNSET``: not sent), checked with its name resolved
    (``ApplicationService.check_webhook_url``) before the unit of work opened: name
    resolution may wait on a slow nameserver and must never hold a transaction."""

    value: str | UnsetType | None


NOT_SENT = CheckedWebhookUrl(UNSET)


def tenant_of(subject: AuthSubject, permission: Permission = Permission.DEVELOP) -> Tenant:
    """The tenant a dashboard operation acts in: an access token's, or a signed-in
    user's whose role grants ``permission`` (``payreq.auth.roles``); client tokens have
    no say here."""
    if subject.kind is CredentialKind.DASHBOARD and subject.actor is not None:
        subject.actor.require(permission)
    elif subject.kind is not CredentialKind.ACCESS_TOKEN:
        raise Forbidden(code="access_token_required")
    return subject.tenant


async def find(conn: Connection, tenant: Tenant, client_id: str) -> Application:
    """An active application of ``tenant`` by its Client ID; archived ones are gone (404)."""
    row = await repository.application_by_client_id(conn, tenant, client_id)
    if row is None or row["archived_at"] is not None:
        raise ApplicationNotFound()
    return Application.of(row)


class ApplicationService:
    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        credentials_changed: Callable[[], None] = lambda: None,
        audit: AuditService | None = None,
        url_policy: UrlPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.credentials_changed = credentials_changed
        self.audit = audit or AuditService(clock=clock)
        self.url_policy = url_policy or UrlPolicy()

    async def check_webhook_url(self, value: str | UnsetType | None) -> CheckedWebhookUrl:
        """Check a webhook URL, resolving its name without blocking the loop: before the
        unit of work (422 if it may not receive webhooks)."""
        if isinstance(value, UnsetType):
            return NOT_SENT
        return CheckedWebhookUrl(await rules.webhook_url(value, policy=self.url_policy))

    async def list(self, conn: Connection, subject: AuthSubject) -> list[Application]:
        rows = await repository.active_applications(conn, tenant_of(subject, Permission.READ))
        return [Application.of(row) for row in rows]

    async def get(self, conn: Connection, subject: AuthSubject, client_id: str) -> Application:
        return await find(conn, tenant_of(subject, Permission.READ), client_id)

    async def create(
        self, conn: Connection, subject: AuthSubject, data: ApplicationCreate, *, webhook: CheckedWebhookUrl
    ) -> WithSecret:
        """``webhook`` is ``check_webhook_url(data.webhook_url)``, awaited before the unit."""
        tenant, sandbox = tenant_of(subject), subject.sandbox
        name = rules.name(data.name)
        webhook_url = _checked(webhook, data.webhook_url)
        redirect_url = rules.default_redirect_url(data.default_redirect_url, sandbox=sandbox)
        currencies = rules.currencies(data.currencies)
        methods = (
            rules.default_methods(sandbox=sandbox)
            if data.methods is None
            else rules.methods(data.methods, sandbox=sandbox)
        )
        bank_details = rules.bank_details(data.bank_details)
        expires_in = rules.expires_in(data.default_expires_in)
        rules.require_bank_details(methods, bank_details)
        client_id, secret = new_application_client_id(), new_webhook_secret()
        await repository.insert_application(
            conn,
            id=uuid.uuid4(),
            client_id=client_id,
            tenant=tenant,
            name=name,
            is_default=False,
            webhook_secret=secret,
            created_at=self.clock(),
            methods=rules.encode(methods) or "[]",
            webhook_url=webhook_url,
            default_redirect_url=redirect_url,
            default_expires_in=expires_in,
            currencies=rules.encode(currencies),
            bank_details=rules.encode(bank_details),
        )
        log.info("application_created", client_id=client_id, environment=tenant.environment)
        created = await find(conn, tenant, client_id)
        await self.audit.record_by(
            conn,
            subject,
            action="application.created",
            target_type="application",
            target_id=client_id,
            changes=_shown(created),
        )
        return WithSecret(created, secret)

    async def update(
        self,
        conn: Connection,
        subject: AuthSubject,
        client_id: str,
        data: ApplicationUpdate,
        *,
        webhook: CheckedWebhookUrl = NOT_SENT,
    ) -> Application:
        """Change the fields sent; ``null`` clears an optional one. The result must still
        hold together (bank transfers need bank details). ``webhook`` is
        ``check_webhook_url(data.webhook_url)``, awaited before the unit."""
        tenant, sandbox = tenant_of(subject), subject.sandbox
        app = await find(conn, tenant, client_id)
        changes: dict[str, object] = {}
        if data.name is not UNSET:
            changes["name"] = rules.name(data.name)
        if data.webhook_url is not UNSET:
            changes["webhook_url"] = _checked(webhook, data.webhook_url)
            # a new endpoint starts with a clean record: enabled, not failing
            changes["webhook_failing_since"] = changes["webhook_disabled_at"] = None
        if data.default_redirect_url is not UNSET:
            changes["default_redirect_url"] = rules.default_redirect_url(
                data.default_redirect_url, sandbox=sandbox
            )
        if data.currencies is not UNSET:
            changes["currencies"] = rules.encode(rules.currencies(data.currencies))
        methods = app.methods
        if data.methods is not UNSET:
            methods = rules.methods(data.methods, sandbox=sandbox)
            changes["methods"] = rules.encode(methods)
        bank_details = app.bank_details
        if data.bank_details is not UNSET:
            bank_details = rules.bank_details(data.bank_details)
            changes["bank_details"] = rules.encode(bank_details)
        if data.default_expires_in is not UNSET:
            changes["default_expires_in"] = rules.expires_in(data.default_expires_in)
        rules.require_bank_details(methods, bank_details)
        if not await repository.update_application(conn, tenant, app.id, changes):
            raise ApplicationNotFound()
        changed = await find(conn, tenant, client_id)
        before, after = _shown(app), _shown(changed)
        diff = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        await self.audit.record_by(
            conn,
            subject,
            action="application.updated",
            target_type="application",
            target_id=client_id,
            changes=diff,
        )
        return changed

    async def archive(self, conn: Connection, subject: AuthSubject, client_id: str) -> None:
        """``DELETE``: the application is archived, never erased, so that its payments and
        events keep their application. It leaves every list, its Client ID answers 404
        and its client tokens 401; the default application stays (409)."""
        tenant = tenant_of(subject)
        app = await find(conn, tenant, client_id)
        if app.is_default:
            raise Conflict(
                "The default application cannot be deleted: requests that name no application land there.",
                code="default_application",
            )
        if not await repository.archive_application(conn, tenant, app.id, at=self.clock()):
            raise ApplicationNotFound()
        conn.after_commit(self.credentials_changed)
        await self.audit.record_by(
            conn,
            subject,
            action="application.archived",
            target_type="application",
            target_id=client_id,
            changes={"name": app.name},
        )
        log.info("application_archived", client_id=client_id, environment=tenant.environment)

    async def rotate_webhook_secret(
        self, conn: Connection, subject: AuthSubject, client_id: str
    ) -> WithSecret:
        """A new webhook secret; the old one keeps signing beside it for 24 hours."""
        tenant = tenant_of(subject)
        app = await find(conn, tenant, client_id)
        row = await repository.webhook_secrets(conn, tenant, app.id)
        if row is None:
            raise ApplicationNotFound()
        now = self.clock()
        secret, previous_expires_at = new_webhook_secret(), now + PREVIOUS_SECRET_TTL
        # every secret rotated out that still signs keeps signing until its own end
        earlier = [(row["previous_webhook_secret"], row["previous_webhook_secret_expires_at"])]
        still = [
            (old, until)
            for old, until in earlier + signing.older_secrets(row["older_webhook_secrets"])
            if old and until is not None and now < until
        ]
        if len(still) >= EARLIER_SECRETS_KEPT:
            ends = min(until for _, until in still).strftime("%Y-%m-%d %H:%M UTC")
            raise TooManyRotations(
                f"The webhook secret was rotated {EARLIER_SECRETS_KEPT} times in the last 24 hours and "
                f"every earlier secret still signs; rotate again after {ends}."
            )
        if not await repository.rotate_webhook_secret(
            conn,
            tenant,
            app.id,
            current=row["webhook_secret"],
            secret=secret,
            previous_expires_at=previous_expires_at,
            older=signing.older_text(still),
        ):
            raise Conflict("Another rotation came first; reload and try again.", code="concurrent_rotation")
        await self.audit.record_by(
            conn,
            subject,
            action="webhook_secret.rotated",
            target_type="application",
            target_id=client_id,
            changes={"previousSecretSignsUntil": previous_expires_at.isoformat()},
        )
        log.info("webhook_secret_rotated", client_id=client_id, environment=tenant.environment)
        return WithSecret(app, secret, previous_expires_at)


def _shown(app: Application) -> dict[str, object]:
    """An application's fields as the audit log records them (its secret never)."""
    return {
        "name": app.name,
        "webhookUrl": app.webhook_url,
        "defaultRedirectUrl": app.default_redirect_url,
        "defaultExpiresIn": app.default_expires_in,
        "currencies": app.currencies,
        "methods": app.methods,
        "bankDetails": None if app.bank_details is None else msgspec.to_builtins(app.bank_details),
    }


def _checked(webhook: CheckedWebhookUrl, sent: str | UnsetType | None) -> str | None:
    """The checked URL; one that was not checked (or another than was sent) is a bug of
    the caller, never a URL saved unchecked."""
    if webhook.value != sent or isinstance(webhook.value, UnsetType):
        raise ValueError("webhookUrl must be checked with check_webhook_url before the unit of work")
    return webhook.value
