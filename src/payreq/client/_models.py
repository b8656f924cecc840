"""What calls return: frozen dataclasses with the API's fields, ``datetime`` (UTC) for
times and ``int`` minor units for amounts (contract A's ``"10000"`` is ``10000`` here).

Contract A's payment request keeps contract A's names (``currency``, ``reference_id``);
contract B's payment keeps contract B's, in snake_case (``currency_code``, ``reference``).
Each model reads itself from the JSON object with ``from_json``; fields the SDK does not
know are ignored, so a newer server never breaks an older SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Json = Mapping[str, Any]


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """paid, expired and cancelled are final."""
        return self is not PaymentStatus.PENDING


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _metadata(value: Any) -> dict[str, str] | None:
    return None if value is None else {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRequest:
    """A payment request as contract A (``/payment/request``) shows it."""

    id: str
    status: PaymentStatus
    amount: int
    """Minor units: 10000 USD is $100.00."""
    currency: str
    redirect_url: str
    reference_id: str | None
    checkout_url: str
    """Send the payer here."""
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    expired_at: datetime | None
    environment: str
    metadata: dict[str, str] | None

    @classmethod
    def from_json(cls, d: Json) -> PaymentRequest:
        return cls(
            id=d["id"],
            status=PaymentStatus(d["status"]),
            amount=int(d["amount"]),
            currency=d["currency"],
            redirect_url=d["redirect_url"],
            reference_id=d.get("reference_id"),
            checkout_url=d["checkout_url"],
            created_at=_time(d["created_at"]),
            expires_at=_time(d["expires_at"]),
            paid_at=_maybe_time(d.get("paid_at")),
            cancelled_at=_maybe_time(d.get("cancelled_at")),
            expired_at=_maybe_time(d.get("expired_at")),
            environment=d["environment"],
            metadata=_metadata(d.get("metadata")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """A payment as contract B (``/api/payment``) shows it; webhooks carry this too."""

    id: str
    status: PaymentStatus
    amount: int
    """Minor units: 10000 USD is $100.00."""
    currency_code: str
    reference: str | None
    reference_label: str | None
    client_id: str
    """The payment application's Client ID."""
    checkout_url: str
    redirect_url: str
    environment: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    expired_at: datetime | None
    metadata: dict[str, str] | None

    @classmethod
    def from_json(cls, d: Json) -> Payment:
        return cls(
            id=d["id"],
            status=PaymentStatus(d["status"]),
            amount=int(d["amount"]),
            currency_code=d["currencyCode"],
            reference=d.get("reference"),
            reference_label=d.get("referenceLabel"),
            client_id=d["clientId"],
            checkout_url=d["checkoutUrl"],
            redirect_url=d["redirectUrl"],
            environment=d["environment"],
            created_at=_time(d["createdAt"]),
            expires_at=_time(d["expiresAt"]),
            paid_at=_maybe_time(d.get("paidAt")),
            cancelled_at=_maybe_time(d.get("cancelledAt")),
            expired_at=_maybe_time(d.get("expiredAt")),
            metadata=_metadata(d.get("metadata")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BankDetails:
    """Where payers send a bank transfer (an IBAN or a domestic account number)."""

    account_holder: str
    bank_name: str
    iban: str | None = None
    account_number: str | None = None
    bic: str | None = None
    routing_number: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> BankDetails:
        return cls(
            account_holder=d["accountHolder"],
            bank_name=d["bankName"],
            iban=d.get("iban"),
            account_number=d.get("accountNumber"),
            bic=d.get("bic"),
            routing_number=d.get("routingNumber"),
        )

    def to_json(self) -> dict[str, str]:
        body = {"accountHolder": self.account_holder, "bankName": self.bank_name}
        optional = {
            "iban": self.iban,
            "accountNumber": self.account_number,
            "bic": self.bic,
            "routingNumber": self.routing_number,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


def _maybe_bank(value: Any) -> BankDetails | None:
    return None if value is None else BankDetails.from_json(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionDetail:
    label: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Instructions:
    """What the payer must do, in order, to pay with ``method``."""

    payment_id: str
    method: str
    status: PaymentStatus
    amount: int
    currency_code: str
    reference: str | None
    expires_at: datetime
    checkout_url: str
    title: str
    steps: tuple[str, ...]
    details: tuple[InstructionDetail, ...]
    transfer_reference: str | None
    """bank_transfer: the ISO 11649 creditor reference the payer must quote."""
    bank_details: BankDetails | None

    @classmethod
    def from_json(cls, d: Json) -> Instructions:
        return cls(
            payment_id=d["paymentId"],
            method=d["method"],
            status=PaymentStatus(d["status"]),
            amount=int(d["amount"]),
            currency_code=d["currencyCode"],
            reference=d.get("reference"),
            expires_at=_time(d["expiresAt"]),
            checkout_url=d["checkoutUrl"],
            title=d["title"],
            steps=_strings(d.get("steps", ())),
            details=tuple(
                InstructionDetail(label=x["label"], value=x["value"]) for x in d.get("details", ())
            ),
            transfer_reference=d.get("transferReference"),
            bank_details=_maybe_bank(d.get("bankDetails")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    """A payment application. Its webhook secret is shown only at creation and rotation."""

    client_id: str
    name: str
    environment: str
    is_default: bool
    webhook_url: str | None
    default_redirect_url: str | None
    default_expires_in: int | None
    currencies: tuple[str, ...] | None
    """None accepts every active currency."""
    methods: tuple[str, ...]
    bank_details: BankDetails | None
    created_at: datetime
    webhook_disabled_at: datetime | None

    @classmethod
    def _fields(cls, d: Json) -> dict[str, Any]:
        currencies = d.get("currencies")
        return {
            "client_id": d["clientId"],
            "name": d["name"],
            "environment": d["environment"],
            "is_default": bool(d.get("isDefault", False)),
            "webhook_url": d.get("webhookUrl"),
            "default_redirect_url": d.get("defaultRedirectUrl"),
            "default_expires_in": d.get("defaultExpiresIn"),
            "currencies": None if currencies is None else _strings(currencies),
            "methods": _strings(d.get("methods", ())),
            "bank_details": _maybe_bank(d.get("bankDetails")),
            "created_at": _time(d["createdAt"]),
            "webhook_disabled_at": _maybe_time(d.get("webhookDisabledAt")),
        }

    @classmethod
    def from_json(cls, d: Json) -> Application:
        return cls(**cls._fields(d))


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationWithSecret(Application):
    """An application as created or rotated: the only answers that show ``webhook_secret``.
    After a rotation the previous secret also signs until ``previous_secret_expires_at``."""

    webhook_secret: str
    previous_secret_expires_at: datetime | None

    @classmethod
    def from_json(cls, d: Json) -> ApplicationWithSecret:
        return cls(
            **cls._fields(d),
            webhook_secret=d["webhookSecret"],
            previous_secret_expires_at=_maybe_time(d.get("previousSecretExpiresAt")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _TokenFields:
    id: str
    label: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime

    @staticmethod
    def _fields(d: Json) -> dict[str, Any]:
        return {
            "id": d["id"],
            "label": d["label"],
            "scopes": _strings(d["scopes"]),
            "expires_at": _maybe_time(d.get("expiresAt")),
            "created_at": _time(d["createdAt"]),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientToken(_TokenFields):
    """A client token, without its secret."""

    last_used_at: datetime | None

    @classmethod
    def from_json(cls, d: Json) -> ClientToken:
        return cls(**cls._fields(d), last_used_at=_maybe_time(d.get("lastUsedAt")))


@dataclass(frozen=True, slots=True, kw_only=True)
class NewClientToken(_TokenFields):
    """A client token just created. ``token`` is its secret, in this answer only."""

    token: str

    @classmethod
    def from_json(cls, d: Json) -> NewClientToken:
        return cls(**cls._fields(d), token=d["token"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """Where an event's delivery to the webhook URL stands."""

    status: str
    """pending, delivered or failed."""
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def from_json(cls, d: Json) -> Delivery:
        return cls(
            status=d["status"],
            attempts=int(d["attempts"]),
            next_attempt_at=_maybe_time(d.get("nextAttemptAt")),
            last_attempt_at=_maybe_time(d.get("lastAttemptAt")),
            last_status_code=d.get("lastStatusCode"),
            last_error=d.get("lastError"),
            delivered_at=_maybe_time(d.get("deliveredAt")),
            failed_at=_maybe_time(d.get("failedAt")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One attempt to deliver an event."""

    id: str
    attempted_at: datetime
    url: str
    status_code: int | None
    latency_ms: int | None
    response_body: str | None
    error: str | None
    succeeded: bool

    @classmethod
    def from_json(cls, d: Json) -> DeliveryAttempt:
        return cls(
            id=d["id"],
            attempted_at=_time(d["attemptedAt"]),
            url=d["url"],
            status_code=d.get("statusCode"),
            latency_ms=d.get("latencyMs"),
            response_body=d.get("responseBody"),
            error=d.get("error"),
            succeeded=bool(d["succeeded"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """An event from the log (``GET /api/events``). ``id`` is its deliveries' ``webhook-id``."""

    id: str
    type: str
    created_at: datetime
    client_id: str
    payment_id: str
    data: Payment
    """The payment as it was at the event."""
    delivery: Delivery | None
    """None when the application had no webhook URL."""

    @classmethod
    def _fields(cls, d: Json) -> dict[str, Any]:
        delivery = d.get("delivery")
        return {
            "id": d["id"],
            "type": d["type"],
            "created_at": _time(d["createdAt"]),
            "client_id": d["clientId"],
            "payment_id": d["paymentId"],
            "data": Payment.from_json(d["data"]),
            "delivery": None if delivery is None else Delivery.from_json(delivery),
        }

    @classmethod
    def from_json(cls, d: Json) -> Event:
        return cls(**cls._fields(d))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDetail(Event):
    """An event with every attempt to deliver it, oldest first."""

    attempts: tuple[DeliveryAttempt, ...]

    @classmethod
    def from_json(cls, d: Json) -> EventDetail:
        return cls(
            **cls._fields(d), attempts=tuple(DeliveryAttempt.from_json(a) for a in d.get("attempts", ()))
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementLine:
    """One statement line and what the import did with it."""

    line: int
    outcome: str
    """matched (now paid), late, partial, overpaid, wrong_currency, unmatched, debit,
    reversal, pending, duplicate or invalid. Only matched changes a payment."""
    message: str
    amount: int | None = None
    """Minor units, always positive; ``direction`` says which way."""
    currency_code: str | None = None
    direction: str | None = None
    booking_date: date | None = None
    bank_reference: str | None = None
    payer: str | None = None
    transfer_reference: str | None = None
    payment_id: str | None = None
    payment_status: str | None = None
    resolution: str | None = None
    """A late, partial or overpaid line once resolved: accepted or refund_due (servers
    that resolve lines send it)."""

    @classmethod
    def from_json(cls, d: Json) -> StatementLine:
        booked = d.get("bookingDate")
        amount = d.get("amount")
        return cls(
            line=int(d["line"]),
            outcome=d["outcome"],
            message=d.get("message", ""),
            amount=None if amount is None else int(amount),
            currency_code=d.get("currencyCode"),
            direction=d.get("direction"),
            booking_date=None if booked is None else date.fromisoformat(booked),
            bank_reference=d.get("bankReference"),
            payer=d.get("payer"),
            transfer_reference=d.get("transferReference"),
            payment_id=d.get("paymentId"),
            payment_status=d.get("paymentStatus"),
            resolution=d.get("resolution"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementImport:
    """A bank statement import and what each of its lines did."""

    id: str
    format: str
    source: str
    filename: str | None
    created_at: datetime
    summary: dict[str, int]
    """How many lines had each outcome."""
    lines: tuple[StatementLine, ...]
    status: str | None = None
    """running, finished or failed, where the server imports in batches (else None)."""
    next_cursor: str | None = None
    """Where the server pages a report's lines: the cursor of the next page (else None)."""

    @classmethod
    def from_json(cls, d: Json) -> StatementImport:
        return cls(
            id=d["id"],
            format=d["format"],
            source=d["source"],
            filename=d.get("filename"),
            created_at=_time(d["createdAt"]),
            summary={str(k): int(v) for k, v in d.get("summary", {}).items()},
            lines=tuple(StatementLine.from_json(x) for x in d.get("lines", ())),
            status=d.get("status"),
            next_cursor=d.get("nextCursor"),
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, whether more follow, and the cursor for the next."""

    data: Sequence[T]
    has_more: bool
    next_cursor: str | None
