"""The payment methods' API: statement imports (bank transfer) and the sandbox's
outcome simulation. Thin: parse, call the service, present."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, QueryParameter

from payreq.audit.models import Actor
from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.errors import NotFound
from payreq.http import error_responses
from payreq.kit.jsonbody import Body, decode
from payreq.method.sandbox import Outcome, simulate
from payreq.method.statements.importer import read
from payreq.method.statements.report import ImportList, ImportReport, LineReport
from payreq.payment.schemas_b import PaymentB
from payreq.payment.service import parse_id
from payreq.services import Services

MAX_STATEMENT_BYTES = 10 * 1024 * 1024


class SimulateBody(Body):
    """The outcome to simulate for a pending sandbox payment."""

    outcome: Literal["paid", "cancelled", "expired"]


class ResolveBody(Body):
    """What to do with a late, partial or overpaid line."""

    action: Annotated[
        Literal["accept", "refund_due"],
        msgspec.Meta(description="accept: the payment becomes paid; refund_due: noted, nothing changes."),
    ]


@post(
    "/statements",
    status_code=201,
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    responses=error_responses(400, 401, 403, 409, 413, 422, 429, 503),
    request_max_body_size=MAX_STATEMENT_BYTES,
    opt={"raw_body": "the statement file"},
)
async def import_statement(
    request: Request[Any, Any, Any],
    subject: Subject,
    format: Annotated[
        str | None,
        QueryParameter(
            description="csv, camt.053 or camt.054; default: from Content-Type, else from the content."
        ),
    ] = None,
    filename: Annotated[str | None, QueryParameter(description="Shown in the import's record.")] = None,
) -> ImportReport | Response[ImportReport]:
    """Import a bank statement (CSV, camt.053 or camt.054, up to 10 MiB, the file as the body); every line is reported (the first page; `nextCursor` pages on). With `Prefer: respond-async`: 202 at once with the running import, to poll. Access token, scope `*`."""
    services: Services = request.app.state.services
    statement = read(await request.body(), format=format, media_type=request.headers.get("content-type"))
    statements = services.methods.statements
    if "respond-async" in request.headers.get("prefer", "").lower():
        started = await statements.run_in_background(
            services.db, subject.tenant, statement, source="api", filename=filename
        )
        return Response(started, status_code=202, headers={"Preference-Applied": "respond-async"})
    return await statements.run(services.db, subject.tenant, statement, source="api", filename=filename)


@get(
    "/statements",
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    responses=error_responses(401, 403, 422, 429),
)
async def list_statement_imports(
    request: Request[Any, Any, Any],
    subject: Subject,
    limit: Annotated[
        int | None, QueryParameter(description="1 to 100 (default 10); larger values are clamped.")
    ] = None,
    cursor: Annotated[str | None, QueryParameter(description="`nextCursor` of the previous page.")] = None,
) -> ImportList:
    """List this environment's statement imports, newest first, without their lines (read one for those). Access token, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        page = await services.methods.statements.imports(conn, subject.tenant, cursor=cursor, limit=limit)
    return ImportList.of(page)


@get(
    "/statements/{import_id:str}",
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    responses=error_responses(401, 403, 404, 422, 429),
)
async def get_statement_import(
    request: Request[Any, Any, Any],
    subject: Subject,
    import_id: FromPath[str],
    cursor: Annotated[
        str | None, QueryParameter(description="The nextCursor of the page before.", max_length=16)
    ] = None,
    limit: Annotated[int | None, QueryParameter(description="Lines per page, 1 to 1000 (100).")] = None,
) -> ImportReport:
    """Read an import's record and a page of its report. Access token, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        return await services.methods.statements.report(
            conn, subject.tenant, import_id, cursor=cursor, limit=limit
        )


@post(
    "/statements/{import_id:str}/lines/{line:int}/resolve",
    status_code=200,
    dependencies={"subject": requires(Scope.ALL, access_token_only=True)},
    responses=error_responses(400, 401, 403, 404, 409, 422, 429),
    opt={"body": ResolveBody},
)
async def resolve_statement_line(
    request: Request[Any, Any, Any], subject: Subject, import_id: FromPath[str], line: FromPath[int]
) -> LineReport:
    """Resolve a late, partial or overpaid line: accept it (the payment becomes paid, accepted by this API key) or mark it refund_due. Once per line. Access token, scope `*`."""
    services: Services = request.app.state.services
    body = decode(await request.body(), ResolveBody)
    async with services.db.transaction() as conn:
        return await services.methods.statements.resolve(
            conn, subject.tenant, import_id=import_id, line=line, action=body.action, actor=Actor.of(subject)
        )


@post(
    "/sandbox/payment/{payment_id:str}/simulate",
    status_code=200,
    dependencies={"subject": requires(Scope.PAYMENTS_CREATE)},
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
    route_handlers=[
        import_statement,
        list_statement_imports,
        get_statement_import,
        resolve_statement_line,
        simulate_outcome,
    ],
    tags=["Payment methods"],
)
