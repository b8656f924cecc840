"""The service container: one of each, built once per process by ``create_app`` or
the CLI, so that the outside world (database, clock) is injected, not imported."""

from __future__ import annotations

from dataclasses import dataclass

from payreq.account.service import AccountService
from payreq.application.service import ApplicationService
from payreq.application.tokens import ClientTokenService
from payreq.auth.service import Authenticator
from payreq.config import Settings
from payreq.db import Database
from payreq.kit.clock import Clock, utc_now
from payreq.method.service import PaymentMethods
from payreq.oauth.service import OAuthService
from payreq.payment.instructions import InstructionsService
from payreq.payment.service import PaymentService
from payreq.ratelimit.limiter import RateLimiter
from payreq.webhook.service import WebhookService


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock
    authenticator: Authenticator
    accounts: AccountService
    oauth: OAuthService
    payments: PaymentService
    applications: ApplicationService
    client_tokens: ClientTokenService
    instructions: InstructionsService
    limiter: RateLimiter
    methods: PaymentMethods
    webhooks: WebhookService

    @classmethod
    def build(cls, settings: Settings, db: Database, *, clock: Clock = utc_now) -> Services:
        payments = PaymentService(
            base_url=settings.base_url, default_expires_in=settings.default_expires_in, clock=clock
        )
        authenticator = Authenticator(db, clock=clock, cache_seconds=settings.auth_cache_seconds)
        changed = authenticator.forget_all
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            authenticator=authenticator,
            accounts=AccountService(clock=clock, max_api_keys=settings.max_api_keys_per_account),
            oauth=OAuthService(token_ttl=settings.access_token_ttl, clock=clock, credentials_changed=changed),
            payments=payments,
            applications=ApplicationService(clock=clock, credentials_changed=changed),
            client_tokens=ClientTokenService(
                clock=clock,
                credentials_changed=changed,
                max_per_application=settings.max_client_tokens_per_application,
            ),
            instructions=InstructionsService(payments, base_url=settings.base_url),
            methods=PaymentMethods.build(payments),
            limiter=RateLimiter(
                default_limit=settings.default_rate_limit,
                account_limit=settings.account_rate_limit,
                redis_url=settings.redis_url,
                redis_prefix=f"{settings.redis_prefix}rl:",
                failure_limit=settings.auth_failure_limit,
                failure_window=settings.auth_failure_window,
                enabled=settings.rate_limit_enabled,
            ),
            webhooks=WebhookService(clock=clock),
        )
