"""Audit log (admins and owners): who changed what, when and from where.

- ``GET /dashboard/audit-log``: this environment's entries and the account-wide ones,
  newest first, filtered by actor (an email, a Client ID, or a kind such as
  ``api_key``), kind (``payment.cancelled`` or a family such as ``payment``) and time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get

from payreq.audit.models import ACTOR_KINDS
from payreq.audit.service import AuditFilter
from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.payments import _day
from payreq.dashboard.session import signed_in
from payreq.dashboard.web import html, services_of
from payreq.errors import ValidationFailed
from payreq.payment.schemas_b import parse_instant

register(NavEntry("/dashboard/audit-log", "Audit log", Permission.TEAM, 80))

FILTERS = ("actor", "kind", "from", "to")


@get("/audit-log", include_in_schema=False)
async def audit_log(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.TEAM)
    services = services_of(request)
    values = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    errors: dict[str, str] = {}
    entries = None
    try:
        query = AuditFilter(
            actor=values["actor"] or None,
            kind=values["kind"] or None,
            since=parse_instant(_day(values["from"], "from"), "from"),
            until=parse_instant(_day(values["to"], "to", end=True), "to"),
            cursor=request.query_params.get("cursor") or None,
            limit=50,
        )
        async with services.db.read() as conn:
            entries = await services.audit.list(conn, page.subject, query)
    except ValidationFailed as exc:
        errors[exc.param or "kind"] = exc.message
    chosen = {k: v for k, v in values.items() if v}
    context = page.context(
        entries=entries,
        values=values,
        errors=errors,
        actor_kinds=sorted(ACTOR_KINDS),
        next_url=(
            f"/dashboard/audit-log?{urlencode({**chosen, 'cursor': entries.next_cursor})}"
            if entries and entries.next_cursor
            else None
        ),
    )
    return html(request, "audit.html", context, status=422 if errors else 200)


handlers = [audit_log]
