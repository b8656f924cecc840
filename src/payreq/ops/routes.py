"""Operations: liveness, readiness, the OpenAPI document and its human-readable page."""

from __future__ import annotations

from typing import Any

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get

from payreq import metrics, openapi
from payreq.db import DatabaseUnavailable
from payreq.db.migrate import current_revision, head_revision
from payreq.errors import NotFound
from payreq.services import Services
from payreq.webhook import repository as webhook_repository
from payreq.worker import heartbeat

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
    rate limiter's state, Redis (when configured) and the workers' heartbeat are
    reported beside them (a degraded limiter or no worker is still ready)."""
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
    # a degraded limiter, or no worker, is reported but does not make the server unready
    limiter = await services.limiter.probe()
    checks["rate_limiter"] = limiter.detail
    if services.settings.redis_url:
        checks["redis"] = "ok" if limiter.backend == "redis" and limiter.healthy else "unreachable"
    if ready:  # the heartbeat table exists only once migrated
        checks["worker"] = await _worker_check(services)
    return Response(Readiness("ready" if ready else "not_ready", checks), status_code=200 if ready else 503)


async def _worker_check(services: Services) -> str:
    try:
        async with services.db.read() as conn:
            beats = await heartbeat.latest(conn, now=services.clock(), recent=_recent(services))
    except DatabaseUnavailable:
        return "unknown (database unavailable)"
    if beats.age is None:
        return "none: no worker has reported (payreq worker, or serve without --no-worker)"
    if beats.workers == 0:
        return f"stale: the last heartbeat is {beats.age:.0f} s old"
    return f"ok ({beats.workers} running, last heartbeat {beats.age:.1f} s ago)"


def _recent(services: Services) -> float:
    """A heartbeat older than a few passes means its worker is gone or stuck."""
    return max(10.0, 5 * services.settings.worker_interval)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text format; what the database knows is read at scrape time."""
    services: Services = request.app.state.services
    if not services.settings.metrics_enabled:
        raise NotFound("Metrics are off (PAYREQ_METRICS_ENABLED=false).")
    try:
        async with services.db.read() as conn:
            depth = await webhook_repository.queue_depth(conn, now=services.clock())
            beats = await heartbeat.latest(conn, now=services.clock(), recent=_recent(services))
        metrics.queue_depth.set(depth)
        metrics.worker_heartbeat_age.set(-1 if beats.age is None else beats.age)
    except DatabaseUnavailable:
        pass  # the request counters still answer; the gauges keep their last value
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


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


router = Router(
    path="/", route_handlers=[healthz, readyz, metrics_endpoint, openapi_json, docs], tags=["Operations"]
)
