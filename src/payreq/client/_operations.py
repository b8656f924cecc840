"""Every operation of the API, once: its parameters (TypedDicts that both clients use
as their keyword arguments, so editors complete them) and the ``Call`` that sends it.
Only fields that are set are sent: payreq refuses fields it does not know, and ``None``
means "leave out" everywhere except ``update_application``, where a key that is present
is sent (``None`` clears that field)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Required, TypeVar

from payreq.client._core import Call, Options, WriteOptions, segment, split_options
from payreq.client._models import (
    Application,
    ApplicationWithSecret,
    BankDetails,
    ClientToken,
    Event,
    EventDetail,
    Instructions,
    NewClientToken,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StatementImport,
)

T = TypeVar("T")
Status = PaymentStatus | Literal["pending", "paid", "expired", "cancelled"]
Outcome = Literal["paid", "cancelled", "expired"]


# -- parameters ------------------------------------------------------------------------


class CreatePaymentRequest(WriteOptions, total=False):
    amount: Required[int]
    """Integer minor units: 10000 USD is $100.00."""
    currency: Required[str]
    redirect_url: Required[str]
    reference_id: str | None
    expires_in: int | None
    """Seconds, 60 to 2592000; default: the application's, else 24 hours."""
    metadata: Mapping[str, str] | None


class ListPaymentRequests(Options, total=False):
    status: Status | None
    reference_id: str | None
    limit: int | None
    """Page size, 1 to 100 (default 10); iteration fetches every page."""
    starting_after: str | None


class CreateCheckout(WriteOptions, total=False):
    amount: Required[int]
    """Integer minor units: 10000 USD is $100.00."""
    currency_code: Required[str]
    reference: Required[str]
    reference_label: Required[str]
    client_id: str
    """The payment application; default: the client's ``application_client_id``."""
    redirect_url: str | None
    expires_in: int | None
    metadata: Mapping[str, str] | None


class ListPayments(Options, total=False):
    status: Status | None
    client_id: str | None
    reference: str | None
    created_from: datetime | None
    """Created at or after (timezone-aware)."""
    created_to: datetime | None
    """Created before (timezone-aware)."""
    limit: int | None
    cursor: str | None


class CreateApplication(WriteOptions, total=False):
    name: Required[str]
    webhook_url: str | None
    default_redirect_url: str | None
    currencies: Sequence[str] | None
    methods: Sequence[str] | None
    bank_details: BankDetails | None
    default_expires_in: int | None


class UpdateApplication(WriteOptions, total=False):
    name: str
    webhook_url: str | None
    default_redirect_url: str | None
    currencies: Sequence[str] | None
    methods: Sequence[str]
    bank_details: BankDetails | None
    default_expires_in: int | None


class CreateClientToken(WriteOptions, total=False):
    label: Required[str]
    scopes: Required[Sequence[str]]
    """payments.create, payments.get, payments.user-instructions.get or *."""
    expires_at: datetime | None


class ListEvents(Options, total=False):
    type: str | None
    after: str | None
    """An event id: the events after it."""
    payment_id: str | None
    limit: int | None


class ImportStatement(WriteOptions, total=False):
    format: Literal["csv", "camt.053"] | None
    """Default: from ``content_type``, else from the content."""
    filename: str | None
    content_type: str | None
    """text/csv or application/xml; default application/octet-stream."""


def fields(params_type: type) -> frozenset[str]:
    keys: frozenset[str] = params_type.__required_keys__ | params_type.__optional_keys__  # type: ignore[attr-defined]
    return frozenset(keys) - frozenset(WriteOptions.__optional_keys__)


# -- JSON helpers ------------------------------------------------------------------------


def _instant(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time sent to payreq must be timezone-aware (datetime.now(UTC), ...)")
    return value.isoformat()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BankDetails):
        return value.to_json()
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def _camel_body(body: Mapping[str, Any], *, keep_none: bool = False) -> dict[str, Any]:
    return {_camel(k): _jsonable(v) for k, v in body.items() if keep_none or v is not None}


def _query(values: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, str | int]:
    query: dict[str, str | int] = {}
    for key, value in values.items():
        if value is None:
            continue
        query[names.get(key, key)] = _instant(value) if isinstance(value, datetime) else value
    return query


def _list_of(model: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    return lambda body: [model(item) for item in body["data"]]


def _none(_: Any) -> None:
    return None


# -- lists that page by themselves ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """How to fetch the page after ``cursor`` of one list."""

    path: str
    query: Mapping[str, str | int]
    cursor_param: str
    first_cursor: str | None
    parse_page: Callable[[Any], Page[T]]
    options: Mapping[str, Any]

    def page(self, cursor: str | None) -> Call[Page[T]]:
        query = dict(self.query)
        if cursor is not None:
            query[self.cursor_param] = cursor
        return Call("GET", self.path, self.parse_page, options=self.options, params=query)


def _page(model: Callable[[Any], T], cursor_field: str, more_field: str) -> Callable[[Any], Page[T]]:
    def parse(body: Any) -> Page[T]:
        items = [model(item) for item in body["data"]]
        return Page(items, bool(body[more_field]), body.get(cursor_field))

    return parse


# -- contract A --------------------------------------------------------------------------


def create_payment_request(params: Mapping[str, Any]) -> Call[PaymentRequest]:
    body, options = split_options(params, fields(CreatePaymentRequest))
    body = {k: _jsonable(v) for k, v in body.items() if v is not None}
    body["amount"] = str(body["amount"]) if isinstance(body["amount"], int) else body["amount"]
    return Call("POST", "/payment/request", PaymentRequest.from_json, options=options, json=body)


def get_payment_request(id: str, options: Mapping[str, Any]) -> Call[PaymentRequest]:
    return Call("GET", f"/payment/request/{segment(id)}", PaymentRequest.from_json, options=options)


def cancel_payment_request(id: str, options: Mapping[str, Any]) -> Call[PaymentRequest]:
    return Call("POST", f"/payment/request/{segment(id)}/cancel", PaymentRequest.from_json, options=options)


def list_payment_requests(params: Mapping[str, Any]) -> Listing[PaymentRequest]:
    query, options = split_options(params, fields(ListPaymentRequests))
    first = query.pop("starting_after", None)
    return Listing(
        "/payment/request",
        _query(query, {}),
        "starting_after",
        first,
        _page(PaymentRequest.from_json, "next_starting_after", "has_more"),
        options,
    )


# -- contract B --------------------------------------------------------------------------


def create_checkout(params: Mapping[str, Any], default_client_id: str | None) -> Call[Payment]:
    body, options = split_options(params, fields(CreateCheckout))
    body.setdefault("client_id", default_client_id)
    if body["client_id"] is None:
        raise TypeError(
            "create_checkout needs client_id (the payment application's Client ID): pass it, "
            "give the client application_client_id, or set PAYMENT_CLIENT_ID"
        )
    return Call("POST", "/api/payment/checkout", Payment.from_json, options=options, json=_camel_body(body))


def get_payment(id: str, options: Mapping[str, Any]) -> Call[Payment]:
    return Call("GET", f"/api/payment/{segment(id)}", Payment.from_json, options=options)


def get_instructions(id: str, method: str, options: Mapping[str, Any]) -> Call[Instructions]:
    return Call(
        "GET",
        f"/api/payment/{segment(id)}/instructions",
        Instructions.from_json,
        options=options,
        params={"method": method},
    )


def list_payments(params: Mapping[str, Any]) -> Listing[Payment]:
    query, options = split_options(params, fields(ListPayments))
    first = query.pop("cursor", None)
    names = {"client_id": "clientId", "created_from": "createdFrom", "created_to": "createdTo"}
    return Listing(
        "/api/payments",
        _query(query, names),
        "cursor",
        first,
        _page(Payment.from_json, "nextCursor", "hasMore"),
        options,
    )


def simulate_payment(id: str, outcome: Outcome, options: Mapping[str, Any]) -> Call[Payment]:
    return Call(
        "POST",
        f"/api/sandbox/payment/{segment(id)}/simulate",
        Payment.from_json,
        options=options,
        json={"outcome": outcome},
    )


# -- applications and client tokens ---------------------------------------------------

APPLICATIONS = "/api/payment-applications"


def list_applications(options: Mapping[str, Any]) -> Call[list[Application]]:
    return Call("GET", APPLICATIONS, _list_of(Application.from_json), options=options)


def create_application(params: Mapping[str, Any]) -> Call[ApplicationWithSecret]:
    body, options = split_options(params, fields(CreateApplication))
    return Call(
        "POST", APPLICATIONS, ApplicationWithSecret.from_json, options=options, json=_camel_body(body)
    )


def get_application(client_id: str, options: Mapping[str, Any]) -> Call[Application]:
    return Call("GET", f"{APPLICATIONS}/{segment(client_id)}", Application.from_json, options=options)


def update_application(client_id: str, params: Mapping[str, Any]) -> Call[Application]:
    body, options = split_options(params, fields(UpdateApplication))
    return Call(
        "PATCH",
        f"{APPLICATIONS}/{segment(client_id)}",
        Application.from_json,
        options=options,
        json=_camel_body(body, keep_none=True),
    )


def delete_application(client_id: str, options: Mapping[str, Any]) -> Call[None]:
    return Call("DELETE", f"{APPLICATIONS}/{segment(client_id)}", _none, options=options)


def rotate_webhook_secret(client_id: str, options: Mapping[str, Any]) -> Call[ApplicationWithSecret]:
    return Call(
        "POST",
        f"{APPLICATIONS}/{segment(client_id)}/webhook-secret",
        ApplicationWithSecret.from_json,
        options=options,
    )


def create_client_token(client_id: str, params: Mapping[str, Any]) -> Call[NewClientToken]:
    body, options = split_options(params, fields(CreateClientToken))
    return Call(
        "POST",
        f"{APPLICATIONS}/{segment(client_id)}/tokens",
        NewClientToken.from_json,
        options=options,
        json=_camel_body(body),
    )


def list_client_tokens(client_id: str, options: Mapping[str, Any]) -> Call[list[ClientToken]]:
    return Call(
        "GET", f"{APPLICATIONS}/{segment(client_id)}/tokens", _list_of(ClientToken.from_json), options=options
    )


def revoke_client_token(client_id: str, token_id: str, options: Mapping[str, Any]) -> Call[None]:
    return Call(
        "DELETE", f"{APPLICATIONS}/{segment(client_id)}/tokens/{segment(token_id)}", _none, options=options
    )


# -- events ------------------------------------------------------------------------------


def list_events(params: Mapping[str, Any]) -> Listing[Event]:
    query, options = split_options(params, fields(ListEvents))
    first = query.pop("after", None)
    return Listing(
        "/api/events",
        _query(query, {"payment_id": "paymentId"}),
        "after",
        first,
        _page(Event.from_json, "nextCursor", "hasMore"),
        options,
    )


def get_event(id: str, options: Mapping[str, Any]) -> Call[EventDetail]:
    return Call("GET", f"/api/events/{segment(id)}", EventDetail.from_json, options=options)


def redeliver_event(id: str, options: Mapping[str, Any]) -> Call[EventDetail]:
    return Call("POST", f"/api/events/{segment(id)}/redeliver", EventDetail.from_json, options=options)


def replay_events(since: datetime, options: Mapping[str, Any]) -> Call[int]:
    return Call(
        "POST",
        "/api/events/replay",
        lambda body: int(body["replayed"]),
        options=options,
        json={"since": _instant(since)},
    )


# -- statements ------------------------------------------------------------------------


def import_statement(content: bytes | str, params: Mapping[str, Any]) -> Call[StatementImport]:
    query, options = split_options(params, fields(ImportStatement))
    content_type = query.pop("content_type", None) or "application/octet-stream"
    data = content.encode() if isinstance(content, str) else bytes(content)
    return Call(
        "POST",
        "/api/statements",
        StatementImport.from_json,
        options=options,
        params=_query(query, {}),
        content=data,
        content_type=content_type,
    )


def get_statement_import(id: str, options: Mapping[str, Any]) -> Call[StatementImport]:
    return Call("GET", f"/api/statements/{segment(id)}", StatementImport.from_json, options=options)
