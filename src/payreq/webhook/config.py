"""The delivery settings one worker runs with, read once from ``Settings`` (tests build
their own, with a compressed schedule, instead of editing code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from payreq.config import Settings
from payreq.webhook.ssrf import UrlPolicy

MAX_RETRY_AFTER = 24 * 3600.0
"""A ``Retry-After`` longer than this is read as this."""


def parse_schedule(value: str) -> tuple[float, ...]:
    """``"0,5,300"`` -> ``(0.0, 5.0, 300.0)``: seconds before each attempt, the first 0."""
    try:
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError("the retry schedule must be seconds separated by commas, such as 0,5,300") from None
    if not delays or delays[0] != 0 or any(d < 0 or d != d for d in delays):
        raise ValueError("the retry schedule must start with 0 (at once) and hold no negative delay")
    return delays


@dataclass(frozen=True)
class WebhookConfig:
    schedule: tuple[float, ...] = parse_schedule(Settings.model_fields["webhook_retry_schedule"].default)
    jitter: float = 0.1
    timeout: float = 10.0
    lease: float = 60.0
    disable_after: float = 3 * 86400.0
    concurrency: int = 32
    poll_interval: float = 0.25
    response_bytes: int = 1024
    policy: UrlPolicy = field(default_factory=UrlPolicy)

    @property
    def attempts(self) -> int:
        """Attempts before a delivery is marked failed."""
        return len(self.schedule)

    @classmethod
    def of(cls, settings: Settings) -> WebhookConfig:
        return cls(
            schedule=parse_schedule(settings.webhook_retry_schedule),
            jitter=settings.webhook_retry_jitter,
            timeout=settings.webhook_timeout,
            lease=settings.webhook_lease,
            disable_after=settings.webhook_disable_after,
            concurrency=settings.webhook_concurrency,
            poll_interval=settings.webhook_poll_interval,
            policy=UrlPolicy.of(settings.webhook_allow_private),
        )
