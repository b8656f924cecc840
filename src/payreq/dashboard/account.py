"""The signed-in user's own sign-in security, and the account's sign-in rule.

- ``GET  /dashboard/account/security``: password, two-factor, sessions;
- ``POST .../password``: change it (the other sessions end);
- ``POST .../totp`` (start), ``.../totp/confirm`` (code -> on, recovery codes shown
  once), ``.../totp/disable``, ``.../totp/recovery-codes`` (new set);
- ``POST .../sessions/end-others``: sign out everywhere else;
- ``POST .../require-totp`` (admins and owners): every member must use two-factor.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from payreq.account.session_repository import user_by_id
from payreq.account.sessions import verify_password
from payreq.account.users import check_password, hash_new_password
from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import forget_once, html, see_other, services_of, show_once, take_once
from payreq.errors import PayreqError, ValidationFailed

register(NavEntry("/dashboard/account/security", "Sign-in security", Permission.READ, 90))

NOTICES = {
    "password": "Your password was changed. Your other sessions have ended.",
    "ended": "Every other session of yours has ended.",
    "totp_off": "Two-factor sign-in is off.",
    "required": "The account's sign-in rule was saved.",
}


async def _security(
    request: Request[Any, Any, Any], page: Page, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        pending = await services.totp.pending(conn, page.actor)
        sessions = await services.sessions.list(conn, page.actor)
        remaining = await services.totp.remaining_codes(conn, page.actor) if page.session.totp_enabled else 0
    once = take_once(request, page.session.csrf_secret)
    context = page.context(
        pending=pending,
        sessions=sessions,
        remaining=remaining,
        codes=once["codes"].split() if once and once.get("kind") == "recovery_codes" else None,
        notices=[m for k, m in NOTICES.items() if request.query_params.get(k)],
        **{"errors": {}, **extra},
    )
    return forget_once(request, html(request, "security.html", context, status=status))


@get("/account/security", include_in_schema=False)
async def security(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.READ, enrolling=True)
    return await _security(request, page)


@post("/account/security/password", include_in_schema=False, status_code=303)
async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    async with services.db.read() as conn:
        user = await user_by_id(conn, page.actor.user_id)
    current_ok = await verify_password(user["password_hash"] if user else None, form.get("current_password"))
    try:
        if not current_ok:
            raise ValidationFailed("Your current password is not right.", param="current_password")
        check_password(form.get("new_password"), email=page.actor.email, param="new_password")
    except ValidationFailed as exc:
        return await _security(request, page, status=422, errors={exc.param or "form": exc.message})
    new_hash = await hash_new_password(form.get("new_password"))
    async with services.db.transaction() as conn:
        await services.users.change_password(
            conn, page.actor, new_hash=new_hash, keep_session=page.session.digest
        )
    return see_other(request, "/dashboard/account/security?password=1")


@post("/account/security/totp", include_in_schema=False, status_code=303)
async def start_totp(request: Request[Any, Any, Any]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.totp.begin(conn, page.actor)
    return see_other(request, "/dashboard/account/security#two-factor")


@post("/account/security/totp/confirm", include_in_schema=False, status_code=303)
async def confirm_totp(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            codes = await services.totp.confirm(conn, page.actor, form.get("code"))
    except ValidationFailed as exc:
        return await _security(request, page, status=422, errors={"code": exc.message})
    payload = {"kind": "recovery_codes", "codes": " ".join(codes)}
    return show_once(
        request,
        see_other(request, "/dashboard/account/security#recovery-codes"),
        page.session.csrf_secret,
        payload,
    )


@post("/account/security/totp/recovery-codes", include_in_schema=False, status_code=303)
async def new_codes(request: Request[Any, Any, Any]) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    async with services.db.transaction() as conn:
        codes = await services.totp.regenerate(conn, page.actor)
    payload = {"kind": "recovery_codes", "codes": " ".join(codes)}
    return show_once(
        request,
        see_other(request, "/dashboard/account/security#recovery-codes"),
        page.session.csrf_secret,
        payload,
    )


@post("/account/security/totp/disable", include_in_schema=False, status_code=303)
async def disable_totp(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.totp.disable(
                conn,
                page.actor,
                form.get("disable_code"),
                account_requires=page.session.account_requires_totp,
            )
    except PayreqError as exc:
        if exc.status not in (409, 422):
            raise
        return await _security(request, page, status=exc.status, errors={"disable_code": exc.message})
    return see_other(request, "/dashboard/account/security?totp_off=1")


@post("/account/security/sessions/end-others", include_in_schema=False, status_code=303)
async def end_others(request: Request[Any, Any, Any]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.READ, enrolling=True)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.sessions.end_everywhere(conn, page.actor, keep=page.session)
    return see_other(request, "/dashboard/account/security?ended=1")


@post("/account/security/require-totp", include_in_schema=False, status_code=303)
async def require_totp(request: Request[Any, Any, Any]) -> Response[bytes]:
    page, form = await signed_in_form(request, Permission.TEAM)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.totp.require_for_account(conn, page.actor, form.get("require") == "1")
    return see_other(request, "/dashboard/account/security?required=1")


handlers = [
    security,
    change_password,
    start_totp,
    confirm_totp,
    new_codes,
    disable_totp,
    end_others,
    require_totp,
]
