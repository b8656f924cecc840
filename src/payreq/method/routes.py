"""The payment methods' API: statement imports (bank transfer) and the sandbox's
outcome simulation. Thin: parse, call the service, present."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath, QueryParameter

from payreq.audit.models import Actor
from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.errors import NotFound
from payreq.http import error_responses
from payreq.kit.jsonbody import decode
from payreq.method import repository
from payreq.method.sandbox import Outcome, simulate
from payreq.method.statements.importer import read
from payreq.method.statements.report import ImportReport, LineReport
from payreq.payment.schemas_b import PaymentB
from payreq.payment.service import parse_id
from payreq.services import Services

MAX_STATEMENT_BYTES = 10 * 1024 * 1024


class SimulateBody(msgspec.Struct):
    """The outcome to simulate for a pending sandbox payment."""

    outcome: Literal["paid", "cancelled", "expired"]


class StatementImportNotFound(NotFound):
    default_message = "No such statement import."


@post(
    "/statements",
    status_code=201,
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    security=[{"bearerAuth": ["*"]}],
    responses=error_responses(400, 401, 403, 413, 422, 429),
    request_max_body_size=MAX_STATEMENT_BYTES,
)
async def import_statement(
    request: Request[Any, Any, Any],
    subject: Subject,
    format: Annotated[
        str | None,
        QueryParameter(description="csv or camt.053; default: from Content-Type, else from the content."),
    ] = None,
    filename: Annotated[str | None, QueryParameter(description="Shown in the import's record.")] = None,
) -> ImportReport:
    """Import a bank statement (CSV or camt.053, up to 10 MiB, the file as the body); every line is reported. Access token, scope `*`."""
    services: Services = request.app.state.services
    statement = read(await request.body(), format=format, media_type=request.headers.get("content-type"))
    return await services.methods.statements.run(
        services.db, subject.tenant, statement, source="api", filename=filename
    )


@get(
    "/statements/{import_id:str}",
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    security=[{"bearerAuth": ["*"]}],
    responses=error_responses(401, 403, 404, 429),
)
async def get_statement_import(
    request: Request[Any, Any, Any], subject: Subject, import_id: FromPath[str]
) -> ImportReport:
    """Read an earlier import's report. Access token, scope `*`."""
    services: Services = request.app.state.services
    try:
        key = uuid.UUID(import_id)
    except ValueError:
        raise StatementImportNotFound() from None
    async with services.db.read() as conn:
        row = await repository.import_by_id(conn, subject.tenant, key)
    if row is None or row["report"] is None:
        raise StatementImportNotFound()
    lines = msgspec.json.decode(row["report"], type=list[LineReport])
    return ImportReport(
        id=str(row["id"]),
        format=row["format"],
        source=row["source"],
        filename=row["filename"],
        created_at=row["created_at"].isoformat().replace("+00:00", "Z"),
        summary=msgspec.json.decode(row["summary"], type=dict[str, int]),
        lines=lines,
    )


@post(
    "/sandbox/payment/{payment_id:str}/simulate",
    status_code=200,
    dependencies={"subject": requires(Scope.PAYMENTS_CREATE)},
    security=[{"bearerAuth": ["payments.create"]}],
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
    opt={"body": SimulateBody},
)
async def simulate_outcome(
    request: Request[Any, Any, Any], subject: Subject, payment_id: FromPath[str]
) -> PaymentB:
    """Sandbox only (404 in production): settle a pending payment as paid, cancelled or expired. Client or access token, scope `payments.create`."""
    services: Services = request.app.state.services
    if not subject.sandbox:
        raise NotFound("No such route.", code="route_not_found")
    body = decode(await request.body(), SimulateBody)
    async with services.db.transaction() as conn:
        payment = await simulate(
            conn,
            services.payments,
            subject.tenant,
            parse_id(payment_id),
            Outcome(body.outcome),
            actor=Actor.of(subject),
        )
    return PaymentB.of(payment, base_url=services.settings.base_url)


router = Router(
    path="/api",
    route_handlers=[import_statement, get_statement_import, simulate_outcome],
    tags=["Payment methods"],
)
