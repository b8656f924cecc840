"""Operations: liveness, readiness, the OpenAPI document and its human-readable page."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get

from payreq import metrics, openapi
from payreq.db import DatabaseUnavailable
from payreq.db.migrate import current_revision, head_revision, schema_state
from payreq.errors import NotFound
from payreq.services import Services
from payreq.webhook import repository as webhook_repository
from payreq.worker import heartbeat

log = structlog.get_logger("payreq.ops")
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
    """Readiness: the database answers and its schema is at this code's newest migration
    or ahead of it (a newer release migrated first: a rolling upgrade); the rate
    limiter's state, Redis (when configured) and the workers' heartbeat are reported
    beside them (a degraded limiter or no worker is still ready). The answer names a
    state per component, never an error's text (which may name hosts and addresses):
    that goes to the log (``readiness_check``, at most once a minute per component)."""
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with services.db.read() as conn:
            revision = await current_revision(conn)
        checks["database"] = "ok"
        _report("database", "ok")
        checks["schema"] = schema_state(revision)
        _report("schema", checks["schema"], revision=revision, head=head_revision())
    except DatabaseUnavailable as exc:
        checks["database"] = "unreachable"
        _report("database", "unreachable", reason=_reason(exc))
    except Exception as exc:  # an unexpected answer of the database: not ready, not a 500
        checks["database"] = "failing"
        _report("database", "failing", reason=_reason(exc))
    ready = checks.get("database") == "ok" and checks.get("schema") in READY_SCHEMAS
    # a degraded limiter, or no worker, is reported but does not make the server unready
    limiter = await services.limiter.probe()
    if limiter.healthy:
        checks["rate_limiter"] = limiter.detail
        _report("rate_limiter", "ok")
    else:
        checks["rate_limiter"] = "degraded: redis unreachable; limiting per process"
        _report("rate_limiter", "degraded", reason=limiter.detail)
    if services.settings.redis_url:
        checks["redis"] = "ok" if limiter.backend == "redis" and limiter.healthy else "unreachable"
    if ready:  # the heartbeat table exists only once migrated
        checks["worker"] = await _worker_check(services)
    return Response(Readiness("ready" if ready else "not_ready", checks), status_code=200 if ready else 503)


READY_SCHEMAS = frozenset({"ok", "ahead"})
"""An ahead schema is ready: docs/deploy.md's upgrade runs the new release's migrate
while the old servers still serve (its migrations are additive)."""
REPORT_EVERY = 60.0
_reported: dict[str, tuple[str, float]] = {}


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"[:300]


def _report(component: str, state: str, **detail: Any) -> None:
    """Log why a component is not ok: when its state changes, else once a minute (a
    load balancer asks every few seconds); ``ok`` is logged only as a recovery."""
    if state == "ok":
        if _reported.pop(component, None) is not None:
            log.info("readiness_check", component=component, state=state)
        return
    now = time.monotonic()
    last = _reported.get(component)
    if last is not None and last[0] == state and now - last[1] < REPORT_EVERY:
        return
    _reported[component] = (state, now)
    log.warning("readiness_check", component=component, state=state, **detail)


async def _worker_check(services: Services) -> str:
    try:
        async with services.db.read() as conn:
            beats = await heartbeat.latest(conn, now=services.clock(), recent=_recent(services))
    except DatabaseUnavailable as exc:
        _report("worker", "unknown", reason=_reason(exc))
        return "unknown (database unavailable)"
    except Exception as exc:
        _report("worker", "unknown", reason=_reason(exc))
        return "unknown"
    _report("worker", "ok")
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
        scraped = metrics.scraped(depth, beats.age)
    except DatabaseUnavailable:
        scraped = []  # the counters still answer; the gauges are left out rather than stale
    return Response(metrics.exposition(scraped), media_type=metrics.CONTENT_TYPE)


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
