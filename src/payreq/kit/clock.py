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


def instant(value: datetime | str) -> datetime:
    """An instant as a row gives it: a datetime, or (SQLite, a column read as text)
    the stored text, ``2026-12-01T14:00:00.000000+00:00``."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


STORED_TEXTS_KEPT = 256
_stored_texts: dict[datetime, str] = {}


def stored_text(value: datetime) -> str:
    """``2026-12-01T14:00:00.000000+00:00``, the text SQLite stores an instant as (one
    width, so that text order is time order), of a UTC datetime of the years 1000 to
    9999. Kept for the few instants a request writes and shows again and again (a
    creation binds its ``created_at`` for the payment, its event and its delivery, and
    shows it in its answer and in the event's data): one ``isoformat`` costs about
    7,000 instructions, a look-up a tenth of that. Emptied when full."""
    text = _stored_texts.get(value)
    if text is None:
        if len(_stored_texts) >= STORED_TEXTS_KEPT:
            _stored_texts.clear()
        # with the keyword, isoformat writes the six digits even when they are zeros;
        # without it (microseconds present), a quarter faster
        text = value.isoformat() if value.microsecond else value.isoformat(timespec="microseconds")
        _stored_texts[value] = text
    return text


def rfc3339_of(value: datetime | str | None) -> str | None:
    """``rfc3339`` of an instant as a row gives it (``instant``); SQLite's stored text
    is re-cut, not parsed: it is UTC, of one width, with six digits of fraction."""
    if isinstance(value, str):
        if len(value) == 32 and value.endswith("+00:00"):
            return f"{value[:19]}Z" if value[20:26] == "000000" else f"{value[:26]}Z"
        return rfc3339(datetime.fromisoformat(value))
    return rfc3339(value)


def rfc3339(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, second precision unless fractions exist."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year >= 1000:
        return rfc3339_of(stored_text(value))
    return value.isoformat()[:-6] + "Z"  # a UTC instant's isoformat ends in +00:00
