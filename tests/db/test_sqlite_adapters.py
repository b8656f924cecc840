"""How SQLite stores an instant: one fixed width in UTC, so that text order is time order
(every range query and index on a time column relies on it); and a UUID, as its
canonical text."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import payreq.db.sqlite  # noqa: F401  (registers the adapters)
from payreq.db.sqlite import _adapt_datetime

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=ZONES))
def test_an_instant_is_stored_as_utc_text_of_one_width(value: datetime) -> None:
    text = _adapt_datetime(value)
    assert text == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    assert len(text) == 32
    assert datetime.fromisoformat(text) == value


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=2, max_size=2))
def test_text_order_is_time_order(pair: list[datetime]) -> None:
    a, b = pair
    if a.year >= 1000 and b.year >= 1000:
        assert (_adapt_datetime(a) < _adapt_datetime(b)) == (a < b)


@given(st.lists(st.uuids(), min_size=1, max_size=20))
def test_a_uuid_is_stored_as_its_canonical_text(values: list[uuid.UUID]) -> None:
    """The adapter keeps texts it made (``_uuid_text``): an equal UUID, a new object,
    still gets its own canonical text, and a different one never another's."""
    conn = sqlite3.connect(":memory:")
    for value in [*values, *(uuid.UUID(int=v.int) for v in values)]:
        assert conn.execute("SELECT ?", (value,)).fetchone()[0] == str(value)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _adapt_datetime(datetime(2026, 12, 1))
