"""Payment applications (developers and up): list, create, edit every field, rotate
the webhook secret, send a test event, archive. Client tokens live on an
application's page too (``dashboard/tokens.py``).

- ``GET  /dashboard/applications`` and ``/dashboard/applications/new``;
- ``POST /dashboard/applications``: create (the webhook secret shown once);
- ``GET  /dashboard/applications/{clientId}``: settings, secrets, tokens;
- ``POST /dashboard/applications/{clientId}``: save the settings;
- ``POST .../webhook-secret``, ``.../test-event``, ``.../archive``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.application import rules
from payreq.application.service import NOT_SENT, PREVIOUS_SECRET_TTL, CheckedWebhookUrl
from payreq.auth.roles import Permission
from payreq.auth.subject import Scope
from payreq.dashboard import forms
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, signed_in, signed_in_form
from payreq.dashboard.web import Form, forget_once, html, see_other, services_of, show_once, take_once
from payreq.errors import PayreqError, ValidationFailed
from payreq.method.registry import default_registry
from payreq.webhook import test_event
from payreq.webhook.config import WebhookConfig

register(NavEntry("/dashboard/applications", "Applications", Permission.DEVELOP, 50))

SCOPE_DESCRIPTIONS = {
    Scope.PAYMENTS_CREATE.value: "Create payment checkout sessions",
    Scope.PAYMENTS_GET.value: "Retrieve payment details",
    Scope.PAYMENTS_INSTRUCTIONS.value: "Retrieve payment instructions for a method",
    Scope.ALL.value: "All of the above",
}


def method_choices(page: Page) -> list[tuple[str, str]]:
    """The installed methods this environment may offer: (name, label)."""
    return [(m.name, m.label) for m in default_registry() if page.environment in m.environments]


@get("/applications", include_in_schema=False)
async def applications(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.DEVELOP)
    services = services_of(request)
    async with services.db.read() as conn:
        apps = await services.applications.list(conn, page.subject)
    notices = [
        m for k, m in {"archived": "The application was archived."}.items() if request.query_params.get(k)
    ]
    return html(request, "applications.html", page.context(applications=apps, notices=notices))


def _form_page(
    request: Request[Any, Any, Any],
    page: Page,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response[str]:
    context = page.context(values=values, errors=errors, methods=method_choices(page))
    return html(request, "application_new.html", context, status=status)


@get("/applications/new", include_in_schema=False)
async def new_application(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.DEVELOP)
    default = rules.default_methods(sandbox=page.sandbox)
    return _form_page(request, page, values={"methods": default}, errors={})


async def _problems(
    request: Request[Any, Any, Any], page: Page, form: Form
) -> tuple[dict[str, Any] | None, CheckedWebhookUrl, dict[str, str]]:
    """The form's settings, its webhook URL checked (its name resolved before any unit
    of work), and every rule they break (all at once, by field)."""
    try:
        fields = forms.application_fields(form)
    except ValidationFailed as exc:
        return None, NOT_SENT, {exc.param or "form": exc.message}
    webhook = NOT_SENT
    found: dict[str, str] = {}
    try:
        webhook = await services_of(request).applications.check_webhook_url(fields["webhook_url"])
    except ValidationFailed as exc:
        found[exc.param or "webhookUrl"] = exc.message
    found |= rules.problems(
        sandbox=page.sandbox,
        name_value=fields["name"],
        redirect_url_value=fields["default_redirect_url"],
        currencies_value=fields["currencies"],
        methods_value=fields["methods"],
        bank_details_value=fields["bank_details"],
        expires_in_value=fields["default_expires_in"],
    )
    return fields, webhook, found


@post("/applications", include_in_schema=False, status_code=303)
async def create(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    fields, webhook, problems = await _problems(request, page, form)
    if fields is None or problems:
        return _form_page(request, page, values=forms.form_values(form), errors=problems, status=422)
    try:
        async with services.db.transaction() as conn:
            made = await services.applications.create(
                conn, page.subject, forms.application_create(fields), webhook=webhook
            )
    except ValidationFailed as exc:
        errors = {exc.param or "form": exc.message}
        return _form_page(request, page, values=forms.form_values(form), errors=errors, status=422)
    payload = {"kind": "webhook_secret", "secret": made.webhook_secret, "note": "created"}
    location = f"/dashboard/applications/{made.application.client_id}"
    return show_once(request, see_other(request, location), page.session.csrf_secret, payload)


async def _detail(
    request: Request[Any, Any, Any],
    page: Page,
    client_id: str,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    **extra: Any,
) -> Response[str]:
    services = services_of(request)
    async with services.db.read() as conn:
        app = await services.applications.get(conn, page.subject, client_id)
        tokens = await services.client_tokens.list(conn, page.subject, client_id)
    once = take_once(request, page.session.csrf_secret)
    notices = {
        "saved": "Saved. The API uses the new settings from now on.",
        "revoked": "The token was revoked; the API refuses it from now on.",
    }
    context = page.context(
        app=app,
        tokens=tokens,
        once=once,
        values=values or forms.application_values(app),
        errors=errors or {},
        methods=method_choices(page),
        scopes=SCOPE_DESCRIPTIONS,
        previous_hours=int(PREVIOUS_SECRET_TTL.total_seconds() // 3600),
        notices=[m for k, m in notices.items() if request.query_params.get(k)],
        **extra,
    )
    return forget_once(request, html(request, "application.html", context, status=status))


@get("/applications/{client_id:str}", include_in_schema=False)
async def application(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[str]:
    page = await signed_in(request, Permission.DEVELOP)
    return await _detail(request, page, client_id)


@post("/applications/{client_id:str}", include_in_schema=False, status_code=303)
async def save(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    fields, webhook, problems = await _problems(request, page, form)
    async with services.db.read() as conn:
        stored = await services.applications.get(conn, page.subject, client_id)
    problems = forms.kept_replacements(form, stored) | problems
    if fields is None or problems:
        return await _detail(
            request, page, client_id, status=422, values=forms.form_values(form), errors=problems
        )
    try:
        async with services.db.transaction() as conn:
            await services.applications.update(
                conn, page.subject, client_id, forms.application_update(fields), webhook=webhook
            )
    except ValidationFailed as exc:
        errors = {exc.param or "form": exc.message}
        return await _detail(
            request, page, client_id, status=422, values=forms.form_values(form), errors=errors
        )
    return see_other(request, f"/dashboard/applications/{client_id}?saved=1")


@post("/applications/{client_id:str}/webhook-secret", include_in_schema=False, status_code=303)
async def rotate(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[Any]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            rotated = await services.applications.rotate_webhook_secret(conn, page.subject, client_id)
    except PayreqError as exc:
        if exc.status != 409:
            raise
        return await _detail(request, page, client_id, status=409, rotate_error=exc.message)
    until = rotated.previous_expires_at.strftime("%Y-%m-%d %H:%M UTC") if rotated.previous_expires_at else ""
    payload = {"kind": "webhook_secret", "secret": rotated.webhook_secret, "note": "rotated", "until": until}
    location = f"/dashboard/applications/{client_id}"
    return show_once(request, see_other(request, location), page.session.csrf_secret, payload)


@post("/applications/{client_id:str}/test-event", include_in_schema=False, status_code=200)
async def send_test_event(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[str]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.read() as conn:
            prepared = await test_event.prepare(
                conn, page.subject, client_id, clock=services.clock, limits=services.webhooks.limits
            )
    except PayreqError as exc:
        if exc.status not in (422, 429):
            raise
        refused = await _detail(request, page, client_id, status=exc.status, test_error=exc.message)
        refused.headers.update(exc.headers)  # Retry-After on a 429
        return refused
    outcome = await test_event.send(prepared, WebhookConfig.of(services.settings))
    # an answer from a private network is not shown where the operator allows those
    show_body = not services.settings.webhook_allow_private
    return await _detail(request, page, client_id, test=outcome, test_url=prepared.url, show_body=show_body)


@post("/applications/{client_id:str}/archive", include_in_schema=False, status_code=303)
async def archive(request: Request[Any, Any, Any], client_id: FromPath[str]) -> Response[bytes]:
    page, _ = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    async with services.db.transaction() as conn:
        await services.applications.archive(conn, page.subject, client_id)
    return see_other(request, "/dashboard/applications?archived=1")


handlers = [applications, new_application, create, application, save, rotate, send_test_event, archive]
