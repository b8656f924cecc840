"""The dashboard's plumbing: templates, assets, headers, forms, CSRF, the error page.

Every answer carries the checkout's strict headers (own script and style only, no
inline code, ``frame-ancestors 'none'``, no referrer, no caching). Every form carries
a CSRF token (``csrf_token``): an HMAC under ``PAYREQ_SECRET_KEY`` of the session's
CSRF secret, or, before sign-in, of a random ``payreq_csrf`` cookie; ``read_form``
refuses (403) a form without the right token, and one sent from another site
(``Sec-Fetch-Site``, else ``Origin``, else ``Referer``), before anything changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response

from payreq.account.sessions import SessionEnded
from payreq.auth.roles import RoleForbidden
from payreq.checkout.redirect import origin
from payreq.checkout.routes import security_headers
from payreq.errors import Forbidden, PayreqError
from payreq.http import page_error_status, request_id
from payreq.kit import money
from payreq.kit.assets import load
from payreq.kit.crypto import random_string
from payreq.kit.jsonbody import displayable
from payreq.services import Services

CSRF_COOKIE = "payreq_csrf"
SESSION_COOKIE = "payreq_session"
DEVICE_COOKIE = "payreq_device"
MAX_FORM_FIELDS = 200

templates = Environment(
    loader=PackageLoader("payreq.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["major"] = lambda amount, currency: money.major_units(int(amount), str(currency))
templates.filters["visible"] = displayable  # names and labels people typed: see kit.jsonbody


ASSETS = {
    "dashboard.css": load("payreq.dashboard", "dashboard.css", "text/css"),
    "dashboard.js": load("payreq.dashboard", "dashboard.js", "text/javascript"),
    "favicon.svg": load("payreq.dashboard", "favicon.svg", "image/svg+xml"),
}
ASSET_URLS = {
    "css": f"/dashboard/static/dashboard.css?v={ASSETS['dashboard.css'].version}",
    "js": f"/dashboard/static/dashboard.js?v={ASSETS['dashboard.js'].version}",
    "icon": f"/dashboard/static/favicon.svg?v={ASSETS['favicon.svg'].version}",
}


def services_of(request: Request[Any, Any, Any]) -> Services:
    found: Services = request.app.state.services
    return found


def secure_cookies(request: Request[Any, Any, Any]) -> bool:
    return services_of(request).settings.base_url.startswith("https://")


def html(
    request: Request[Any, Any, Any], template: str, context: dict[str, Any], *, status: int = 200
) -> Response[str]:
    """Render ``template`` with ``context`` (plus ``assets`` and ``request_id``)."""
    body = templates.get_template(template).render(
        assets=ASSET_URLS, request_id=request_id(request), **context
    )
    response = Response(
        body, status_code=status, media_type=MediaType.HTML, headers=security_headers(request)
    )
    if CSRF_COOKIE not in request.cookies and context.get("anonymous_csrf"):
        response.set_cookie(
            CSRF_COOKIE,
            context["anonymous_csrf"],
            path="/dashboard",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
        )
    return response


def see_other(request: Request[Any, Any, Any], location: str) -> Response[bytes]:
    """303 to a path of this site (never elsewhere)."""
    if not location.startswith("/") or location.startswith("//"):
        location = "/dashboard"
    return Response(b"", status_code=303, headers={**security_headers(request), "Location": location})


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path, never another site."""
    if value and value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


# -- CSRF --------------------------------------------------------------------------


class FormKeys:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), b"payreq dashboard form v1", hashlib.sha256).digest()

    def token(self, basis: str) -> str:
        return hmac.new(self._key, basis.encode(), hashlib.sha256).hexdigest()

    def check(self, basis: str | None, token: str | None) -> bool:
        if not basis or not token or len(token) > 128:
            return False
        return hmac.compare_digest(self.token(basis).encode(), token.encode())


def form_keys(request: Request[Any, Any, Any]) -> FormKeys:
    return FormKeys(services_of(request).settings.secret_key)


def anonymous_basis(request: Request[Any, Any, Any]) -> str:
    """The ``payreq_csrf`` cookie's value, or a new one that ``html`` sets."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 64:
        return existing
    scope_state = request.scope.setdefault("state", {})
    if "payreq.csrf_basis" not in scope_state:
        scope_state["payreq.csrf_basis"] = random_string(32)
    basis: str = scope_state["payreq.csrf_basis"]
    return basis


@dataclass
class Form:
    """A posted form: each field's values in order (checkboxes repeat)."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getall(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def has(self, name: str) -> bool:
        return name in self.fields


def same_site(request: Request[Any, Any, Any]) -> bool:
    """The form was sent from this site's own pages: every signal the browser sent
    (``Sec-Fetch-Site``, ``Origin``, ``Referer``) says so. Under ``Referrer-Policy:
    no-referrer`` browsers send ``Origin: null``; that is accepted only beside a
    ``Sec-Fetch-Site: same-origin`` the page itself cannot forge."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    ours = origin(services_of(request).settings.base_url)
    sender = request.headers.get("origin")
    if sender == "null" and site is None:
        return False
    if sender is not None and sender != "null" and sender != ours:
        return False
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" == ours
    return True


async def read_form(request: Request[Any, Any, Any], basis: str | None) -> Form:
    """The form's fields once its origin and CSRF token check out; 403 otherwise."""
    if not same_site(request):
        raise Forbidden(code="cross_site_form")
    raw = (await request.body()).decode("utf-8", "replace")
    try:
        parsed = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Forbidden(code="form_too_large") from None
    form = Form(parsed)
    if not form_keys(request).check(basis, form.get("csrf")):
        raise Forbidden(code="invalid_csrf_token")
    return form


@dataclass(frozen=True)
class Upload:
    """A file sent with a multipart form: its name as the browser gave it, its media
    type, and its bytes."""

    filename: str
    media_type: str | None
    data: bytes


async def read_upload(
    request: Request[Any, Any, Any], basis: str | None, name: str
) -> tuple[Form, Upload | None]:
    """A multipart form's fields and its file ``name`` (None if none was chosen),
    once its origin and CSRF token check out; 403 otherwise. The body is bounded by
    the route's ``request_max_body_size`` (413 past it)."""
    if not same_site(request):
        raise Forbidden(code="cross_site_form")
    if request.content_type[0] != "multipart/form-data":
        raise Forbidden(code="invalid_csrf_token")
    received = await request.form()
    fields: dict[str, list[str]] = {}
    upload = None
    for key, value in received.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
        elif key == name and upload is None and value.filename:
            upload = Upload(value.filename[:200], value.content_type or None, await value.read())
    form = Form(fields)
    if not form_keys(request).check(basis, form.get("csrf")):
        raise Forbidden(code="invalid_csrf_token")
    return form, upload


# -- the error page --------------------------------------------------------------------

_TITLES = {
    400: ("This request cannot be handled", "The form was incomplete or malformed. Go back and try again."),
    403: ("Not allowed", "You cannot do this here."),
    404: ("Not found", "There is nothing at this address in this account and environment."),
    405: ("This request cannot be handled", "That action is not available here."),
    409: ("Not possible now", "The item is not in a state that allows this."),
    422: ("This cannot be saved", "A value breaks a rule."),
    429: ("Too many attempts", "Wait a few minutes and try again."),
    503: ("Temporarily unavailable", "The dashboard cannot be reached right now. Try again in a minute."),
}
_CSRF = (
    "This form has expired or was not sent from this site",
    "For your safety nothing was changed. Reload the page and try again.",
)
_UNEXPECTED = ("Something went wrong", "The dashboard hit an unexpected error. Try again in a minute.")


def render_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors are pages too, with the same headers; a missing session goes to sign-in."""
    if isinstance(exc, SessionEnded):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/dashboard"
        return see_other(request, f"/dashboard/login?next={quote(safe_next(target), safe='/')}")
    if isinstance(exc, PayreqError) and exc.code == "totp_required":
        return see_other(request, "/dashboard/account/security")
    status_code = page_error_status(request, exc)
    title, message = _TITLES.get(status_code, _UNEXPECTED)
    if isinstance(exc, RoleForbidden):
        title, message = "Your role does not allow this", exc.message
    elif isinstance(exc, Forbidden) and exc.code in (
        "cross_site_form",
        "invalid_csrf_token",
        "form_too_large",
    ):
        title, message = _CSRF
    elif isinstance(exc, PayreqError) and status_code in (404, 409, 422, 429):
        message = exc.message
    response = html(request, "error.html", {"title": title, "message": message}, status=status_code)
    if isinstance(exc, PayreqError) and "Retry-After" in exc.headers:
        response.headers["Retry-After"] = exc.headers["Retry-After"]
    return response


# -- shown once ------------------------------------------------------------------------

ONCE_COOKIE = "payreq_once"


def _once_mac(request: Request[Any, Any, Any], basis: str, body: str) -> str:
    return form_keys(request).token(f"once\0{basis}\0{body}")[:32]


def show_once(
    request: Request[Any, Any, Any], response: Response[Any], basis: str, payload: dict[str, str]
) -> Response[Any]:
    """Carry a new secret to the next page (Post/Redirect/Get) in a cookie that only
    this session can read, lives a minute and is deleted by the page that shows it:
    a reload shows the secret no more, and the server never stores it."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    response.set_cookie(
        ONCE_COOKIE,
        f"{body}.{_once_mac(request, basis, body)}",
        max_age=60,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


def take_once(request: Request[Any, Any, Any], basis: str) -> dict[str, str] | None:
    raw = request.cookies.get(ONCE_COOKIE)
    if not raw or raw.count(".") != 1:
        return None
    body, mac = raw.split(".")
    if not hmac.compare_digest(mac.encode(), _once_mac(request, basis, body).encode()):
        return None
    try:
        found: dict[str, str] = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    return found


def forget_once(request: Request[Any, Any, Any], response: Response[Any]) -> Response[Any]:
    if ONCE_COOKIE in request.cookies:
        response.delete_cookie(ONCE_COOKIE, path="/dashboard")
    return response
