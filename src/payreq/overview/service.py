"""The overview's figures for one environment (SPEC §7): paid volume and count per day
for 30 days per currency, the share of paid, expired and cancelled requests, the median
time to pay, failing webhook endpoints, and statement lines waiting to be resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from payreq.application.service import tenant_of
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.kit.clock import Clock, utc_now
from payreq.overview import repository

DAYS = 30


@dataclass(frozen=True, slots=True)
class DayFigure:
    day: date
    count: int
    volume: int
    """Minor units of the series' currency."""


@dataclass(frozen=True, slots=True)
class Series:
    currency: str
    days: list[DayFigure]

    @property
    def total_count(self) -> int:
        return sum(d.count for d in self.days)

    @property
    def total_volume(self) -> int:
        return sum(d.volume for d in self.days)


@dataclass(frozen=True, slots=True)
class FailingEndpoint:
    client_id: str
    name: str
    failing_since: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    environment: str
    first_day: date
    last_day: date
    series: list[Series]
    outcomes: dict[str, int]
    median_seconds_to_pay: float | None
    failing_endpoints: list[FailingEndpoint] = field(default_factory=list)
    unresolved_lines: int = 0

    def share(self, status: str) -> float | None:
        total = sum(self.outcomes.values())
        return self.outcomes.get(status, 0) / total if total else None


class OverviewService:
    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock

    async def overview(self, conn: Connection, subject: AuthSubject) -> Overview:
        tenant = tenant_of(subject, Permission.READ)
        now = self.clock()
        last_day = now.date()
        first_day = last_day - timedelta(days=DAYS - 1)
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
        by_currency: dict[str, dict[date, DayFigure]] = {}
        for row in await repository.paid_per_day(conn, tenant, first_day=first_day):
            day = date.fromisoformat(row["day"])
            by_currency.setdefault(row["currency"], {})[day] = DayFigure(
                day, int(row["count"]), int(row["volume"])
            )
        series = [
            Series(
                currency,
                [
                    days.get(first_day + timedelta(days=n), DayFigure(first_day + timedelta(days=n), 0, 0))
                    for n in range(DAYS)
                ],
            )
            for currency, days in sorted(by_currency.items())
        ]
        outcomes = {
            r["status"]: int(r["count"])
            for r in await repository.outcomes(conn, tenant, since=since, now=now)
        }
        return Overview(
            environment=tenant.environment,
            first_day=first_day,
            last_day=last_day,
            series=series,
            outcomes=outcomes,
            median_seconds_to_pay=await repository.median_seconds_to_pay(conn, tenant, first_day=first_day),
            failing_endpoints=[
                FailingEndpoint(
                    r["client_id"], r["name"], r["webhook_failing_since"], r["webhook_disabled_at"]
                )
                for r in await repository.failing_endpoints(conn, tenant)
            ],
            unresolved_lines=await repository.unresolved_lines(conn, tenant),
        )
