"""Litestar dependencies that declare a route's credential and scope."""

from __future__ import annotations

from typing import Any, cast

from litestar import Request
from litestar.di import NamedDependency, Provide

from payreq.auth.subject import AuthSubject, CredentialKind, Scope
from payreq.errors import Forbidden
from payreq.services import Services

SUBJECT_KEY = "payreq.auth_subject"
Subject = NamedDependency[AuthSubject]
"""A handler parameter ``subject: Subject`` receives what ``requires`` resolved."""


def requires(scope: Scope, *, access_token_only: bool = False) -> Provide:
    """``dependencies={"subject": requires(Scope.PAYMENTS_GET)}``: a bearer credential
    of this account that carries ``scope`` (or ``*``).

    ``access_token_only`` is for dashboard operations over the API (applications,
    client tokens, listing payments): a client token gets 403 there (seeds).
    """

    async def subject(request: Request[Any, Any, Any]) -> AuthSubject:
        services: Services = request.app.state.services
        found = await services.authenticator.require(
            request.headers.get("authorization"),
            scope,
            query_token="access_token" in request.query_params,
        )
        cast("dict[str, Any]", request.scope)[SUBJECT_KEY] = found
        if access_token_only and found.kind is not CredentialKind.ACCESS_TOKEN:
            raise Forbidden(code="access_token_required")
        return found

    return Provide(subject)
