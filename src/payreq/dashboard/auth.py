"""Signing in and out, signing up, the second factor, password reset links.

- ``GET|POST /dashboard/login``: email and password; then, for a user with TOTP,
  ``GET|POST /dashboard/login/verify`` (a code from the app or a recovery code);
- ``GET|POST /dashboard/signup`` (only where ``PAYREQ_SIGNUP=open``): the form answers
  "check your inbox" whether or not the address has a sign-in, and mails it the link
  (or, for a registered address, a note); ``GET|POST /dashboard/signup/confirm/{token}``
  makes the account, once, within 24 hours;
- ``POST /dashboard/logout``;
- ``GET|POST /dashboard/password-reset`` and ``/dashboard/password-reset/{token}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.account.sessions import SignInFailed, Started, verify_password
from payreq.account.users import SIGNUP_LINK_INVALID, SignupLink, hash_new_password, password_problem
from payreq.auth.dependencies import client_address
from payreq.dashboard.session import anonymous_csrf, anonymous_form, current_session
from payreq.dashboard.web import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    html,
    read_form,
    safe_next,
    secure_cookies,
    see_other,
    services_of,
)
from payreq.errors import Conflict, NotFound, PayreqError, RateLimited, ValidationFailed
from payreq.kit.mail import mail_text
from payreq.services import Services

DEVICE_MAX_AGE = 365 * 86400


def signed_in_response(request: Request[Any, Any, Any], started: Started, location: str) -> Response[bytes]:
    """303 to ``location`` with the new session's cookie (and, once fully signed in,
    the device cookie that keeps this browser clear of the login throttle)."""
    services = services_of(request)
    response = see_other(request, location)
    secure = secure_cookies(request)
    response.set_cookie(
        SESSION_COOKIE, started.token, path="/dashboard", httponly=True, samesite="lax", secure=secure
    )
    if started.stage == "full":
        response.set_cookie(
            DEVICE_COOKIE,
            services.sessions.device_cookie(started.user_id),
            max_age=DEVICE_MAX_AGE,
            path="/dashboard",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
    return response


def _login_page(request: Request[Any, Any, Any], *, status: int = 200, **context: Any) -> Response[str]:
    services = services_of(request)
    return html(
        request,
        "login.html",
        {
            **anonymous_csrf(request),
            "next": safe_next(request.query_params.get("next") or context.pop("next", None)),
            "signup_open": services.users.signup_open,
            **context,
        },
        status=status,
    )


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _login_page(request)


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await anonymous_form(request)
    services = services_of(request)
    address = client_address(request)
    email, next_path = form.get("email"), safe_next(form.get("next"))
    try:
        async with services.db.read() as conn:
            candidate = await services.sessions.prepare(
                conn, email=email, address=address, device=request.cookies.get(DEVICE_COOKIE)
            )
        password_ok = await verify_password(
            candidate.user["password_hash"] if candidate.user else None, form.get("password")
        )
        async with services.db.transaction() as conn:
            started = await services.sessions.start(
                conn, candidate, password_ok=password_ok, user_agent=request.headers.get("user-agent")
            )
        if started is None:  # the failure is on record (committed) before the answer
            raise services.sessions.refusal(candidate)
    except (SignInFailed, ValidationFailed, RateLimited) as exc:
        response = _login_page(request, status=exc.status, email=email, next=next_path, error=exc.message)
        if "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response
    if started.stage == "totp":
        return signed_in_response(request, started, f"/dashboard/login/verify?next={next_path}")
    return signed_in_response(request, started, next_path)


@get("/login/verify", include_in_schema=False)
async def verify_page(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await current_session(request, stage="totp")
    csrf = _csrf_for(request, session.csrf_secret)
    return html(
        request, "login_verify.html", {"csrf": csrf, "next": safe_next(request.query_params.get("next"))}
    )


def _csrf_for(request: Request[Any, Any, Any], basis: str) -> str:
    from payreq.dashboard.web import form_keys

    return form_keys(request).token(basis)


@post("/login/verify", include_in_schema=False, status_code=303)
async def verify(request: Request[Any, Any, Any]) -> Response[Any]:
    """The second factor: a TOTP code or a recovery code, throttled like passwords."""
    services = services_of(request)
    session = await current_session(request, stage="totp")
    form = await read_form(request, session.csrf_secret)
    address = client_address(request)
    next_path = safe_next(form.get("next"))
    try:
        async with services.db.read() as conn:
            candidate = await services.sessions.prepare(
                conn, email=session.actor.email, address=address, device=request.cookies.get(DEVICE_COOKIE)
            )
        async with services.db.transaction() as conn:
            if not await services.totp.verify(conn, session.actor.user_id, form.get("code")):
                await services.sessions.record_failure(conn, address=address, user_id=session.actor.user_id)
                ok = False
            else:
                ok = True
                started = await services.sessions.promote(
                    conn, session, address=address, user_agent=request.headers.get("user-agent")
                )
        if not ok and candidate.address_over:  # the failure is on record; past the limit: 429
            raise services.sessions.refusal(candidate)
    except RateLimited as exc:
        return html(
            request,
            "login_verify.html",
            {"csrf": _csrf_for(request, session.csrf_secret), "next": next_path, "error": exc.message},
            status=429,
        )
    if not ok:
        return html(
            request,
            "login_verify.html",
            {
                "csrf": _csrf_for(request, session.csrf_secret),
                "next": next_path,
                "error": "That code is not right. Enter the 6 digits your app shows now, or a recovery code.",
            },
            status=400,
        )
    return signed_in_response(request, started, next_path)


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = services_of(request)
    session = await current_session(request)
    await read_form(request, session.csrf_secret)
    async with services.db.transaction() as conn:
        if request.query_params.get("everywhere") == "1":
            await services.sessions.end_everywhere(conn, session.actor)
        else:
            await services.sessions.end(conn, session)
    response = see_other(request, "/dashboard/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


# -- sign-up -------------------------------------------------------------------------


def _signup_page(request: Request[Any, Any, Any], *, status: int = 200, **context: Any) -> Response[str]:
    return html(
        request,
        "signup.html",
        {**anonymous_csrf(request), "errors": {}, "values": {}, **context},
        status=status,
    )


@get("/signup", include_in_schema=False)
async def signup_page(request: Request[Any, Any, Any]) -> Response[str]:
    if not services_of(request).users.signup_open:
        return _signup_page(request, closed=True, status=403)
    return _signup_page(request)


@post("/signup", include_in_schema=False, status_code=200)
async def signup(request: Request[Any, Any, Any]) -> Response[Any]:
    """Nothing is made here: a new address gets a pending sign-up and its link by mail,
    a registered one a note; the answer is the same page either way."""
    form = await anonymous_form(request)
    services = services_of(request)
    values = {"account_name": form.get("account_name"), "email": form.get("email")}
    try:
        data = services.users.validate_signup(
            account_name_value=values["account_name"], email=values["email"], password=form.get("password")
        )
        await services.users.throttle_signup(address=client_address(request), email=data.email)
        password_hash = await hash_new_password(data.password)  # for a registered address too
        async with services.db.transaction() as conn:
            link = await services.users.request_signup(conn, data, password_hash=password_hash)
    except PayreqError as exc:
        if exc.code == "signup_closed":
            return _signup_page(request, closed=True, status=403)
        errors = {exc.param or "form": exc.message}
        response = _signup_page(request, errors=errors, values=values, status=exc.status)
        if "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response
    await _mail_signup(services, link)
    return html(request, "signup_sent.html", {"mail": services.mailer.configured})


async def _mail_signup(services: Services, link: SignupLink) -> None:
    base = services.settings.base_url
    if link.token is None:
        await services.mailer.send(
            to=link.email,
            subject="Someone tried to sign up to payreq with your address",
            body=f"Someone tried to create a payreq account with {link.email}, which already "
            "has a payreq sign-in. Nothing was created and nothing changed.\n\n"
            f"To sign in: {base}/dashboard/login\n"
            f"Forgot your password? Reset it: {base}/dashboard/password-reset\n\n"
            "If it was not you, ignore this message.\n",
        )
        return
    await services.mailer.send(
        to=link.email,
        subject="Confirm your email to create your payreq account",
        body=f"Someone (we hope you) asked to create a payreq account with {link.email}.\n\n"
        f"To confirm the address and create the account, open this link within 24 hours:\n"
        f"{base}/dashboard/signup/confirm/{link.token}\n\n"
        "If it was not you, ignore this message; nothing is created without the link.\n",
    )


def _signup_link_page(request: Request[Any, Any, Any], *, taken: bool = False) -> Response[str]:
    if taken:
        return html(
            request,
            "signup_link.html",
            {
                "title": "This address already has an account",
                "message": "This email already has a payreq sign-in, so no new account was made.",
                "taken": True,
            },
            status=409,
        )
    return html(
        request,
        "signup_link.html",
        {"title": "This link does not work any more", "message": SIGNUP_LINK_INVALID},
        status=404,
    )


@get("/signup/confirm/{token:str}", include_in_schema=False)
async def signup_confirm_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[str]:
    """The link from the mail: a button that makes the account (a GET changes nothing,
    so a mail scanner that opens links uses none)."""
    services = services_of(request)
    if not services.users.signup_open:
        return _signup_page(request, closed=True, status=403)
    try:
        async with services.db.read() as conn:
            pending = await services.users.check_signup(conn, token)
    except NotFound:
        return _signup_link_page(request)
    return html(
        request, "signup_confirm.html", {**anonymous_csrf(request), "token": token, "pending": pending}
    )


@post("/signup/confirm/{token:str}", include_in_schema=False, status_code=303)
async def signup_confirm(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    await anonymous_form(request)
    services = services_of(request)
    if not services.users.signup_open:
        return _signup_page(request, closed=True, status=403)
    try:
        async with services.db.transaction() as conn:
            user_id = await services.users.confirm_signup(conn, token)
            if user_id is None:
                started = None
            else:
                started = await services.sessions.start_for(
                    conn,
                    user_id,
                    address=client_address(request),
                    user_agent=request.headers.get("user-agent"),
                )
    except NotFound:
        return _signup_link_page(request)
    except Conflict as exc:  # an invitation to the address was accepted at this very moment
        if exc.code != "email_taken":
            raise
        return _signup_link_page(request, taken=True)
    if started is None:
        return _signup_link_page(request, taken=True)
    return signed_in_response(request, started, "/dashboard?welcome=1")


# -- password reset --------------------------------------------------------------------


@get("/password-reset", include_in_schema=False)
async def reset_request_page(request: Request[Any, Any, Any]) -> Response[str]:
    services = services_of(request)
    return html(
        request, "reset_request.html", {**anonymous_csrf(request), "mail": services.mailer.configured}
    )


@post("/password-reset", include_in_schema=False, status_code=200)
async def reset_request(request: Request[Any, Any, Any]) -> Response[str]:
    """Emails a link where SMTP is configured; the answer never says whether the
    address has an account."""
    form = await anonymous_form(request)
    services = services_of(request)
    link = None
    if services.mailer.configured:
        try:
            await services.users.throttle_reset(address=client_address(request), email=form.get("email"))
        except RateLimited as exc:
            response = html(
                request,
                "reset_request.html",
                {**anonymous_csrf(request), "mail": True, "error": exc.message},
                status=exc.status,
            )
            response.headers["Retry-After"] = exc.headers["Retry-After"]
            return response
        async with services.db.transaction() as conn:
            link = await services.users.reset_link(conn, form.get("email"))
        if link is not None:
            url = f"{services.settings.base_url}/dashboard/password-reset/{link.token}"
            await services.mailer.send(
                to=link.email,
                subject="Reset your payreq password",
                body=mail_text(
                    "Someone asked to reset the password of {email}.\n\n"
                    "To choose a new password, open this link within an hour:\n{url}\n\n"
                    "If it was not you, ignore this message; your password stays as it is.\n",
                    email=link.email,
                    url=url,
                ),
            )
    return html(
        request,
        "reset_request.html",
        {**anonymous_csrf(request), "mail": services.mailer.configured, "sent": True},
    )


@get("/password-reset/{token:str}", include_in_schema=False)
async def reset_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        await services.users.check_reset(conn, token)
    return html(request, "reset.html", {**anonymous_csrf(request), "token": token, "errors": {}})


@post("/password-reset/{token:str}", include_in_schema=False, status_code=303)
async def reset(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    form = await anonymous_form(request)
    services = services_of(request)
    password = form.get("password")
    async with services.db.read() as conn:
        user_id = await services.users.check_reset(conn, token)
    problem = password_problem(password)
    if problem:
        return html(
            request,
            "reset.html",
            {**anonymous_csrf(request), "token": token, "errors": {"password": problem}},
            status=422,
        )
    new_hash = await hash_new_password(password)
    try:
        async with services.db.transaction() as conn:
            user_id = await services.users.reset_password(conn, token, new_hash=new_hash)
            started = await services.sessions.start_for(
                conn, user_id, address=client_address(request), user_agent=request.headers.get("user-agent")
            )
    except NotFound:
        raise
    done = "/dashboard?password_reset=1"
    if started.stage == "totp":  # the new password is set; the second factor still stands
        return signed_in_response(request, started, f"/dashboard/login/verify?next={quote(done, safe='/')}")
    return signed_in_response(request, started, done)


handlers = [
    login_page,
    login,
    verify_page,
    verify,
    logout,
    signup_page,
    signup,
    signup_confirm_page,
    signup_confirm,
    reset_request_page,
    reset_request,
    reset_page,
    reset,
]
