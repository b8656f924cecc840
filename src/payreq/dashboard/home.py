"""The dashboard's front page, the environment switch and the static files."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.auth.roles import Permission
from payreq.dashboard.session import signed_in, signed_in_form
from payreq.dashboard.web import ASSETS, html, safe_next, see_other, services_of
from payreq.errors import NotFound
from payreq.kit.assets import CACHE_HEADERS


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Response[str]:
    """The signed-in user's start: what this environment holds and where to go next."""
    page = await signed_in(request, Permission.READ)
    return html(request, "home.html", page.context())


@post("/environment", include_in_schema=False, status_code=303)
async def switch_environment(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The header's sandbox/production switch; back to the same page."""
    page, form = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.sessions.switch_environment(conn, page.session, form.get("environment"))
    target = safe_next(form.get("next"))
    # a page about one item of the other environment would be a 404 there
    if target.count("/") > 2 and not target.startswith("/dashboard/account"):
        target = "/".join(target.split("/")[:3])
    return see_other(request, target)


@get("/static/{name:str}", include_in_schema=False)
async def static(name: FromPath[str]) -> Response[bytes]:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound("No such file.")
    return Response(asset.body, media_type=asset.media_type, headers=CACHE_HEADERS)


handlers = [home, switch_environment, static]
