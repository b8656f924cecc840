"""``create_app()``: the one place the HTTP application is assembled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from payreq import __version__, api, logs
from payreq.config import Settings, get_settings
from payreq.db import Database, connect
from payreq.edge import Edge
from payreq.errors import PayreqError
from payreq.http import render_http_exception, render_payreq_error, render_unexpected
from payreq.kit.clock import Clock, utc_now
from payreq.services import Services
from payreq.worker.runner import Worker


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


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock = utc_now,
    run_worker: bool | None = None,
) -> Litestar:
    settings = settings or get_settings()
    logs.configure(settings.log_level, json=settings.log_json)
    database = db or connect(
        settings.database_url,
        timeout=settings.database_timeout,
        pool_size=settings.database_pool_size,
        synchronous=settings.sqlite_synchronous,
    )
    services = Services.build(settings, database, clock=clock)
    with_worker = settings.embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await database.open()
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(services).run(stop)) if with_worker else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.limiter.close()
            await database.close()

    app = PayreqApp(
        route_handlers=api.routers(),
        lifespan=[lifespan],
        state=State({"services": services}),
        exception_handlers={
            PayreqError: render_payreq_error,
            HTTPException: render_http_exception,
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
    app.edge = Edge(app.framework, services, lean=settings.lean_routes, metrics=settings.metrics_enabled)
    return app
