"""The dashboard's router: every area's handlers under ``/dashboard``, with the
dashboard's own error page for whatever goes wrong."""

from __future__ import annotations

from types import ModuleType

from litestar import Router
from litestar.exceptions import HTTPException

from payreq.dashboard import (
    account,
    applications,
    audit,
    auth,
    home,
    keys,
    overview,
    payments,
    statements,
    team,
    tokens,
    webhooks,
)
from payreq.dashboard.web import render_error
from payreq.errors import PayreqError

AREAS: list[ModuleType] = [
    home,
    auth,
    account,
    team,
    keys,
    applications,
    tokens,
    overview,
    payments,
    webhooks,
    statements,
    audit,
]
"""Each module has ``handlers``; part 2 appends its areas here."""


def router() -> Router:
    return Router(
        path="/dashboard",
        route_handlers=[handler for area in AREAS for handler in area.handlers],
        exception_handlers={PayreqError: render_error, HTTPException: render_error, Exception: render_error},
        include_in_schema=False,
        tags=["Dashboard"],
    )
