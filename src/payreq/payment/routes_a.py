"""Contract A: ``/payment/request`` (seeds/faq.md, SPEC §2). Thin: parse, call the
service in one unit of work, present."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.params import FromPath, FromQuery, QueryParameter

from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.errors import ValidationFailed
from payreq.http import error_responses
from payreq.kit.jsonbody import decode
from payreq.payment.lifecycle import Status
from payreq.payment.models import PaymentQuery
from payreq.payment.schemas_a import PaymentRequestCreate, PaymentRequestList, PaymentRequestView
from payreq.services import Services


@post(
    "/",
    status_code=201,
    dependencies={"subject": requires(Scope.PAYMENTS_CREATE)},
    responses=error_responses(400, 401, 403, 404, 413, 422, 429),
    opt={"body": PaymentRequestCreate},
)
async def create_payment_request(request: Request[Any, Any, Any], subject: Subject) -> PaymentRequestView:
    """Create a payment request and get the checkout URL to send the payer to."""
    services: Services = request.app.state.services
    data = decode(await request.body(), PaymentRequestCreate)
    draft = data.draft()
    # the application's read: on PostgreSQL, a keyed request's claim carries it
    async with services.db.transaction(first=services.payments.application_read(subject, draft)) as conn:
        payment = await services.payments.create(conn, subject, draft)
    return PaymentRequestView.of(payment, base_url=services.settings.base_url)


@get(
    "/{payment_id:str}",
    dependencies={"subject": requires(Scope.PAYMENTS_GET)},
    responses=error_responses(401, 403, 404, 429),
)
async def get_payment_request(
    request: Request[Any, Any, Any], subject: Subject, payment_id: FromPath[str]
) -> PaymentRequestView:
    """Read a payment request; poll until ``status`` is ``paid``."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        return await PaymentRequestView.current(services, conn, subject, payment_id)


@post(
    "/{payment_id:str}/cancel",
    status_code=200,
    dependencies={"subject": requires(Scope.PAYMENTS_CREATE)},
    responses=error_responses(401, 403, 404, 409, 429),
)
async def cancel_payment_request(
    request: Request[Any, Any, Any], subject: Subject, payment_id: FromPath[str]
) -> PaymentRequestView:
    """Cancel a pending payment request; a terminal one answers 409 ``invalid_state``."""
    services: Services = request.app.state.services
    async with services.db.transaction() as conn:
        payment = await services.payments.cancel(conn, subject, payment_id)
    return PaymentRequestView.of(payment, base_url=services.settings.base_url)


@get(
    "/",
    dependencies={"subject": requires(Scope.PAYMENTS_GET)},
    responses=error_responses(400, 401, 403, 422, 429),
)
async def list_payment_requests(
    request: Request[Any, Any, Any],
    subject: Subject,
    status: Annotated[str | None, QueryParameter(description="pending, paid, expired or cancelled.")] = None,
    reference_id: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(description="1 to 100; larger values are clamped.")] = None,
    starting_after: Annotated[
        str | None, QueryParameter(description="The id of the last item of the previous page.")
    ] = None,
) -> PaymentRequestList:
    """List payment requests, newest first, with cursor pagination."""
    services: Services = request.app.state.services
    query = PaymentQuery(
        status=_status(status),
        reference_id=reference_id,
        limit=limit if limit is not None else 10,
        starting_after=starting_after,
    )
    async with services.db.read() as conn:
        page = await services.payments.list(conn, subject, query)
    return PaymentRequestList.of(page, base_url=services.settings.base_url)


def _status(value: str | None) -> Status | None:
    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationFailed(f"status must be one of {allowed}.", param="status") from None


router = Router(
    path="/payment/request",
    route_handlers=[
        create_payment_request,
        get_payment_request,
        cancel_payment_request,
        list_payment_requests,
    ],
    tags=["Payment requests (contract A)"],
)
