"""Overview (every role): the environment's last 30 days at a glance.

- ``GET /dashboard/overview``: paid volume and count per day per currency as an SVG
  chart drawn here (with its numbers as a table), the share of paid, expired and
  cancelled requests, the median time to pay, failing endpoints, lines to resolve.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from markupsafe import Markup

from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import signed_in
from payreq.dashboard.web import html, services_of
from payreq.overview.chart import paid_chart

register(NavEntry("/dashboard/overview", "Overview", Permission.READ, 10))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@get("/overview", include_in_schema=False)
async def overview(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    services = services_of(request)
    async with services.db.read() as conn:
        found = await services.overview.overview(conn, page.subject)
    charts = [
        (series, Markup(paid_chart(series, chart_id=f"chart-{series.currency.lower()}")))  # noqa: S704 (escaped)
        for series in found.series
    ]
    context = page.context(overview=found, charts=charts, median=duration(found.median_seconds_to_pay))
    return html(request, "overview.html", context)


handlers = [overview]
