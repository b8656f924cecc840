"""The service container: one of each, built once per process by ``create_app`` or
the CLI, so that the outside world (database, clock) is injected, not imported."""

from __future__ import annotations

from dataclasses import dataclass

from payreq.account.keys import ApiKeyService
from payreq.account.service import AccountService
from payreq.account.sessions import SessionService
from payreq.account.team import TeamService
from payreq.account.totp import TotpService
from payreq.account.users import UserService
from payreq.application.service import ApplicationService
from payreq.application.tokens import ClientTokenService
from payreq.audit.service import AuditService
from payreq.auth.service import Authenticator
from payreq.config import Settings
from payreq.db import Database
from payreq.kit.clock import Clock, utc_now
from payreq.kit.mail import Mailer
from payreq.method.service import PaymentMethods
from payreq.oauth.service import OAuthService
from payreq.overview.service import OverviewService
from payreq.payment.instructions import InstructionsService
from payreq.payment.service import PaymentService
from payreq.ratelimit.limiter import RateLimiter
from payreq.webhook.limits import SendLimits
from payreq.webhook.monitor import WebhookMonitor
from payreq.webhook.service import WebhookService
from payreq.webhook.ssrf import UrlPolicy


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
    audit: AuditService
    monitor: WebhookMonitor
    overview: OverviewService
    sessions: SessionService
    users: UserService
    totp: TotpService
    team: TeamService
    api_keys: ApiKeyService
    mailer: Mailer

    @classmethod
    def build(cls, settings: Settings, db: Database, *, clock: Clock = utc_now) -> Services:
        audit = AuditService(clock=clock)
        payments = PaymentService(
            base_url=settings.base_url,
            default_expires_in=settings.default_expires_in,
            clock=clock,
            audit=audit,
        )
        accounts = AccountService(clock=clock, audit=audit)
        authenticator = Authenticator(db, clock=clock, cache_seconds=settings.auth_cache_seconds)
        oauth = OAuthService(
            token_ttl=settings.access_token_ttl,
            clock=clock,
            credentials_changed=authenticator.forget_all,
            cache_seconds=settings.auth_cache_seconds,
        )
        authenticator.also_forget(oauth.clients.clear)
        changed = authenticator.forget_all
        limiter = RateLimiter(
            default_limit=settings.default_rate_limit,
            account_limit=settings.account_rate_limit,
            redis_url=settings.redis_url,
            redis_prefix=f"{settings.redis_prefix}rl:",
            failure_limit=settings.auth_failure_limit,
            failure_window=settings.auth_failure_window,
            enabled=settings.rate_limit_enabled,
        )
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            authenticator=authenticator,
            accounts=accounts,
            oauth=oauth,
            payments=payments,
            applications=ApplicationService(
                clock=clock,
                credentials_changed=changed,
                url_policy=UrlPolicy.of(settings.webhook_allow_private),
                audit=audit,
            ),
            client_tokens=ClientTokenService(
                clock=clock,
                credentials_changed=changed,
                max_per_application=settings.max_client_tokens_per_application,
                audit=audit,
            ),
            instructions=InstructionsService(payments, base_url=settings.base_url),
            methods=PaymentMethods.build(payments, accounts),
            limiter=limiter,
            webhooks=WebhookService(
                clock=clock,
                audit=audit,
                limits=SendLimits(
                    limiter,
                    test_events=settings.webhook_test_rate_limit,
                    redeliveries=settings.webhook_redeliver_rate_limit,
                    replays=settings.webhook_replay_rate_limit,
                ),
            ),
            audit=audit,
            sessions=SessionService(
                secret_key=settings.secret_key,
                clock=clock,
                idle_timeout=settings.session_idle_timeout,
                max_age=settings.session_max_age,
                failure_limit=settings.login_failure_limit,
                user_failure_limit=settings.login_user_failure_limit,
                failure_window=settings.login_failure_window,
                audit=audit,
            ),
            users=UserService(
                clock=clock,
                signup_open=settings.signup == "open",
                audit=audit,
                limiter=limiter,
                signup_address_limit=settings.signup_address_limit,
                signup_email_limit=settings.signup_email_limit,
            ),
            totp=TotpService(clock=clock, audit=audit),
            team=TeamService(clock=clock, audit=audit),
            api_keys=ApiKeyService(
                clock=clock,
                credentials_changed=changed,
                audit=audit,
                max_api_keys=settings.max_api_keys_per_account,
            ),
            mailer=Mailer(settings.smtp_url, sender=settings.smtp_from),
            monitor=WebhookMonitor(clock=clock, audit=audit),
            overview=OverviewService(clock=clock),
        )
