"""The one place time is read. Services take a ``Clock`` so tests can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class FrozenClock:
    """A clock for tests: stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
"""The instants a client may send: stored as text on SQLite, a year before 1000 would
sort wrongly, and an offset next to the year 9999 overflows the conversion to UTC."""


def bounded_instant(value: datetime) -> datetime | None:
    """``value`` in UTC if it lies in [1970, 9999), else None; it must carry an offset."""
    if value.tzinfo is None:
        return None
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        return None
    return instant if MIN_INSTANT <= instant < MAX_INSTANT else None


def rfc3339(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, second precision unless fractions exist."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"  # a UTC instant's isoformat ends in +00:00
