"""``GET /api/audit-log``: the account's audit log over the API (access token, ``*``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get
from litestar.params import QueryParameter

from payreq.audit.schemas import AuditLog
from payreq.audit.service import AuditFilter
from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.http import error_responses
from payreq.payment.schemas_b import parse_instant
from payreq.services import Services


@get(
    "/",
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    responses=error_responses(401, 403, 422, 429),
)
async def audit_log(
    request: Request[Any, Any, Any],
    subject: Subject,
    actor: Annotated[
        str | None,
        QueryParameter(
            description="An actor's id or label (an API key's Client ID, an email) or a kind (api_key, user, ...)."
        ),
    ] = None,
    kind: Annotated[
        str | None, QueryParameter(description="An entry kind (payment.cancelled) or a family (payment).")
    ] = None,
    since: Annotated[
        str | None, QueryParameter(description="Entries at or after this RFC 3339 time.")
    ] = None,
    until: Annotated[str | None, QueryParameter(description="Entries before this RFC 3339 time.")] = None,
    cursor: Annotated[str | None, QueryParameter(description="`nextCursor` of the previous page.")] = None,
    limit: Annotated[int | None, QueryParameter(description="1 to 100 (default 10).")] = None,
) -> AuditLog:
    """Read the audit log, newest first: this environment's changes (the account-wide ones, team and sign-ins, only in the dashboard, to admins and owners). Access token only, scope `*`."""
    services: Services = request.app.state.services
    query = AuditFilter(
        actor=actor,
        kind=kind,
        since=parse_instant(since, "since"),
        until=parse_instant(until, "until"),
        cursor=cursor,
        limit=limit,
    )
    async with services.db.read() as conn:
        page = await services.audit.list(conn, subject, query)
    return AuditLog.of(page)


router = Router(path="/api/audit-log", route_handlers=[audit_log], tags=["Audit log (contract B)"])
