"""The hosted checkout, ``/checkout/{id}``: server-rendered HTML with its own CSS and
a little own JavaScript, no external asset, usable without JavaScript.

- ``GET  /checkout/{id}``: the page (or, once terminal, its outcome and the way back);
- ``GET  /checkout/{id}/status``: ``{"status"}`` for the page's own polling;
- ``POST /checkout/{id}/pay/{method}``: a method's button (form: ``csrf``, ``action``);
- ``POST /checkout/{id}/cancel``: the payer cancels (form: ``csrf``);
- ``GET  /checkout/static/{name}``: the stylesheet and the script.

A form answer is 303 to the payment's stored redirect URL once the payment is
terminal (``payreq.checkout.redirect``), else back to the page. The checkout of a
closed account or an archived application is shut: every route above answers the 410
page and changes nothing. Every answer, errors
included, carries a strict CSP and ``Cache-Control: no-store``. The forms are limited
per client address (``PAYREQ_CHECKOUT_FORM_RATE_LIMIT``) and per payment
(``PAYREQ_CHECKOUT_PAYMENT_RATE_LIMIT``) per second: 429 past either.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from payreq.auth.dependencies import client_address
from payreq.checkout.csrf import FormTokens
from payreq.checkout.format import format_amount, payer_locale, time_left
from payreq.checkout.redirect import form_action_source, origin, return_url
from payreq.checkout.service import CANCEL_FORM, CheckoutService, CheckoutView, method_form
from payreq.errors import BadRequest, Forbidden, NotFound, PayreqError, RateLimited
from payreq.http import page_error_status, request_id
from payreq.kit.assets import CACHE_HEADERS, load
from payreq.kit.clock import rfc3339
from payreq.kit.jsonbody import displayable
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.ratelimit.backend import Budget
from payreq.services import Services

_templates = Environment(
    loader=PackageLoader("payreq.checkout", "templates"), autoescape=select_autoescape(default=True)
)
_templates.filters["visible"] = displayable  # what the merchant typed: see kit.jsonbody


ASSETS = {
    "checkout.css": load("payreq.checkout", "checkout.css", "text/css"),
    "checkout.js": load("payreq.checkout", "checkout.js", "text/javascript"),
    "favicon.svg": load("payreq.checkout", "favicon.svg", "image/svg+xml"),
}
ASSET_URLS = {
    "css": f"/checkout/static/checkout.css?v={ASSETS['checkout.css'].version}",
    "js": f"/checkout/static/checkout.js?v={ASSETS['checkout.js'].version}",
    "icon": f"/checkout/static/favicon.svg?v={ASSETS['favicon.svg'].version}",
}

HEADLINES = {
    Status.PAID: ("Payment received", "{merchant} has received your payment. Thank you."),
    Status.CANCELLED: (
        "Payment cancelled",
        "This payment request was cancelled, so it can no longer be paid. No money was taken.",
    ),
    Status.EXPIRED: (
        "Payment request expired",
        "This payment request expired before it was paid, so it can no longer be paid. No money was taken.",
    ),
}
TRANSFER_HEADLINES = {
    **HEADLINES,
    Status.CANCELLED: (
        "Payment cancelled",
        "This payment request was cancelled, so it can no longer be paid. If you already sent a bank "
        "transfer for it, contact {merchant}: it is not applied to a cancelled request by itself, and "
        "{merchant} decides whether to accept or refund it.",
    ),
    Status.EXPIRED: (
        "Payment request expired",
        "This payment request expired before {merchant} received a payment, so it can no longer be "
        "paid. If you sent a bank transfer on or before the day it expired, it still counts: it is "
        "matched when {merchant}'s bank statement arrives, and this page then shows the payment as "
        "received. If you sent it later, contact {merchant}.",
    ),
}
"""Where a production bank transfer was offered, the payer may have sent money that
payreq has not seen yet: "no money was taken" would not be true."""


def amount_size(amount: str) -> str:
    """The amount's type size: it never wraps (a number broken over two lines misreads),
    so a long one is set smaller to fit a phone ("" for the full size)."""
    if len(amount) > 14:
        return "long"
    if len(amount) > 10:
        return "medium"
    return ""


class StatusView(msgspec.Struct):
    status: str


def _service(request: Request[Any, Any, Any]) -> CheckoutService:
    services: Services = request.app.state.services
    return CheckoutService(
        services.payments,
        services.methods.registry,
        base_url=services.settings.base_url,
        tokens=FormTokens(services.settings.secret_key),
    )


def security_headers(
    request: Request[Any, Any, Any], *, form_targets: tuple[str, ...] = ()
) -> dict[str, str]:
    """Strict CSP (own script and style only, no inline), no framing, no referrer, no caching."""
    form_action = " ".join(("'self'", *form_targets))
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    services: Services = request.app.state.services
    if services.settings.base_url.startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def _html(request: Request[Any, Any, Any], body: str, *, status: int = 200, **kwargs: Any) -> Response[str]:
    return Response(
        body, status_code=status, media_type=MediaType.HTML, headers=security_headers(request, **kwargs)
    )


def _see_other(request: Request[Any, Any, Any], location: str) -> Response[bytes]:
    headers = {**security_headers(request), "Location": location}
    return Response(b"", status_code=303, headers=headers)


def _targets(payment: Payment) -> tuple[str, ...]:
    """Chrome checks a form's redirects against ``form-action`` too."""
    found = form_action_source(payment.redirect_url)
    return (found,) if found else ()


@get("/{payment_id:str}", include_in_schema=False)
async def page(request: Request[Any, Any, Any], payment_id: FromPath[str]) -> Response[str]:
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        view = await _service(request).view(conn, payment_id)
    return _html(request, _render(request, view), form_targets=_targets(view.payment))


def _render(request: Request[Any, Any, Any], view: CheckoutView) -> str:
    services: Services = request.app.state.services
    payment = view.payment
    locale = payer_locale(request.headers.get("accept-language"))
    texts = TRANSFER_HEADLINES if view.transfer_offered else HEADLINES
    headline, explanation = texts.get(payment.status, ("", ""))
    now = services.clock()
    amount = format_amount(payment.amount, payment.currency, locale)
    return _templates.get_template("checkout.html").render(
        view=view,
        assets=ASSET_URLS,
        sandbox=payment.environment == "sandbox",
        amount=amount,
        amount_size=amount_size(amount),
        amount_lang=str(locale).replace("_", "-"),
        time_left=time_left(payment.expires_at, now),
        expires_at=rfc3339(payment.expires_at),
        now=rfc3339(now),
        base_path=f"/checkout/{payment.id}",
        status_url=f"/checkout/{payment.id}/status",
        headline=headline,
        explanation=explanation.format(merchant=view.merchant),
        return_url=return_url(payment),
    )


@get("/{payment_id:str}/status", include_in_schema=False)
async def status(request: Request[Any, Any, Any], payment_id: FromPath[str]) -> Response[bytes]:
    services: Services = request.app.state.services
    async with services.db.read() as conn:
        payment = await _service(request).status(conn, payment_id)
    return Response(
        msgspec.json.encode(StatusView(payment.status.value)),
        media_type=MediaType.JSON,
        headers=security_headers(request),
    )


MAX_FORM_FIELDS = 10


async def _spend(request: Request[Any, Any, Any], payment_id: str) -> None:
    """One form post of the address's budget and the payment's (429 past either)."""
    services: Services = request.app.state.services
    settings = services.settings
    decision = await services.limiter.spend(
        [
            Budget(f"co:addr:{client_address(request)}", settings.checkout_form_rate_limit, name="address"),
            Budget(f"co:pay:{payment_id[:64]}", settings.checkout_payment_rate_limit, name="payment"),
        ]
    )
    if decision is not None and not decision.allowed:
        raise RateLimited(
            f"Too many checkout forms for this {decision.name}; retry after the delay.",
            headers={"Retry-After": str(decision.retry_after)},
        )


async def _form(request: Request[Any, Any, Any], payment_id: str, form: str) -> dict[str, str]:
    """The form's fields once its CSRF token and origin check out; 403 otherwise."""
    services: Services = request.app.state.services
    await _spend(request, payment_id)
    site = request.headers.get("sec-fetch-site")
    sender = request.headers.get("origin")
    if (site is not None and site not in ("same-origin", "none")) or (
        sender is not None and sender != "null" and sender != origin(services.settings.base_url)
    ):
        raise Forbidden(code="cross_site_form")
    raw = (await request.body()).decode("utf-8", "replace")
    try:
        parsed = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than any checkout form has
        raise BadRequest(
            f"A checkout form has at most {MAX_FORM_FIELDS} fields.", code="invalid_form"
        ) from None
    fields = {k: v[0] for k, v in parsed.items()}
    if not _service(request).check_form(payment_id, form, fields.get("csrf")):
        raise Forbidden(code="invalid_csrf_token")
    return fields


def _after(request: Request[Any, Any, Any], payment: Payment) -> Response[bytes]:
    if payment.status is Status.PENDING:
        return _see_other(request, f"/checkout/{payment.id}")
    return _see_other(request, return_url(payment))


@post(
    "/{payment_id:str}/pay/{method:str}", include_in_schema=False, status_code=303, opt={"raw_body": "form"}
)
async def pay(
    request: Request[Any, Any, Any], payment_id: FromPath[str], method: FromPath[str]
) -> Response[bytes]:
    services: Services = request.app.state.services
    fields = await _form(request, payment_id, method_form(method))
    async with services.db.transaction() as conn:
        payment = await _service(request).act(
            conn, payment_id, method, fields.get("action", ""), address=client_address(request)
        )
    return _after(request, payment)


@post("/{payment_id:str}/cancel", include_in_schema=False, status_code=303, opt={"raw_body": "form"})
async def cancel(request: Request[Any, Any, Any], payment_id: FromPath[str]) -> Response[bytes]:
    services: Services = request.app.state.services
    await _form(request, payment_id, CANCEL_FORM)
    async with services.db.transaction() as conn:
        payment = await _service(request).cancel(conn, payment_id, address=client_address(request))
    return _after(request, payment)


@get("/static/{name:str}", include_in_schema=False)
async def static(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound("No such file.")
    return Response(asset.body, media_type=asset.media_type, headers=CACHE_HEADERS)


_TITLES = {
    400: ("This request cannot be handled", "The form was incomplete or malformed. Go back and try again."),
    403: (
        "This form has expired or was not sent from this page",
        "For your safety the action was refused. Reload the checkout page and try again.",
    ),
    404: (
        "Payment request not found",
        "This checkout link does not lead to a payment request. Check the link you were given.",
    ),
    405: ("This request cannot be handled", "That action is not available here."),
    410: (
        "This payment request is no longer available",
        "This checkout link has been closed: the payment can no longer be made or cancelled here. "
        "If you have already paid or sent a bank transfer, contact the merchant directly.",
    ),
    422: ("This action is not available", "Reload the checkout page and choose again."),
    429: ("Too many attempts", "Please wait a moment, then reload the checkout page and try again."),
    503: (
        "Temporarily unavailable",
        "The checkout cannot be reached right now. Please try again in a minute.",
    ),
}
_UNEXPECTED = ("Something went wrong", "The checkout hit an unexpected error. Please try again in a minute.")


def render_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Errors on the payer's side are pages too, with the same headers."""
    status_code = page_error_status(request, exc)
    title, message = _TITLES.get(status_code, _UNEXPECTED)
    body = _templates.get_template("error.html").render(
        assets=ASSET_URLS, title=title, message=message, request_id=request_id(request)
    )
    response = _html(request, body, status=status_code)
    if isinstance(exc, PayreqError) and "Retry-After" in exc.headers:
        response.headers["Retry-After"] = exc.headers["Retry-After"]
    if isinstance(exc, HTTPException):  # a 405 says which methods there are
        for name, value in (exc.headers or {}).items():
            if name.lower() == "allow":
                response.headers["Allow"] = value
    return response


router = Router(
    path="/checkout",
    route_handlers=[page, status, pay, cancel, static],
    exception_handlers={PayreqError: render_error, HTTPException: render_error, Exception: render_error},
    tags=["Checkout"],
)
