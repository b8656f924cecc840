"""Client tokens, the seeds' "Create API Access Token" dialog, on an application's page.

- ``GET  /dashboard/applications/{clientId}/tokens/new``: label, optional expiration
  date, scope checkboxes named by the scopes;
- ``POST /dashboard/applications/{clientId}/tokens``: create; the token is shown once
  (with a copy button) on the application's page;
- ``POST /dashboard/applications/{clientId}/tokens/{id}/revoke``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.auth.roles import Permission
from payreq.dashboard import forms
from payreq.dashboard.applications import SCOPE_DESCRIPTIONS
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import html, see_other, services_of, show_once
from payreq.errors import PayreqError


async def _dialog(
    request: Request[Any, Any, Any],
    page: Page,
    client_id: str,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        app = await services.applications.get(conn, page.subject, client_id)
    context = page.context(
        app=app,
        scopes=SCOPE_DESCRIPTIONS,
        values=values or {"scopes": []},
        errors=errors or {},
        today=services.clock().date(),
    )
    return html(request, "token_new.html", context, status=status)


@get("/applications/{client_id:str}/tokens/new", include_in_schema=False)
async def new_token(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[str]:
    page = await signed_in(request, Permission.DEVELOP)
    return await _dialog(request, page, client_id)


@post("/applications/{client_id:str}/tokens", include_in_schema=False, status_code=303)
async def create(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    values = {
        "label": form.get("label"),
        "expires_on": form.get("expires_on"),
        "scopes": form.getall("scopes"),
    }
    try:
        data = forms.token_create(form)
        async with services.db.transaction() as conn:
            token, secret = await services.client_tokens.create(conn, page.subject, client_id, data)
    except PayreqError as exc:
        if exc.status != 422:
            raise
        field = {"expiresAt": "expires_on"}.get(exc.param or "", exc.param or "form")
        return await _dialog(request, page, client_id, status=422, values=values, errors={field: exc.message})
    payload = {
        "kind": "client_token",
        "secret": secret,
        "label": token.label,
        "scopes": " ".join(token.scopes),
    }
    location = f"/dashboard/applications/{client_id}"
    return show_once(request, see_other(request, location), page.session.csrf_secret, payload)


@post("/applications/{client_id:str}/tokens/{token_id:str}/revoke", include_in_schema=False, status_code=303)
async def revoke(
    request: Request[Any, Any, Any], client_id: FromPath[str], token_id: FromPath[str]
) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.client_tokens.revoke(conn, page.subject, client_id, token_id)
    return see_other(request, f"/dashboard/applications/{client_id}?revoked=1")


handlers = [new_token, create, revoke]
