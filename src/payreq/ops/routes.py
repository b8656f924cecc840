"""Operations: liveness, readiness, the OpenAPI document and its human-readable page."""

from __future__ import annotations

from typing import Any

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get

from payreq import openapi
from payreq.db import DatabaseUnavailable
from payreq.db.migrate import current_revision, head_revision
from payreq.services import Services

_templates = Environment(loader=PackageLoader("payreq.ops", "templates"), autoescape=select_autoescape())
_DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, str]


@get("/healthz", include_in_schema=True)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health("ok")


@get("/readyz", responses=None)
async def readyz(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """Readiness: the database answers and its schema is at the newest migration; the
    rate limiter's state is reported beside them (degraded is still ready)."""
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with services.db.read() as conn:
            revision = await current_revision(conn)
        checks["database"] = "ok"
        head = head_revision()
        checks["schema"] = "ok" if revision == head else f"at {revision or 'nothing'}, expected {head}"
    except DatabaseUnavailable:
        checks["database"] = "unreachable"
    ready = checks.get("database") == "ok" and checks.get("schema") == "ok"
    # a degraded limiter is reported but does not make the server unready
    checks["rate_limiter"] = (await services.limiter.probe()).detail
    return Response(Readiness("ready" if ready else "not_ready", checks), status_code=200 if ready else 503)


def _document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = request.app.state
    if getattr(state, "openapi_document", None) is None:
        state.openapi_document = openapi.build(request.app)
    document: dict[str, Any] = state.openapi_document
    return document


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(msgspec.json.encode(_document(request)), media_type=MediaType.JSON)


@get("/docs", include_in_schema=False, media_type=MediaType.HTML)
async def docs(request: Request[Any, Any, Any]) -> Response[str]:
    """The API reference as one page with no external asset and no script."""
    html = _templates.get_template("docs.html").render(doc=_document(request))
    return Response(html, media_type=MediaType.HTML, headers={"Content-Security-Policy": _DOCS_CSP})


router = Router(path="/", route_handlers=[healthz, readyz, openapi_json, docs], tags=["Operations"])
