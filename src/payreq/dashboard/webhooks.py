"""Webhooks (every role reads; developers and up send again or enable): each endpoint's
health, the delivery log (failed first) and resending.

- ``GET  /dashboard/webhooks``: health per application, the log with filters (type,
  outcome, application, created from/to), each line linked to its payment's attempts;
- ``POST /dashboard/webhooks/{clientId}/enable``: deliver to a disabled endpoint again;
- ``POST /dashboard/webhooks/events/{id}/redeliver``: one event again;
- ``POST /dashboard/webhooks/resend``: every failed delivery since a time, after a
  confirmation page that says how many (the API's bounded ``replay``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.payments import _day
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import html, see_other, services_of
from payreq.errors import PayreqError, RateLimited, ValidationFailed
from payreq.payment.schemas_b import parse_instant
from payreq.webhook.models import EventType
from payreq.webhook.monitor import OUTCOMES, DeliveryFilter

register(NavEntry("/dashboard/webhooks", "Webhooks", Permission.READ, 30))

FILTERS = ("type", "outcome", "clientId", "createdFrom", "createdTo")


def _since(value: str) -> datetime:
    """The resend form's time: a ``datetime-local`` value, read as UTC."""
    text = value.strip()
    if len(text) == 16:  # 2026-12-01T09:30
        text += ":00"
    instant = parse_instant(f"{text}Z" if text and not text.endswith("Z") else text or None, "since")
    if instant is None:
        raise ValidationFailed("Choose a time.", param="since")
    return instant


async def _page(
    request: Request[Any, Any, Any], page: Page, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    values = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    errors: dict[str, str] = dict(extra.pop("errors", {}))
    log = None
    async with services.db.read() as conn:
        health = await services.monitor.health(conn, page.subject)
        try:
            query = DeliveryFilter(
                client_id=values["clientId"] or None,
                event_type=values["type"] or None,
                outcome=values["outcome"] or None,
                since=parse_instant(_day(values["createdFrom"], "createdFrom"), "createdFrom"),
                until=parse_instant(_day(values["createdTo"], "createdTo", end=True), "createdTo"),
                cursor=request.query_params.get("cursor") or None,
            )
            log = await services.monitor.log(conn, page.subject, query)
        except ValidationFailed as exc:
            errors[exc.param or "type"] = exc.message
            status = 422
    chosen = {k: v for k, v in values.items() if v}
    context = page.context(
        health=health,
        log=log,
        values=values,
        errors=errors,
        types=[t.value for t in EventType],
        outcomes=OUTCOMES,
        may_change=page.may(Permission.DEVELOP),
        next_url=(
            f"/dashboard/webhooks?{urlencode({**chosen, 'cursor': log.next_cursor})}#log-heading"
            if log and log.next_cursor
            else None
        ),
        **extra,
    )
    return html(request, "webhooks.html", context, status=status)


@get("/webhooks", include_in_schema=False)
async def webhooks(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    notices = []
    if request.query_params.get("enabled"):
        notices.append("The endpoint is enabled again; deliveries resume.")
    if request.query_params.get("redelivered"):
        notices.append("The event is being sent again.")
    if request.query_params.get("resent") is not None:
        notices.append(f"{request.query_params.get('resent')} failed deliveries are being sent again.")
    return await _page(request, page, notices=notices)


@post("/webhooks/{client_id:str}/enable", include_in_schema=False, status_code=303)
async def enable(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.monitor.enable(conn, page.subject, client_id)
    return see_other(request, "/dashboard/webhooks?enabled=1")


@post("/webhooks/events/{event_id:str}/redeliver", include_in_schema=False, status_code=303)
async def redeliver(request: Request[Any, Any, Any], event_id: FromPath[str]) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.webhooks.redeliver(conn, page.subject, event_id)
    except PayreqError as exc:
        if exc.status not in (409, 429):
            raise
        refused = await _page(request, page, status=exc.status, notices=[exc.message])
        refused.headers.update(exc.headers)  # Retry-After on a 429
        return refused
    return see_other(request, "/dashboard/webhooks?redelivered=1")


@post("/webhooks/resend", include_in_schema=False, status_code=303)
async def resend(request: Request[Any, Any, Any]) -> Response[Any]:
    """First post: how many would be sent, and a confirm button; second: send them."""
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        since = services.webhooks.replay_since(_since(form.get("since")))
        if form.get("confirm") != "yes":
            async with services.db.read() as conn:
                count = await services.webhooks.replay_count(conn, page.subject, since=since)
            return await _page(
                request, page, confirm={"since": form.get("since"), "count": count, "at": since}
            )
        sent, after = 0, None
        while True:  # the API's bounded batches, one short unit of work each
            async with services.db.transaction() as conn:
                count, after = await services.webhooks.replay_batch(
                    conn, page.subject, since=since, after=after
                )
            sent += count
            if after is None:
                break
    except ValidationFailed as exc:
        return await _page(request, page, status=422, errors={"since": exc.message})
    except RateLimited as exc:
        refused = await _page(request, page, status=429, notices=[exc.message])
        refused.headers.update(exc.headers)  # Retry-After
        return refused
    return see_other(request, f"/dashboard/webhooks?resent={sent}")


handlers = [webhooks, enable, redeliver, resend]
