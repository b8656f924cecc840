"""Contract B's bodies for payment applications and client tokens (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from payreq.application.models import Application, BankDetails, ClientToken
from payreq.kit.clock import rfc3339
from payreq.kit.jsonbody import Body

Name = Annotated[str, Meta(min_length=1, max_length=200, description="1 to 200 characters.")]
Url = Annotated[str, Meta(max_length=2048)]
WebhookUrl = Annotated[
    Url, Meta(description="https URL for events; the sandbox also allows http://localhost and 127.0.0.1.")
]
RedirectUrl = Annotated[
    Url, Meta(description="Where payers return when a checkout names no redirectUrl; https (as webhookUrl).")
]
Currencies = Annotated[
    list[Annotated[str, Meta(max_length=8)]],
    Meta(max_length=200, description="Active ISO 4217 codes this application accepts; null accepts all."),
]
Methods = Annotated[
    list[str],
    Meta(
        min_length=1,
        max_length=10,
        description='"sandbox" (sandbox only) and/or "bank_transfer" (needs bankDetails).',
    ),
]
ExpiresIn = Annotated[
    int, Meta(ge=60, le=2_592_000, description="Default lifetime of a checkout in seconds (60 to 30 days).")
]


class ApplicationCreate(Body, rename="camel"):
    """Body of ``POST /api/payment-applications``."""

    name: Name
    webhook_url: WebhookUrl | None = None
    default_redirect_url: RedirectUrl | None = None
    currencies: Currencies | None = None
    methods: (
        Annotated[Methods, Meta(description='Default: ["sandbox"] in the sandbox, else ["bank_transfer"].')]
        | None
    ) = None
    bank_details: BankDetails | None = None
    default_expires_in: ExpiresIn | None = None


class ApplicationUpdate(Body, rename="camel"):
    """Body of ``PATCH /api/payment-applications/{clientId}``: only the fields sent change;
    ``null`` clears an optional one."""

    name: Name | UnsetType = UNSET
    webhook_url: WebhookUrl | UnsetType | None = UNSET
    default_redirect_url: RedirectUrl | UnsetType | None = UNSET
    currencies: Currencies | UnsetType | None = UNSET
    methods: Methods | UnsetType = UNSET
    bank_details: BankDetails | UnsetType | None = UNSET
    default_expires_in: ExpiresIn | UnsetType | None = UNSET


class ApplicationView(msgspec.Struct, kw_only=True, rename="camel"):
    """A payment application. Its webhook secret is shown only at creation and rotation."""

    client_id: str
    name: str
    environment: str
    is_default: bool
    webhook_url: str | None
    default_redirect_url: str | None
    default_expires_in: int | None
    currencies: list[str] | None
    methods: list[str]
    bank_details: BankDetails | None
    created_at: str
    webhook_disabled_at: Annotated[
        str | None,
        Meta(
            description="When webhook deliveries stopped (410 Gone, or three days of failures); "
            "redeliver or replay an event to resume. null while they run."
        ),
    ] = None

    @classmethod
    def of(cls, app: Application) -> ApplicationView:
        return cls(
            client_id=app.client_id,
            name=app.name,
            environment=app.environment,
            is_default=app.is_default,
            webhook_url=app.webhook_url,
            default_redirect_url=app.default_redirect_url,
            default_expires_in=app.default_expires_in,
            currencies=app.currencies,
            methods=app.methods,
            bank_details=app.bank_details,
            created_at=rfc3339(app.created_at) or "",
            webhook_disabled_at=rfc3339(app.webhook_disabled_at),
        )


class ApplicationWithSecret(ApplicationView, kw_only=True):
    """The answer to a creation or a rotation: the only times ``webhookSecret`` is shown.
    After a rotation the previous secret also signs until ``previousSecretExpiresAt``."""

    webhook_secret: str
    previous_secret_expires_at: str | None

    @classmethod
    def with_secret(
        cls, app: Application, secret: str, *, previous_expires_at: datetime | None = None
    ) -> ApplicationWithSecret:
        return cls(
            **msgspec.structs.asdict(ApplicationView.of(app)),
            webhook_secret=secret,
            previous_secret_expires_at=rfc3339(previous_expires_at),
        )


class ApplicationList(msgspec.Struct):
    """The account's applications in this environment, the default first (archived ones are not listed)."""

    data: list[ApplicationView]

    @classmethod
    def of(cls, apps: list[Application]) -> ApplicationList:
        return cls(data=[ApplicationView.of(a) for a in apps])


class TokenCreate(Body, rename="camel"):
    """Body of ``POST /api/payment-applications/{clientId}/tokens``."""

    label: Annotated[str, Meta(min_length=1, max_length=200, description="What the token is for.")]
    scopes: Annotated[
        list[str],
        Meta(
            min_length=1,
            max_length=10,
            description='"payments.create", "payments.get", "payments.user-instructions.get" or "*".',
        ),
    ]
    expires_at: (
        Annotated[
            datetime,
            Meta(
                description="RFC 3339 with an offset, in the future; omit for a token that does not expire."
            ),
        ]
        | None
    ) = None


class TokenView(msgspec.Struct, kw_only=True, rename="camel"):
    """A client token without its secret."""

    id: str
    label: str
    scopes: list[str]
    expires_at: str | None
    created_at: str
    last_used_at: str | None

    @classmethod
    def of(cls, token: ClientToken) -> TokenView:
        return cls(
            id=str(token.id),
            label=token.label,
            scopes=token.scopes,
            expires_at=rfc3339(token.expires_at),
            created_at=rfc3339(token.created_at) or "",
            last_used_at=rfc3339(token.last_used_at),
        )


class TokenCreated(msgspec.Struct, kw_only=True, rename="camel"):
    """A new client token. ``token`` is the secret: shown here once, stored only as a digest."""

    id: str
    label: str
    scopes: list[str]
    expires_at: str | None
    created_at: str
    token: str

    @classmethod
    def of(cls, token: ClientToken, secret: str) -> TokenCreated:
        return cls(
            id=str(token.id),
            label=token.label,
            scopes=token.scopes,
            expires_at=rfc3339(token.expires_at),
            created_at=rfc3339(token.created_at) or "",
            token=secret,
        )


class TokenList(msgspec.Struct):
    """The application's tokens that are not revoked, newest first; never their secrets."""

    data: list[TokenView]

    @classmethod
    def of(cls, tokens: list[ClientToken]) -> TokenList:
        return cls(data=[TokenView.of(t) for t in tokens])
