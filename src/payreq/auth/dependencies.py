"""Litestar dependencies that declare a route's credential and scope."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from payreq.auth.subject import AuthSubject, Scope
from payreq.services import Services


def requires(scope: Scope) -> Provide:
    """``dependencies={"subject": requires(Scope.PAYMENTS_GET)}``: a bearer credential
    of this account that carries ``scope`` (or ``*``)."""

    async def subject(request: Request[Any, Any, Any]) -> AuthSubject:
        services: Services = request.app.state.services
        found = await services.authenticator.require(
            request.headers.get("authorization"),
            scope,
            query_token="access_token" in request.query_params,
        )
        request.scope["auth_subject"] = found  # type: ignore[typeddict-unknown-key]
        return found

    return Provide(subject)
