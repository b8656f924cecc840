"""Configuration from ``PAYREQ_*`` environment variables (SPEC §8).

Every setting has a default that works for ``make run`` on one machine; production
deployments set at least ``PAYREQ_DATABASE_URL``, ``PAYREQ_BASE_URL`` and
``PAYREQ_SECRET_KEY``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYREQ_", extra="ignore")

    # storage
    database_url: str = "sqlite:///var/payreq.db"
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    database_timeout: float = Field(default=5.0, gt=0)
    database_pool_size: int = Field(default=10, ge=1)

    # the public face
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (set it in production)
    environment_label: str = "development"

    # auth
    access_token_ttl: int = Field(default=3600, ge=60)
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=5)

    # payments
    default_expires_in: int = Field(default=86400, ge=60, le=2_592_000)

    # limits
    redis_url: str | None = None
    redis_prefix: str = "payreq:"
    rate_limit_enabled: bool = True
    default_rate_limit: int = Field(default=5, ge=1)
    auth_failure_limit: int = Field(default=10, ge=1)
    auth_failure_window: float = Field(default=10.0, gt=0)
    forwarded_allow_ips: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # worker
    worker_interval: float = Field(default=1.0, gt=0)
    embedded_worker: bool = True

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
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
