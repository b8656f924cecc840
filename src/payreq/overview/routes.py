"""``GET /api/overview`` (access token, ``payments.get``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get

from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.http import error_responses
from payreq.overview.schemas import OverviewView
from payreq.services import Services


@get(
    "/",
    dependencies={"subject": requires(Scope.PAYMENTS_GET, access_token_only=True)},
    responses=error_responses(401, 403, 429),
)
async def overview(request: Request[Any, Any, Any], subject: Subject) -> OverviewView:
    """The dashboard overview's figures for this environment. Access token only, scope `payments.get`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        found = await services.overview.overview(conn, subject)
    return OverviewView.of(found)


router = Router(path="/api/overview", route_handlers=[overview], tags=["Overview (contract B)"])
