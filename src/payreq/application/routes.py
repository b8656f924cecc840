"""Contract B: ``/api/payment-applications`` and their client tokens (SPEC §3).

Dashboard operations: an access token with scope ``*`` only; a client token gets 403
``Insufficient permissions``. Thin: parse, call the service in one unit of work, present.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath

from payreq.application.schemas import (
    ApplicationCreate,
    ApplicationList,
    ApplicationUpdate,
    ApplicationView,
    ApplicationWithSecret,
    TokenCreate,
    TokenCreated,
    TokenList,
)
from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.http import add_response_headers, error_responses
from payreq.kit.jsonbody import decode
from payreq.services import Services


def shows_a_secret(request: Request[Any, Any, Any]) -> None:
    """This answer shows a secret once: no cache keeps it (the idempotency store does not either)."""
    add_response_headers(request, {"Cache-Control": "no-store"})


def access_token() -> dict[str, Provide]:
    return {"subject": requires(Scope.ALL, access_token_only=True)}


@get("/", dependencies=access_token(), responses=error_responses(401, 403, 429))
async def list_applications(request: Request[Any, Any, Any], subject: Subject) -> ApplicationList:
    """List the applications of this account and environment. Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        apps = await services.applications.list(conn, subject)
    return ApplicationList.of(apps)


@post(
    "/",
    status_code=201,
    dependencies=access_token(),
    responses=error_responses(400, 401, 403, 413, 422, 429),
    opt={"body": ApplicationCreate},
)
async def create_application(request: Request[Any, Any, Any], subject: Subject) -> ApplicationWithSecret:
    """Create an application; only this answer shows `webhookSecret`. Access token only, scope `*`."""
    services: Services = request.app.state.services
    data = decode(await request.body(), ApplicationCreate)
    webhook = await services.applications.check_webhook_url(data.webhook_url)  # DNS: before the unit
    async with services.db.transaction() as conn:
        created = await services.applications.create(conn, subject, data, webhook=webhook)
    shows_a_secret(request)
    return ApplicationWithSecret.with_secret(created.application, created.webhook_secret)


@get(
    "/{client_id:str}",
    dependencies=access_token(),
    responses=error_responses(401, 403, 404, 429),
)
async def get_application(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> ApplicationView:
    """Read a payment application by its Client ID. Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        app = await services.applications.get(conn, subject, client_id)
    return ApplicationView.of(app)


@patch(
    "/{client_id:str}",
    dependencies=access_token(),
    responses=error_responses(400, 401, 403, 404, 413, 422, 429),
    opt={"body": ApplicationUpdate},
)
async def update_application(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> ApplicationView:
    """Change the fields sent (`null` clears an optional one). Access token only, scope `*`."""
    services: Services = request.app.state.services
    data = decode(await request.body(), ApplicationUpdate)
    webhook = await services.applications.check_webhook_url(data.webhook_url)  # DNS: before the unit
    async with services.db.transaction() as conn:
        app = await services.applications.update(conn, subject, client_id, data, webhook=webhook)
    return ApplicationView.of(app)


@delete(
    "/{client_id:str}",
    dependencies=access_token(),
    responses=error_responses(401, 403, 404, 409, 429),
)
async def delete_application(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> None:
    """Archive an application (payments stay, tokens stop; default: 409). Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.transaction() as conn:
        await services.applications.archive(conn, subject, client_id)


@post(
    "/{client_id:str}/webhook-secret",
    status_code=200,
    dependencies=access_token(),
    responses=error_responses(401, 403, 404, 409, 429),
)
async def rotate_webhook_secret(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> ApplicationWithSecret:
    """Rotate the webhook secret; each old one also signs for 24 h (409 past five in 24 h). Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.transaction() as conn:
        rotated = await services.applications.rotate_webhook_secret(conn, subject, client_id)
    shows_a_secret(request)
    return ApplicationWithSecret.with_secret(
        rotated.application, rotated.webhook_secret, previous_expires_at=rotated.previous_expires_at
    )


@post(
    "/{client_id:str}/tokens",
    status_code=201,
    dependencies=access_token(),
    responses=error_responses(400, 401, 403, 404, 413, 422, 429),
    opt={"body": TokenCreate},
)
async def create_client_token(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> TokenCreated:
    """Create a client token; `token` is in this answer only. Access token only, scope `*`."""
    services: Services = request.app.state.services
    data = decode(await request.body(), TokenCreate)
    async with services.db.transaction() as conn:
        token, secret = await services.client_tokens.create(conn, subject, client_id, data)
    shows_a_secret(request)
    return TokenCreated.of(token, secret)


@get(
    "/{client_id:str}/tokens",
    dependencies=access_token(),
    responses=error_responses(401, 403, 404, 429),
)
async def list_client_tokens(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str]
) -> TokenList:
    """List unrevoked client tokens with `lastUsedAt`, never secrets. Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        tokens = await services.client_tokens.list(conn, subject, client_id)
    return TokenList.of(tokens)


@delete(
    "/{client_id:str}/tokens/{token_id:str}",
    dependencies=access_token(),
    responses=error_responses(401, 403, 404, 429),
)
async def revoke_client_token(
    request: Request[Any, Any, Any], subject: Subject, client_id: FromPath[str], token_id: FromPath[str]
) -> None:
    """Revoke a client token: 401 from the next request on. Access token only, scope `*`."""
    services: Services = request.app.state.services
    async with services.db.transaction() as conn:
        await services.client_tokens.revoke(conn, subject, client_id, token_id)


router = Router(
    path="/api/payment-applications",
    route_handlers=[
        list_applications,
        create_application,
        get_application,
        update_application,
        delete_application,
        rotate_webhook_secret,
        create_client_token,
        list_client_tokens,
        revoke_client_token,
    ],
    tags=["Payment applications (contract B)"],
)
