"""The team page (admins and owners) and accepting an invitation (anyone with the link).

- ``GET  /dashboard/team``: members, open invitations, the invite form;
- ``POST /dashboard/team/invitations``: invite; the link is shown to copy, and mailed
  where ``PAYREQ_SMTP_URL`` is set;
- ``POST /dashboard/team/invitations/{id}/revoke``;
- ``POST /dashboard/team/members/{id}/role``, ``.../remove``, ``.../transfer``;
- ``POST /dashboard/team/close``: the owner closes the account;
- ``GET|POST /dashboard/invitations/{token}``: choose a password and join.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.account.users import hash_new_password, password_problem
from payreq.auth.dependencies import client_address
from payreq.auth.roles import ROLE_DESCRIPTIONS, Permission, Role
from payreq.dashboard.auth import signed_in_response
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, anonymous_csrf, anonymous_form, signed_in, signed_in_form
from payreq.dashboard.web import html, see_other, services_of
from payreq.errors import PayreqError
from payreq.kit.mail import mail_text

register(NavEntry("/dashboard/team", "Team", Permission.TEAM, 70))


async def _team_page(
    request: Request[Any, Any, Any], page: Page, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        members = await services.team.members(conn, page.actor)
        invitations = await services.team.invitations(conn, page.actor)
    context = page.context(
        members=members,
        invitations=invitations,
        roles=list(Role),
        descriptions=ROLE_DESCRIPTIONS,
        mail=services.mailer.configured,
        **{"errors": {}, "values": {}, **extra},
    )
    return html(request, "team.html", context, status=status)


@get("/team", include_in_schema=False)
async def team(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.TEAM)
    notices = {"removed": "The member was removed; their sessions have ended."}
    return await _team_page(
        request, page, notices=[notices[k] for k in notices if request.query_params.get(k)]
    )


@post("/team/invitations", include_in_schema=False, status_code=200)
async def invite(request: Request[Any, Any, Any]) -> Response[str]:
    page, form = await signed_in_form(request, Permission.TEAM)
    services = services_of(request)
    values = {"email": form.get("email"), "role": form.get("role")}
    try:
        async with services.db.transaction() as conn:
            invitation, token = await services.team.invite(
                conn, page.actor, email=values["email"], role=values["role"]
            )
    except PayreqError as exc:
        if exc.status != 422:
            raise
        return await _team_page(
            request, page, status=422, errors={exc.param or "email": exc.message}, values=values
        )
    link = f"{services.settings.base_url}/dashboard/invitations/{token}"
    names = {"account": page.session.account_name, "inviter": page.actor.email}
    mailed = await services.mailer.send(
        to=invitation.email,
        subject=mail_text("You are invited to {account} on payreq", **names),
        body=mail_text(
            "{inviter} invited you to join {account} on payreq as {role}.\n\n"
            "To accept, open this link within 7 days and choose a password:\n{link}\n",
            **names,
            role=invitation.role.value,
            link=link,
        ),
    )
    return await _team_page(request, page, invited=invitation, link=link, mailed=mailed)


@post("/team/invitations/{invitation_id:str}/revoke", include_in_schema=False, status_code=303)
async def revoke_invitation(request: Request[Any, Any, Any], invitation_id: FromPath[str]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.TEAM)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.team.revoke_invitation(conn, page.actor, invitation_id)
    return see_other(request, "/dashboard/team")


@post("/team/members/{user_id:str}/role", include_in_schema=False, status_code=303)
async def change_role(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
    page, form = await signed_in_form(request, Permission.TEAM)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.team.change_role(conn, page.actor, user_id, form.get("role"))
    return see_other(request, "/dashboard/team")


@post("/team/members/{user_id:str}/remove", include_in_schema=False, status_code=303)
async def remove(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.TEAM)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.team.remove(conn, page.actor, user_id)
    return see_other(request, "/dashboard/team?removed=1")


@post("/team/members/{user_id:str}/transfer", include_in_schema=False, status_code=303)
async def transfer(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.OWN)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.team.transfer_ownership(conn, page.actor, user_id)
    return see_other(request, "/dashboard")


@post("/team/close", include_in_schema=False, status_code=303)
async def close(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.OWN)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.team.close_account(
                conn,
                page.actor,
                confirm_name=form.get("confirm_name"),
                account_name=page.session.account_name,
            )
    except PayreqError as exc:
        if exc.status != 422:
            raise
        return await _team_page(request, page, status=422, close_error=exc.message)
    services.authenticator.forget_all()
    return see_other(request, "/dashboard/login?closed=1")


# -- accepting an invitation ---------------------------------------------------------


@get("/invitations/{token:str}", include_in_schema=False)
async def invitation_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        invitation = await services.team.invitation(conn, token)
    context = {**anonymous_csrf(request), "invitation": invitation, "token": token, "errors": {}}
    return html(request, "invitation.html", context)


@post("/invitations/{token:str}", include_in_schema=False, status_code=303)
async def accept(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    form = await anonymous_form(request)
    services = services_of(request)
    async with services.db.read() as conn:
        invitation = await services.team.invitation(conn, token)
    password = form.get("password")
    problem = password_problem(password, email=invitation.email)
    if problem:
        context = {
            **anonymous_csrf(request),
            "invitation": invitation,
            "token": token,
            "errors": {"password": problem},
        }
        return html(request, "invitation.html", context, status=422)
    password_hash = await hash_new_password(password)
    async with services.db.transaction() as conn:
        user_id = await services.team.accept(conn, token, password_hash=password_hash)
        started = await services.sessions.start_for(
            conn, user_id, address=client_address(request), user_agent=request.headers.get("user-agent")
        )
    return signed_in_response(request, started, "/dashboard?joined=1")


handlers = [team, invite, revoke_invitation, change_role, remove, transfer, close, invitation_page, accept]
