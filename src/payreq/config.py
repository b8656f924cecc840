"""Configuration from ``PAYREQ_*`` environment variables (SPEC §8).

Every setting has a default that works for ``make run`` on one machine; production
deployments set at least ``PAYREQ_DATABASE_URL``, ``PAYREQ_BASE_URL`` and
``PAYREQ_SECRET_KEY``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, TypeAdapter, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (set it in production)
"""The secret key of ``make run`` and the tests; refused when the public URL is https."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYREQ_", extra="ignore")

    # storage
    database_url: str = "sqlite:///var/payreq.db"
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    database_timeout: float = Field(default=5.0, gt=0)
    database_pool_size: int = Field(default=10, ge=1)

    # the public face
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    environment_label: str = "development"

    # auth
    access_token_ttl: int = Field(default=3600, ge=60)
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=5)

    # the dashboard (issue 12)
    signup: Literal["open", "closed"] = "closed"
    """Who may create an account from the sign-up page. ``closed`` (the default): only the
    operator (``payreq bootstrap``) and owners' invitations. On an ``open`` server every
    tenant is a stranger; ``make run`` opens it for local use."""
    signup_address_limit: int = Field(default=10, ge=1)
    """Sign-up forms one client address may send per hour (each mails a link; 429 past it);
    the password-reset form's own budget takes the same limit."""
    signup_email_limit: int = Field(default=3, ge=1)
    """Sign-up forms per hour naming one email address, registered or not (each mails
    that address; 429 past it); the password-reset form's own budget takes the same limit."""
    session_idle_timeout: int = Field(default=7200, ge=60)
    """Seconds without a request after which a dashboard session ends."""
    session_max_age: int = Field(default=7 * 86400, ge=300)
    """Seconds after sign-in after which a session ends however busy it is."""
    login_failure_limit: int = Field(default=10, ge=1)
    """Failed sign-ins per address per window before that address is refused."""
    login_user_failure_limit: int = Field(default=50, ge=1)
    """Failed sign-ins per user per window before browsers it has never signed in from
    are refused for that user (its known browsers keep working)."""
    login_failure_window: int = Field(default=900, ge=1)
    smtp_url: str | None = None
    """``smtp://user:pass@host:port`` (STARTTLS when offered), ``smtps://...`` (TLS) for
    sign-up, invitation and password-reset mail; unset: links are shown or printed
    instead (``payreq admin signup-link``, ``payreq admin reset-password``)."""
    smtp_from: str = "payreq <no-reply@localhost>"

    # payments
    default_expires_in: int = Field(default=86400, ge=60, le=2_592_000)

    # limits
    redis_url: str | None = None
    redis_prefix: str = "payreq:"
    rate_limit_enabled: bool = True
    default_rate_limit: int = Field(default=5, ge=1)
    account_rate_limit: int = Field(default=50, ge=1)
    """Requests per second of one account and environment, all its credentials together
    (raise one account's with ``payreq admin rate-limit --account``)."""
    max_client_tokens_per_application: int = Field(default=100, ge=1)
    """Live (unrevoked, unexpired) client tokens one application may have."""
    max_api_keys_per_account: int = Field(default=100, ge=1)
    """Unrevoked API keys one account may have in one environment."""
    checkout_form_rate_limit: int = Field(default=10, ge=1)
    """Checkout form posts (pay, cancel) per second from one client address."""
    checkout_payment_rate_limit: int = Field(default=5, ge=1)
    """Checkout form posts per second for one payment, from anywhere."""
    auth_failure_limit: int = Field(default=10, ge=1)
    auth_failure_window: float = Field(default=10.0, gt=0)
    forwarded_allow_ips: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    """Bytes of one request's head (request line and headers) ``payreq serve`` reads;
    past it, 431 and the connection is closed."""
    max_connections: int = Field(default=1000, ge=1)
    """Connections and requests in flight one server process takes; past it, 503."""

    # serving
    lean_routes: bool = True
    """The hot routes (GET/POST /payment/request, POST /oauth/token) answered by
    ``payreq.edge`` without the framework's machinery; false sends them through Litestar."""
    metrics_enabled: bool = True
    """``GET /metrics`` in Prometheus format, and the per-request counting behind it."""

    # worker
    worker_interval: float = Field(default=1.0, gt=0)
    embedded_worker: bool = True

    # webhooks (SPEC §6): delivery, retries, the URL policy
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    """Seconds one delivery attempt may take, connection to the first KiB of the answer."""
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000,50400,72000,86400"
    """Seconds before each attempt, comma-separated: at once, 5 s, 5 min, ... 24 h (about
    three days). Tests compress it (``0,0.2,0.2``); the first must be 0 (at once)."""
    webhook_retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    """Each retry delay is multiplied by a random factor in [1 - jitter, 1 + jitter]."""
    webhook_disable_after: float = Field(default=3 * 86400, gt=0)
    """An endpoint whose every attempt failed for this many seconds is disabled."""
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    """Deliveries one worker sends at once."""
    webhook_poll_interval: float = Field(default=0.25, gt=0, le=60)
    """How often an idle worker looks for due deliveries committed by other processes."""
    webhook_lease: float = Field(default=60.0, gt=0)
    """Seconds a claimed delivery stays claimed; a worker killed mid-send leaves it to
    others once this has passed. Must exceed ``webhook_timeout``."""
    webhook_test_rate_limit: int = Field(default=5, ge=1)
    """Test events per minute one application may send (429 past it)."""
    webhook_redeliver_rate_limit: int = Field(default=30, ge=1)
    """Redeliveries per minute of one application's events, API and dashboard (429 past it)."""
    webhook_replay_rate_limit: int = Field(default=5, ge=1)
    """Replays (``POST /api/events/replay``, the dashboard's resend) per minute of one
    account and environment (429 past it)."""
    webhook_allow_private: str = ""
    """Networks (CIDR, comma-separated) production webhooks may reach beyond public
    addresses, and reach over plain http; ``*`` allows every address."""

    # retention (the worker sweeps in small batches; 0 keeps forever)
    retention_attempt_body_days: int = Field(default=30, ge=0)
    """Days the first KiB of each webhook attempt's answer is kept (the attempt stays)."""
    retention_event_days: int = Field(default=395, ge=0)
    """Days events, with their deliveries and attempts, are kept (13 months)."""
    retention_statement_line_days: int = Field(default=2557, ge=0)
    """Days imported statement lines (and then their imports) are kept (7 years, as
    bookkeeping records; a line older than this is no longer recognised as imported)."""

    # fault tests only (tests/faults): hold every write's answer this many seconds
    # after its change committed, so that a test can kill the server between the
    # commit and the answer. 0 (the default) is off; only PAYREQ_FAULT_ANSWER_DELAY
    # turns it on, and `payreq serve` then says so on stderr.
    fault_answer_delay: float = Field(default=0.0, ge=0, le=60)

    # logs
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        from payreq.db.base import check_url

        return check_url(value)

    @field_validator("base_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        try:
            _HTTP_URL.validate_python(value)
        except ValueError:
            raise ValueError("must be an http:// or https:// URL, such as https://pay.example.com") from None
        if urlsplit(value).query or urlsplit(value).fragment:
            raise ValueError("must not carry a query or a fragment")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        from redis.connection import parse_url

        try:
            parse_url(value)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ValueError(f"{exc} (such as redis://host:6379/0)") from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (parsing it checks it)
        except ValueError as exc:
            raise ValueError(f"is not a URL: {exc}") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "*":
            return value
        for entry in (part.strip() for part in value.split(",")):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is neither an IP address nor a network (CIDR); list the proxies' "
                    "addresses comma-separated, or *"
                ) from None
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from payreq.webhook.config import parse_schedule

        parse_schedule(value)
        return value

    @field_validator("webhook_allow_private")
    @classmethod
    def _networks(cls, value: str) -> str:
        from payreq.webhook.ssrf import parse_networks

        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _lease_outlasts_attempt(self) -> Settings:
        if self.webhook_lease <= self.webhook_timeout:
            raise ValueError("PAYREQ_WEBHOOK_LEASE must be longer than PAYREQ_WEBHOOK_TIMEOUT")
        return self

    @model_validator(mode="after")
    def _production_has_its_own_secret(self) -> Settings:
        if self.secret_key == DEVELOPMENT_SECRET_KEY and self.base_url.startswith("https:"):
            raise ValueError(
                "PAYREQ_SECRET_KEY is the development default, which anyone can read, while "
                "PAYREQ_BASE_URL is https (production): set PAYREQ_SECRET_KEY to a long random "
                "value (openssl rand -hex 32), the same on every process"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
