"""What one webhook attempt saw, and how long its answer asks to wait: the parts of a
delivery that do not need the HTTP client (``sender``), which the worker and the
routes import without loading aiohttp (a server that never sends webhooks, or not
yet, does not carry it: about 5 MB of RSS)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from payreq.kit.clock import utc_now


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt saw."""

    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - utc_now()).total_seconds())
