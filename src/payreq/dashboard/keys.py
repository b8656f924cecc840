"""API Keys (developers and up): create, list, roll with an overlap, revoke.

- ``GET  /dashboard/api-keys``: the environment's keys and the create form;
- ``POST /dashboard/api-keys``: create; the secret is shown once on the next page;
- ``POST /dashboard/api-keys/{id}/roll`` (``overlap``: none, 1h, 24h, 7d);
- ``POST /dashboard/api-keys/{id}/revoke``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.account.keys import OVERLAP_LABELS
from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import forget_once, html, see_other, services_of, show_once, take_once
from payreq.errors import PayreqError

register(NavEntry("/dashboard/api-keys", "API keys", Permission.DEVELOP, 60))


async def _keys_page(
    request: Request[Any, Any, Any], page: Page, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        keys = await services.api_keys.list(conn, page.subject)
    once = take_once(request, page.session.csrf_secret)
    context = page.context(
        keys=keys,
        once=once,
        overlaps=OVERLAP_LABELS,
        default_limit=services.settings.default_rate_limit,
        **{"errors": {}, "values": {}, **extra},
    )
    return forget_once(request, html(request, "keys.html", context, status=status))


@get("/api-keys", include_in_schema=False)
async def keys(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.DEVELOP)
    notices = {"revoked": "The key was revoked. Its secret and access tokens stopped working."}
    return await _keys_page(
        request, page, notices=[v for k, v in notices.items() if request.query_params.get(k)]
    )


@post("/api-keys", include_in_schema=False, status_code=303)
async def create(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            key, secret = await services.api_keys.create(conn, page.subject, label=form.get("label"))
    except PayreqError as exc:
        if exc.status != 422:
            raise
        return await _keys_page(
            request,
            page,
            status=422,
            errors={exc.param or "label": exc.message},
            values={"label": form.get("label")},
        )
    payload = {"kind": "created", "label": key.label, "client_id": key.client_id, "secret": secret}
    return show_once(request, see_other(request, "/dashboard/api-keys"), page.session.csrf_secret, payload)


@post("/api-keys/{key_id:str}/roll", include_in_schema=False, status_code=303)
async def roll(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    overlap = form.get("overlap")
    async with services.db.transaction() as conn:
        key, secret = await services.api_keys.roll(conn, page.subject, key_id, overlap=overlap)
    payload = {
        "kind": "rolled",
        "label": key.label,
        "client_id": key.client_id,
        "secret": secret,
        "overlap": OVERLAP_LABELS[overlap],
        "until": key.previous_expires_at.strftime("%Y-%m-%d %H:%M UTC") if key.previous_expires_at else "",
    }
    return show_once(request, see_other(request, "/dashboard/api-keys"), page.session.csrf_secret, payload)


@post("/api-keys/{key_id:str}/revoke", include_in_schema=False, status_code=303)
async def revoke(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.api_keys.revoke(conn, page.subject, key_id)
    return see_other(request, "/dashboard/api-keys?revoked=1")


handlers = [keys, create, roll, revoke]
