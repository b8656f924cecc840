"""Payments (every role reads; developers and up change): the list with its filters in
the URL, its CSV export, and a payment's detail with its timeline.

- ``GET  /dashboard/payments``: filters (status, application, currency, amount range,
  created from/to, search) as query parameters, cursor pages, no default date filter;
- ``GET  /dashboard/payments/export``: the same filters, the whole selection as CSV;
- ``GET  /dashboard/payments/{id}``: the timeline, cancel (pending only), redeliver;
- ``POST /dashboard/payments/{id}/cancel`` and ``.../events/{event_id}/redeliver``.

The filters are parsed by the API's own ``payment_filters``: one set of rules.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import html, see_other, services_of
from payreq.errors import PayreqError, ValidationFailed
from payreq.payment.export import export_csv
from payreq.payment.instructions import PaymentInstructions
from payreq.payment.models import PaymentQuery
from payreq.payment.routes_b import payment_filters
from payreq.payment.timeline import timeline

register(NavEntry("/dashboard/payments", "Payments", Permission.READ, 20))

FILTERS = ("status", "clientId", "currency", "amountFrom", "amountTo", "createdFrom", "createdTo", "q")
STATUSES = ("pending", "paid", "expired", "cancelled")


def _day(value: str, name: str, *, end: bool = False) -> str | None:
    """A date input (``2026-12-01``) as the API's RFC 3339 bound, in UTC; ``end`` is
    the day after, so that "to 1 December" includes that day."""
    from datetime import date, timedelta

    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed("Enter a date as YYYY-MM-DD.", param=name) from None
    if end:
        day += timedelta(days=1)
    return f"{day.isoformat()}T00:00:00Z"


async def filters_of(request: Request[Any, Any, Any]) -> tuple[dict[str, str], PaymentQuery]:
    values = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    query = await payment_filters(
        status=values["status"] or None,
        client_id=values["clientId"] or None,
        created_from=_day(values["createdFrom"], "createdFrom"),
        created_to=_day(values["createdTo"], "createdTo", end=True),
        currency=values["currency"] or None,
        amount_from=values["amountFrom"] or None,
        amount_to=values["amountTo"] or None,
        q=values["q"] or None,
        limit=25,
        cursor=request.query_params.get("cursor") or None,
    )
    return values, query


@get("/payments", include_in_schema=False)
async def payments(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    services = services_of(request)
    values = {name: request.query_params.get(name, "") for name in FILTERS}
    errors: dict[str, str] = {}
    listing = None
    async with services.db.read() as conn:
        apps = await services.applications.list(conn, page.subject)
        try:
            values, query = await filters_of(request)
            listing = await services.payments.list(conn, page.subject, query)
        except ValidationFailed as exc:
            errors[_field(exc.param)] = exc.message
    chosen = {k: v for k, v in values.items() if v}
    context = page.context(
        values=values,
        errors=errors,
        listing=listing,
        applications=apps,
        statuses=STATUSES,
        export_url="/dashboard/payments/export" + (f"?{urlencode(chosen)}" if chosen else ""),
        next_url=(
            f"/dashboard/payments?{urlencode({**chosen, 'cursor': listing.next_cursor})}"
            if listing and listing.next_cursor
            else None
        ),
        filtered=bool(chosen),
    )
    return html(request, "payments.html", context, status=422 if errors else 200)


def _field(param: str | None) -> str:
    names = {"cursor": "q", "reference": "q"}
    return names.get(param or "q", param or "q")


@get("/payments/export", include_in_schema=False)
async def export(request: Request[Any, Any, Any]) -> Stream:
    page = await signed_in(request, Permission.READ)
    services = services_of(request)
    _, query = await filters_of(request)
    lines = await export_csv(services.payments, services.db, page.subject, query)
    return Stream(
        lines,
        media_type="text/csv",  # Litestar adds the charset to text types
        headers={
            "Content-Disposition": f'attachment; filename="payments-{page.environment}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _detail(
    request: Request[Any, Any, Any], page: Page, payment_id: str, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    shown: list[PaymentInstructions] = []
    async with services.db.read() as conn:
        story = await timeline(conn, services.payments, services.audit, page.subject, payment_id)
        if story.payment.status.value == "pending":
            for method in services.methods.registry.names():
                try:  # what the payer is shown for each method this payment offers
                    shown.append(
                        await services.instructions.get(conn, page.subject, payment_id, method, printed=True)
                    )
                except PayreqError:
                    continue
    context = page.context(
        story=story,
        payment=story.payment,
        checkout_url=f"{services.settings.base_url}/checkout/{story.payment.id}",
        may_change=page.may(Permission.DEVELOP),
        instructions=shown,
        **extra,
    )
    return html(request, "payment.html", context, status=status)


@get("/payments/{payment_id:str}", include_in_schema=False)
async def detail(request: Request[Any, Any, Any], payment_id: FromPath[str]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    notices = {
        "cancelled": "The payment request was cancelled.",
        "redelivered": "The event is being sent again.",
    }
    shown = [v for k, v in notices.items() if request.query_params.get(k)]
    return await _detail(request, page, payment_id, notices=shown)


@post("/payments/{payment_id:str}/cancel", include_in_schema=False, status_code=303)
async def cancel(request: Request[Any, Any, Any], payment_id: FromPath[str]) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.payments.cancel(conn, page.subject, payment_id)
    except PayreqError as exc:
        if exc.status != 409:
            raise
        return await _detail(request, page, payment_id, status=409, notices=[exc.message])
    return see_other(request, f"/dashboard/payments/{payment_id}?cancelled=1")


@post("/payments/{payment_id:str}/events/{event_id:str}/redeliver", include_in_schema=False, status_code=303)
async def redeliver(
    request: Request[Any, Any, Any], payment_id: FromPath[str], event_id: FromPath[str]
) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.webhooks.redeliver(conn, page.subject, event_id)
    except PayreqError as exc:
        if exc.status not in (409, 429):
            raise
        refused = await _detail(request, page, payment_id, status=exc.status, notices=[exc.message])
        refused.headers.update(exc.headers)  # Retry-After on a 429
        return refused
    return see_other(request, f"/dashboard/payments/{payment_id}?redelivered=1")


handlers = [payments, export, detail, cancel, redeliver]
