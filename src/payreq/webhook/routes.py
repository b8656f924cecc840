"""Contract B: ``/api/events`` (SPEC §3, §6): the event log merchants can poll when a
webhook did not arrive, each event's delivery attempts, redelivery and replay.

Access tokens only (a client token gets 403): reading needs ``payments.get``, sending
again ``*``. Thin: parse, call the service in one unit of work, present.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.params import FromPath, QueryParameter

from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.http import error_responses
from payreq.kit.jsonbody import decode
from payreq.services import Services
from payreq.webhook.schemas import EventDetail, EventList, Replay, Replayed

READ = {"subject": requires(Scope.PAYMENTS_GET, access_token_only=True)}
WRITE = {"subject": requires(Scope.ALL, access_token_only=True)}


@get(
    "/",
    dependencies=READ,
    responses=error_responses(401, 403, 422, 429),
)
async def list_events(
    request: Request[Any, Any, Any],
    subject: Subject,
    type: Annotated[
        str | None,
        QueryParameter(description="payment.created, payment.paid, payment.cancelled or payment.expired."),
    ] = None,
    after: Annotated[
        str | None, QueryParameter(description="An event id (`nextCursor`): the events after it.")
    ] = None,
    payment_id: Annotated[
        str | None,
        QueryParameter(name="paymentId", description="Only this payment's events (shown at once)."),
    ] = None,
    limit: Annotated[
        int | None, QueryParameter(description="1 to 100 (default 10); larger values are clamped.")
    ] = None,
) -> EventList:
    """List events oldest first, each a few seconds after it happened. Access token only, scope `payments.get`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        page = await services.webhooks.list_events(
            conn, subject, type=type, after=after, payment_id=payment_id, limit=limit
        )
    return EventList.of(page)


@get(
    "/{event_id:str}",
    dependencies=READ,
    responses=error_responses(401, 403, 404, 429),
)
async def get_event(
    request: Request[Any, Any, Any], subject: Subject, event_id: FromPath[str]
) -> EventDetail:
    """Read an event with every delivery attempt. Access token only, scope `payments.get`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        event, attempts = await services.webhooks.get_event(conn, subject, event_id)
    return EventDetail.with_attempts(event, attempts)


@post(
    "/{event_id:str}/redeliver",
    status_code=202,
    dependencies=WRITE,
    responses=error_responses(401, 403, 404, 409, 429),
)
async def redeliver_event(
    request: Request[Any, Any, Any], subject: Subject, event_id: FromPath[str]
) -> EventDetail:
    """Send an event again now (same `webhook-id`); enables a disabled endpoint. Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.transaction() as conn:
        event, attempts = await services.webhooks.redeliver(conn, subject, event_id)
    return EventDetail.with_attempts(event, attempts)


@post(
    "/replay",
    status_code=202,
    dependencies=WRITE,
    responses=error_responses(400, 401, 403, 413, 422, 429),
    opt={"body": Replay},
)
async def replay_events(request: Request[Any, Any, Any], subject: Subject) -> Replayed:
    """Send again every failed event created since a time (at most 30 days ago); enables their endpoints. Access token only, scope `*`."""
    services: Services = request.app.state.services
    data = decode(await request.body(), Replay)
    since = services.webhooks.replay_since(data.since)
    total, after = 0, None
    while True:  # bounded batches, one short unit of work each
        async with services.db.transaction() as conn:
            count, after = await services.webhooks.replay_batch(conn, subject, since=since, after=after)
        total += count
        if after is None:
            return Replayed(replayed=total)


router = Router(
    path="/api/events",
    route_handlers=[list_events, get_event, redeliver_event, replay_events],
    tags=["Events and webhooks (contract B)"],
)
