"""``create_app()``: the one place the HTTP application is assembled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from payreq import __version__, api, logs, metrics
from payreq.checkout.routes import render_error as render_checkout_error
from payreq.config import Settings, get_settings
from payreq.dashboard.web import render_error as render_dashboard_error
from payreq.db import Database, from_settings
from payreq.edge import Edge
from payreq.errors import PayreqError
from payreq.http import (
    QUERY_OPT,
    answer_options,
    declared_query,
    render_http_exception,
    render_payreq_error,
    render_unexpected,
    too_large_text,
)
from payreq.idempotency.middleware import ROUTE_BODY_LIMITS
from payreq.kit.clock import Clock, utc_now
from payreq.kit.process import freeze_startup_objects
from payreq.oauth.errors import OAUTH_PATHS
from payreq.oauth.routes import as_oauth_error, oauth_error
from payreq.services import Services
from payreq.worker.runner import Worker


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """The framework's own answers (unknown route, wrong method); the dashboard's and the
    checkout's are pages (a payer who mistypes a checkout link reads a page, not JSON)."""
    path = request.url.path
    if path in OAUTH_PATHS and exc.status_code < 500:  # a wrong method, a body too large
        message = too_large_text(request) if exc.status_code == 413 else exc.detail
        return oauth_error(request, as_oauth_error(exc.status_code, message, exc.headers))
    if path.startswith("/dashboard/") or path == "/dashboard":
        return render_dashboard_error(request, exc)
    if path.startswith("/checkout/") or path == "/checkout":
        return render_checkout_error(request, exc)
    return render_http_exception(request, exc)


class PayreqApp(Litestar):
    """Litestar behind ``payreq.edge.Edge``: every HTTP request meets the edge first
    (request id, idempotency, the lean hot routes), the rest of Litestar after it."""

    edge: Edge

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] == ScopeType.HTTP:
            await self.edge(cast("Scope", scope), cast("Receive", receive), cast("Send", send))
        else:
            await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def no_such_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The framework's 404 for an unknown route, in its surface's shape, for a path
        the edge refuses before routing (``payreq.edge.exact_path``)."""
        scope["app"] = scope["litestar_app"] = self
        scope.setdefault("state", {})
        request: Request[Any, Any, Any] = self.request_class(scope=scope, receive=receive, send=send)
        response = _http_exception(request, NotFoundException())
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def create_server_app() -> Litestar:
    """The application ``payreq serve`` runs (uvicorn's factory, in each process)."""
    return create_app(freeze=True)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock = utc_now,
    run_worker: bool | None = None,
    freeze: bool = False,
) -> Litestar:
    settings = settings or get_settings()
    logs.configure(settings.log_level, json=settings.log_json)
    database = db or from_settings(settings)
    services = Services.build(settings, database, clock=clock)
    with_worker = settings.embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await database.open()
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(services).run(stop)) if with_worker else None
        # serve --workers N: this process's request counts, written where a sibling's scrape reads them
        publishing = asyncio.create_task(metrics.publish_until(stop))
        if freeze:
            freeze_startup_objects()
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await publishing
            await services.methods.statements.stop()
            await services.limiter.close()
            await database.close()

    app = PayreqApp(
        route_handlers=api.routers(),
        lifespan=[lifespan],
        state=State({"services": services}),
        exception_handlers={
            PayreqError: render_payreq_error,
            HTTPException: _http_exception,
            Exception: render_unexpected,
        },
        openapi_config=OpenAPIConfig(
            title="payreq",
            version=__version__,
            description="A self-hostable payment-request gateway.",
            path="/_litestar",
            render_plugins=[],
            use_handler_docstrings=True,
        ),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        debug=False,
    )
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:  # the path's real Allow (http.answer_options)
                handler.before_request = answer_options
            handler.opt[QUERY_OPT] = declared_query(handler)  # what a write may carry (refuse_query)
            limit = handler.request_max_body_size  # the edge reads a keyed body up to it
            if isinstance(limit, int) and limit != settings.max_body_bytes:
                for method in handler.http_methods:
                    ROUTE_BODY_LIMITS[(method, route.path)] = limit
    app.edge = Edge(
        app.framework,
        services,
        no_such_route=app.no_such_route,
        lean=settings.lean_routes,
        metrics=settings.metrics_enabled,
        fault_answer_delay=settings.fault_answer_delay,
    )
    return app
