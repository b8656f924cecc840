"""What a dashboard page knows about its visitor: ``signed_in`` (pages) and
``signed_in_form`` (form posts) resolve the session cookie to a ``Page``: the user
(``actor``: id, account, role), the selected environment, the ``subject`` the shared
services take, the CSRF token for its forms and the navigation it may see.

A missing or ended session sends the browser to sign in (303); a role without the
page's permission gets a 403 page; a member whose account requires two-factor and
who has none yet is sent to set it up first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from payreq.account.sessions import Session, SessionEnded
from payreq.auth.dependencies import client_address
from payreq.auth.roles import Actor, Permission
from payreq.auth.subject import AuthSubject, dashboard_subject
from payreq.dashboard import nav
from payreq.dashboard.nav import NavEntry
from payreq.dashboard.web import (
    SESSION_COOKIE,
    Form,
    Upload,
    anonymous_basis,
    form_keys,
    read_form,
    read_upload,
    services_of,
)
from payreq.errors import PayreqError

ENROLL_PATH = "/dashboard/account/security"


class EnrollmentRequired(PayreqError):
    """The account requires two-factor of every member and this one has none yet."""

    status = 303
    type = "authentication_error"
    default_code = "totp_required"
    default_message = "Your account requires two-factor authentication. Set it up to continue."


@dataclass(frozen=True)
class Page:
    session: Session
    csrf: str
    path: str
    address: str | None = None
    """The client address, which the audit log records beside the user."""

    @property
    def actor(self) -> Actor:
        return self.session.actor

    @property
    def environment(self) -> str:
        return self.session.environment

    @property
    def sandbox(self) -> bool:
        return self.session.environment == "sandbox"

    @property
    def subject(self) -> AuthSubject:
        """For the services the API also uses (applications, tokens, payments, ...)."""
        return dashboard_subject(self.session.actor, self.session.environment).at(self.address)

    @property
    def nav(self) -> list[NavEntry]:
        return nav.visible(self.session.actor)

    @property
    def section(self) -> NavEntry | None:
        return nav.current(self.path)

    def may(self, permission: Permission) -> bool:
        return self.session.actor.may(permission)

    def context(self, **extra: Any) -> dict[str, Any]:
        """What every signed-in template gets: ``page`` and ``csrf``, plus ``extra``."""
        return {"page": self, "csrf": self.csrf, **extra}


async def current_session(request: Request[Any, Any, Any], *, stage: str = "full") -> Session:
    services = services_of(request)
    async with services.db.read() as conn:
        return await services.sessions.resolve(conn, request.cookies.get(SESSION_COOKIE), stage=stage)


async def signed_in(
    request: Request[Any, Any, Any], permission: Permission = Permission.READ, *, enrolling: bool = False
) -> Page:
    """The page's visitor, who must hold ``permission``."""
    session = await current_session(request)
    if session.must_enroll_totp and not enrolling:
        raise EnrollmentRequired()
    session.actor.require(permission)
    return _page(request, session)


def _page(request: Request[Any, Any, Any], session: Session) -> Page:
    return Page(
        session=session,
        csrf=form_keys(request).token(session.csrf_secret),
        path=request.url.path,
        address=client_address(request),
    )


async def signed_in_form(
    request: Request[Any, Any, Any], permission: Permission = Permission.READ, *, enrolling: bool = False
) -> tuple[Page, Form]:
    """A form post's visitor and fields: session, CSRF token and origin checked."""
    session = await current_session(request)
    form = await read_form(request, session.csrf_secret)
    if session.must_enroll_totp and not enrolling:
        raise EnrollmentRequired()
    session.actor.require(permission)
    return _page(request, session), form


async def signed_in_upload(
    request: Request[Any, Any, Any], permission: Permission, name: str
) -> tuple[Page, Form, Upload | None]:
    """As ``signed_in_form`` for a multipart form with a file field ``name``."""
    session = await current_session(request)
    form, upload = await read_upload(request, session.csrf_secret, name)
    if session.must_enroll_totp:
        raise EnrollmentRequired()
    session.actor.require(permission)
    return _page(request, session), form, upload


def anonymous_csrf(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Template context for a form shown before sign-in: its token and the cookie."""
    basis = anonymous_basis(request)
    return {"csrf": form_keys(request).token(basis), "anonymous_csrf": basis}


async def anonymous_form(request: Request[Any, Any, Any]) -> Form:
    from payreq.dashboard.web import CSRF_COOKIE

    return await read_form(request, request.cookies.get(CSRF_COOKIE))


__all__ = [
    "EnrollmentRequired",
    "Page",
    "SessionEnded",
    "anonymous_csrf",
    "signed_in",
    "signed_in_form",
    "signed_in_upload",
]
