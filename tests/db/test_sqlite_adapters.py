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

from payreq.db.sqlite import UUID_TEXTS_KEPT, _adapt_datetime, _adapt_uuid, _uuid_texts
from payreq.kit.clock import STORED_TEXTS_KEPT, _stored_texts, rfc3339

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


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _adapt_datetime(datetime(2026, 12, 1))


def test_the_text_of_an_instant_bound_before_is_kept_up_to_a_bound() -> None:
    """The instants a request binds and shows again and again are formatted once."""
    now = datetime.now(UTC)
    first = _adapt_datetime(now)
    assert _adapt_datetime(now.replace()) is first  # an equal one: looked up, not formatted again
    assert _adapt_datetime(now.astimezone(timezone(timedelta(hours=2)))) is first  # the same instant
    assert rfc3339(now) == first[:26] + "Z"
    for step in range(2 * STORED_TEXTS_KEPT):
        other = now + timedelta(microseconds=step + 1)
        assert _adapt_datetime(other) == other.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        assert len(_stored_texts) <= STORED_TEXTS_KEPT
    assert _adapt_datetime(now) == first
    whole = now.replace(microsecond=0)
    assert _adapt_datetime(whole).endswith(".000000+00:00")
    assert rfc3339(whole) == whole.strftime("%Y-%m-%dT%H:%M:%SZ")  # the same instant, both shapes


@given(st.uuids())
def test_a_uuid_is_stored_as_its_text(value: uuid.UUID) -> None:
    assert _adapt_uuid(value) == str(value)
    assert _adapt_uuid(uuid.UUID(int=value.int)) == str(value)  # an equal one: the same text


def test_the_text_of_a_uuid_bound_before_is_kept_up_to_a_bound() -> None:
    value = uuid.uuid4()
    first = _adapt_uuid(value)
    assert _adapt_uuid(uuid.UUID(str(value))) is first  # looked up, not formatted again
    for _ in range(2 * UUID_TEXTS_KEPT):
        other = uuid.uuid4()
        assert _adapt_uuid(other) == str(other)
        assert len(_uuid_texts) <= UUID_TEXTS_KEPT
    assert _adapt_uuid(value) == first


def test_sqlite_binds_a_uuid_as_its_text() -> None:
    value = uuid.uuid4()
    conn = sqlite3.connect(":memory:")
    try:
        assert conn.execute("SELECT ?, typeof(?)", (value, value)).fetchone() == (str(value), "text")
    finally:
        conn.close()


@pytest.mark.parametrize("microsecond", [0, 1, 999_999])
def test_an_instant_on_a_whole_second_keeps_the_width(microsecond: int) -> None:
    value = datetime(2026, 12, 1, 14, 0, 0, microsecond, tzinfo=UTC)
    assert _adapt_datetime(value) == f"2026-12-01T14:00:00.{microsecond:06}+00:00"
