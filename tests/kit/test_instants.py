"""Instants a client sends are bounded to [1970, 9999) in UTC (kit/clock.py): an extreme
year with an offset overflows the conversion to UTC, and on SQLite a year before 1000
sorts wrongly as text. Every member of the class answers 422, on every route that
takes an instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payreq.db.sqlite import _adapt_datetime
from payreq.kit.clock import instant, rfc3339, rfc3339_of
from tests.fixtures.factories import Merchant

EXTREME = [
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+23:59",
    "0999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
]


@pytest.mark.parametrize("value", EXTREME)
async def test_listing_payments_refuses_extreme_instants(merchant: Merchant, value: str) -> None:
    for param in ("createdFrom", "createdTo"):
        answer = await merchant.http.get(
            "/api/payments", params={param: value}, headers=await merchant.headers()
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["param"] == param


@pytest.mark.parametrize("value", EXTREME)
async def test_a_client_token_expiry_refuses_extreme_instants(merchant: Merchant, value: str) -> None:
    answer = await merchant.http.post(
        f"/api/payment-applications/{merchant.credentials.application_client_id}/tokens",
        json={"label": "t", "scopes": ["*"], "expiresAt": value},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == "expiresAt"


@pytest.mark.parametrize("value", EXTREME)
async def test_replay_refuses_extreme_instants(merchant: Merchant, value: str) -> None:
    answer = await merchant.http.post(
        "/api/events/replay", json={"since": value}, headers=await merchant.headers()
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == "since"


async def test_the_bounds_themselves_are_accepted(merchant: Merchant) -> None:
    answer = await merchant.http.get(
        "/api/payments",
        params={"createdFrom": "1970-01-01T00:00:00Z", "createdTo": "9998-12-31T23:59:59+00:00"},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 200, answer.text


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    )
)
def test_rfc3339_is_the_utc_isoformat_with_a_z(value: datetime) -> None:
    assert rfc3339(value) == value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),  # the stored text's own domain (test_sqlite_adapters.py)
        max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
    st.booleans(),
)
def test_an_instant_read_as_sqlites_stored_text_is_shown_as_the_instant_itself(
    value: datetime, whole_second: bool
) -> None:
    """The poll reads SQLite's instants as their stored text (payment/repository.py):
    re-cut, they are what ``rfc3339`` shows of the datetime, and ``instant`` gives it back."""
    if whole_second:
        value = value.replace(microsecond=0)
    stored = _adapt_datetime(value)
    assert rfc3339_of(stored) == rfc3339(value)
    assert instant(stored) == value
    assert rfc3339_of(value) == rfc3339(value) and rfc3339_of(None) is None


def test_an_instant_text_of_another_shape_is_parsed_not_cut() -> None:
    for text in ("2026-12-01T14:00:00+00:00", "2026-12-01T15:30:00.250000+01:30"):
        assert rfc3339_of(text) == rfc3339(datetime.fromisoformat(text))
