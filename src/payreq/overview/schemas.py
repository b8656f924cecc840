"""``GET /api/overview``: the overview's figures as JSON (the page draws the same)."""

from __future__ import annotations

import msgspec

from payreq.overview.service import Overview


class DayView(msgspec.Struct, rename="camel"):
    day: str
    count: int
    volume: int


class SeriesView(msgspec.Struct, rename="camel"):
    currency_code: str
    total_count: int
    total_volume: int
    days: list[DayView]


class FailingEndpointView(msgspec.Struct, rename="camel"):
    client_id: str
    name: str
    disabled: bool


class OverviewView(msgspec.Struct, rename="camel"):
    """Paid per day (minor units) per currency for the last 30 days, outcomes of the
    requests created in them, the median seconds to pay, failing endpoints, and
    statement lines to resolve."""

    environment: str
    first_day: str
    last_day: str
    paid: list[SeriesView]
    outcomes: dict[str, int]
    median_seconds_to_pay: float | None
    failing_endpoints: list[FailingEndpointView]
    unresolved_statement_lines: int

    @classmethod
    def of(cls, o: Overview) -> OverviewView:
        return cls(
            environment=o.environment,
            first_day=o.first_day.isoformat(),
            last_day=o.last_day.isoformat(),
            paid=[
                SeriesView(
                    s.currency,
                    s.total_count,
                    s.total_volume,
                    [DayView(d.day.isoformat(), d.count, d.volume) for d in s.days],
                )
                for s in o.series
            ],
            outcomes=o.outcomes,
            median_seconds_to_pay=o.median_seconds_to_pay,
            failing_endpoints=[
                FailingEndpointView(f.client_id, f.name, f.disabled_at is not None)
                for f in o.failing_endpoints
            ],
            unresolved_statement_lines=o.unresolved_lines,
        )
