"""Contract B's view of a payment (camelCase), its checkout body and its list page.
Events carry ``PaymentB`` too (SPEC §6)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from payreq.errors import ValidationFailed
from payreq.kit.clock import bounded_instant, rfc3339
from payreq.kit.jsonbody import Body
from payreq.payment.lifecycle import Status
from payreq.payment.models import Page, Payment, PaymentDraft

CLIENT_ID_PATTERN = "^[a-z0-9]{32}$"
MetadataKey = Annotated[str, Meta(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Meta(max_length=500)]

DRAFT_NAMES = {
    "amount": "amount",
    "currency": "currencyCode",
    "reference_id": "reference",
    "reference_label": "referenceLabel",
    "redirect_url": "redirectUrl",
    "expires_in": "expiresIn",
}
"""Domain field -> contract-B field, so that errors name what the client sent."""


class PaymentCheckout(Body, rename="camel"):
    """Body of ``POST /api/payment/checkout``."""

    amount: Annotated[
        int | str,
        Meta(description="Integer in minor units (10000 USD is $100.00), or a digit string."),
    ]
    currency_code: Annotated[str, Meta(max_length=8, description="Active ISO 4217 code; case-insensitive.")]
    reference: Annotated[
        str, Meta(min_length=1, max_length=255, description="Your order reference, returned unchanged.")
    ]
    reference_label: Annotated[
        str, Meta(min_length=1, max_length=255, description="What the payer sees, such as 'Order #123'.")
    ]
    client_id: Annotated[
        str,
        Meta(pattern=CLIENT_ID_PATTERN, description="The payment application's 32-character Client ID."),
    ]
    redirect_url: (
        Annotated[
            str,
            Meta(max_length=2048, description="https URL the payer returns to; default: the application's."),
        ]
        | None
    ) = None
    expires_in: (
        Annotated[
            int,
            Meta(
                ge=60,
                le=2_592_000,
                description="Seconds until it expires; default: the application's, else 24 h.",
            ),
        ]
        | None
    ) = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Meta(max_length=20)] | None = None

    def draft(self) -> PaymentDraft:
        return PaymentDraft(
            amount=self.amount,
            currency=self.currency_code,
            redirect_url=self.redirect_url,
            reference_id=self.reference,
            reference_label=self.reference_label,
            expires_in=self.expires_in,
            metadata=self.metadata,
            application_client_id=self.client_id,
            names=DRAFT_NAMES,
        )


class PaymentB(msgspec.Struct, rename="camel"):
    id: str
    status: str
    amount: int
    currency_code: str
    reference: str | None
    reference_label: str | None
    client_id: str
    checkout_url: str
    redirect_url: str
    environment: str
    created_at: str
    expires_at: str
    paid_at: str | None
    cancelled_at: str | None
    expired_at: str | None
    metadata: dict[str, str] | None

    @classmethod
    def of(cls, payment: Payment, *, base_url: str) -> PaymentB:
        return cls(
            id=str(payment.id),
            status=payment.status.value,
            amount=payment.amount,
            currency_code=payment.currency,
            reference=payment.reference_id,
            reference_label=payment.reference_label,
            client_id=payment.application_client_id,
            checkout_url=f"{base_url}/checkout/{payment.id}",
            redirect_url=payment.redirect_url,
            environment=payment.environment,
            created_at=rfc3339(payment.created_at) or "",
            expires_at=rfc3339(payment.expires_at) or "",
            paid_at=rfc3339(payment.paid_at),
            cancelled_at=rfc3339(payment.cancelled_at),
            expired_at=rfc3339(payment.expired_at),
            metadata=payment.metadata,
        )


def change_data(payment: Payment, *, base_url: str, previous: Status | None) -> str:
    """An event's ``data``: the payment as contract B shows it, plus the status the
    change took it from (``previousStatus``: ``pending`` for an ordinary change,
    ``expired`` for a bank transfer booked in time, null for ``payment.created``).
    Spliced into the encoded object rather than built as a second struct: this runs
    on every payment create."""
    encoded = msgspec.json.encode(PaymentB.of(payment, base_url=base_url))
    status = b"null" if previous is None else b'"' + previous.value.encode() + b'"'
    return (encoded[:-1] + b',"previousStatus":' + status + b"}").decode()


def _instant_sql(column: str) -> str:
    """``rfc3339`` in PostgreSQL: UTC, ``Z``, microseconds only when there are any."""
    return (
        f"""replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')"""
    )


def _json_sql(value: str, *, instant: bool = False, nullable: bool = False) -> str:
    """A value as msgspec writes it: ``to_json`` escapes a string exactly as msgspec
    does (tests/payment/test_expiry.py pins it), an instant is ``rfc3339``'s text."""
    encoded = f"""'"' || {_instant_sql(value)} || '"'""" if instant else f"to_json({value})::text"
    return f"COALESCE({encoded}, 'null')" if nullable else encoded


def change_data_sql(payment: str, client_id: str, base_url: str, *, status: Status, previous: Status) -> str:
    """``change_data`` of a payment row in PostgreSQL, byte for byte (the sweep builds
    its events in the database, so that Python never touches each payment):
    ``payment`` is the row's alias after the change, ``client_id`` the application's
    client id column, ``base_url`` a text parameter. Fields in ``PaymentB``'s order;
    ``metadata`` is the stored text, which msgspec wrote (repository.creation), so it is
    already what re-encoding it would give."""
    p = payment
    fields = [
        ("id", f"""'"' || {p}.id::text || '"'"""),
        ("status", f"""'"{status.value}"'"""),
        ("amount", f"{p}.amount::text"),
        ("currencyCode", _json_sql(f"{p}.currency")),
        ("reference", _json_sql(f"{p}.reference_id", nullable=True)),
        ("referenceLabel", _json_sql(f"{p}.reference_label", nullable=True)),
        ("clientId", _json_sql(client_id)),
        ("checkoutUrl", _json_sql(f"{base_url} || '/checkout/' || {p}.id::text")),
        ("redirectUrl", _json_sql(f"{p}.redirect_url")),
        ("environment", _json_sql(f"{p}.environment")),
        ("createdAt", _json_sql(f"{p}.created_at", instant=True)),
        ("expiresAt", _json_sql(f"{p}.expires_at", instant=True)),
        ("paidAt", _json_sql(f"{p}.paid_at", instant=True, nullable=True)),
        ("cancelledAt", _json_sql(f"{p}.cancelled_at", instant=True, nullable=True)),
        ("expiredAt", _json_sql(f"{p}.expired_at", instant=True, nullable=True)),
        ("metadata", f"COALESCE(NULLIF({p}.metadata, ''), 'null')"),
        ("previousStatus", f"""'"{previous.value}"'"""),
    ]
    assert [name for name, _ in fields[:-1]] == [f.encode_name for f in msgspec.structs.fields(PaymentB)]
    parts = " || ',' || ".join(f"""'"{name}":' || {value}""" for name, value in fields)
    return f"('{{' || {parts} || '}}')"


class PaymentListB(msgspec.Struct, rename="camel"):
    """One page, newest first. Pass ``nextCursor`` as ``cursor`` for the next one."""

    data: list[PaymentB]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page, *, base_url: str) -> PaymentListB:
        return cls(
            data=[PaymentB.of(p, base_url=base_url) for p in page.items],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )


def parse_status(value: str | None) -> Status | None:
    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationFailed(f"status must be one of {allowed}.", param="status") from None


_MAJOR_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_major_amount(value: str | None, param: str) -> Decimal | None:
    """An amount in major units (``10``, ``10.5``, ``0.001``) from a query parameter or form."""
    if value is None or not value.strip():
        return None
    # plain ASCII decimal notation only: Decimal itself also reads 1e5, 1_000, +5 and
    # other scripts' digits, which no amount field of payreq's writes
    plain = _MAJOR_AMOUNT.fullmatch(value.strip()) if len(value) <= 32 else None
    amount = Decimal(plain.group()) if plain else None
    if amount is None or amount > 10**12:
        raise ValidationFailed(f"{param} must be an amount in major units, such as 10 or 10.50.", param=param)
    return amount


def parse_instant(value: str | None, param: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset (``2026-01-31T00:00:00Z``) from a query parameter."""
    if value is None:
        return None
    try:
        instant = bounded_instant(msgspec.convert(value, datetime))
    except msgspec.ValidationError:
        instant = None
    if instant is None:
        raise ValidationFailed(
            f"{param} must be an RFC 3339 timestamp with an offset, such as 2026-01-31T00:00:00Z, "
            "from 1970 to 9998.",
            param=param,
        )
    return instant
