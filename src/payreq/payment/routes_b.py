"""Contract B: ``/api/payment/...`` and ``/api/payments`` (seeds/api-authentication.txt,
SPEC §3). The same payment service as contract A, camelCase bodies. Thin: parse, call
the service in one unit of work, present."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIType
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import AuthSubject, Scope
from payreq.http import error_responses, missing_query_parameter
from payreq.kit.jsonbody import decode
from payreq.payment.export import export_csv
from payreq.payment.instructions import PaymentInstructions
from payreq.payment.models import PaymentQuery
from payreq.payment.schemas_b import (
    PaymentB,
    PaymentCheckout,
    PaymentListB,
    parse_instant,
    parse_major_amount,
    parse_status,
)
from payreq.services import Services


@post(
    "/payment/checkout",
    status_code=201,
    dependencies={"subject": requires(Scope.PAYMENTS_CREATE)},
    responses=error_responses(400, 401, 403, 404, 413, 422, 429),
    opt={"body": PaymentCheckout},
)
async def checkout(request: Request[Any, Any, Any], subject: Subject) -> PaymentB:
    """Create a payment; send the payer to `checkoutUrl`. Client or access token, scope `payments.create`."""
    services: Services = request.app.state.services
    data = decode(await request.body(), PaymentCheckout)
    draft = data.draft()
    # the application's read: on PostgreSQL, a keyed request's claim carries it
    async with services.db.transaction(first=services.payments.application_read(subject, draft)) as conn:
        payment = await services.payments.create(conn, subject, draft)
    return PaymentB.of(payment, base_url=services.settings.base_url)


@get(
    "/payment/{payment_id:str}",
    dependencies={"subject": requires(Scope.PAYMENTS_GET)},
    responses=error_responses(401, 403, 404, 429),
)
async def get_payment(
    request: Request[Any, Any, Any], subject: Subject, payment_id: FromPath[str]
) -> PaymentB:
    """Read a payment; poll until `status` is `paid`. Client or access token, scope `payments.get`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        payment = await services.payments.get(conn, subject, payment_id)
    return PaymentB.of(payment, base_url=services.settings.base_url)


@get(
    "/payment/{payment_id:str}/instructions",
    dependencies={"subject": requires(Scope.PAYMENTS_INSTRUCTIONS)},
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
)
async def get_instructions(
    request: Request[Any, Any, Any],
    subject: Subject,
    payment_id: FromPath[str],
    method: Annotated[
        str | None,
        QueryParameter(
            required=True,
            description="The payment method: sandbox or bank_transfer (or a plug-in's name).",
            schema_extra={"oneOf": None, "type": OpenAPIType.STRING},  # None only stands for "absent"
        ),
    ] = None,
) -> PaymentInstructions:
    """What the payer must do. Client or access token, scope `payments.user-instructions.get`."""
    if method is None:  # checked here, after the credential: Litestar's own check would come before it
        raise missing_query_parameter("method")
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        return await services.instructions.get(conn, subject, payment_id, method)


async def payment_filters(
    status: Annotated[str | None, QueryParameter(description="pending, paid, expired or cancelled.")] = None,
    client_id: Annotated[
        str | None, QueryParameter(name="clientId", description="Only this application's.")
    ] = None,
    reference: Annotated[str | None, QueryParameter(description="Only payments with this reference.")] = None,
    created_from: Annotated[
        str | None, QueryParameter(name="createdFrom", description="RFC 3339; created at or after.")
    ] = None,
    created_to: Annotated[
        str | None, QueryParameter(name="createdTo", description="RFC 3339; created before.")
    ] = None,
    currency: Annotated[str | None, QueryParameter(description="Only payments in this currency.")] = None,
    amount_from: Annotated[
        str | None,
        QueryParameter(
            name="amountFrom",
            description="At least this much, in major units (10.50), in each payment's currency.",
        ),
    ] = None,
    amount_to: Annotated[
        str | None, QueryParameter(name="amountTo", description="At most this much, in major units.")
    ] = None,
    q: Annotated[
        str | None,
        QueryParameter(
            description="Search: a payment id, a reference, part of a reference label, a transfer reference."
        ),
    ] = None,
    limit: Annotated[
        int | None, QueryParameter(description="1 to 100 (default 10); larger values are clamped.")
    ] = None,
    cursor: Annotated[str | None, QueryParameter(description="`nextCursor` of the previous page.")] = None,
    subject: NamedDependency[AuthSubject | None] = None,
) -> PaymentQuery:
    """The list's filters, shared by the list, its CSV export and the dashboard's page.
    As the API's dependency it takes the credential (``subject``), so that it is
    checked first: a caller without a token gets 401, never a filter's 422."""
    del subject
    return PaymentQuery(
        status=parse_status(status),
        reference_id=reference,
        application_client_id=client_id,
        created_gte=parse_instant(created_from, "createdFrom"),
        created_lt=parse_instant(created_to, "createdTo"),
        currency=currency,
        amount_gte=parse_major_amount(amount_from, "amountFrom"),
        amount_lte=parse_major_amount(amount_to, "amountTo"),
        search=q,
        limit=limit if limit is not None else 10,
        starting_after=cursor,
        names={
            "starting_after": "cursor",
            "reference_id": "reference",
            "application_client_id": "clientId",
            "amount_gte": "amountFrom",
            "search": "q",
        },
    )


Filters = NamedDependency[PaymentQuery]

LIST = {
    "subject": requires(Scope.PAYMENTS_GET, access_token_only=True),
    "filters": Provide(payment_filters),
}


@get(
    "/payments",
    dependencies=LIST,
    responses=error_responses(401, 403, 422, 429),
)
async def list_payments(request: Request[Any, Any, Any], subject: Subject, filters: Filters) -> PaymentListB:
    """List payments, newest first, with filters. Access token only, scope `payments.get`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        page = await services.payments.list(conn, subject, filters)
    return PaymentListB.of(page, base_url=services.settings.base_url)


@get(
    "/payments/export",
    dependencies=LIST,
    responses=error_responses(401, 403, 422, 429),
    media_type="text/csv",
)
async def export_payments(request: Request[Any, Any, Any], subject: Subject, filters: Filters) -> Stream:
    """Every payment the filters select, as CSV (streamed; `limit` and `cursor` are ignored). Access token only, scope `payments.get`."""
    services: Services = request.app.state.services
    lines = await export_csv(services.payments, services.db, subject, filters)
    return Stream(
        lines,
        media_type="text/csv",  # Litestar adds the charset to text types
        headers={"Content-Disposition": 'attachment; filename="payments.csv"'},
    )


router = Router(
    path="/api",
    route_handlers=[checkout, get_payment, get_instructions, list_payments, export_payments],
    tags=["Payments (contract B)"],
)
