"""The payment as the domain sees it, whichever contract asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from payreq.payment.lifecycle import Status


@dataclass(frozen=True, slots=True)
class Payment:
    id: UUID
    account_id: UUID
    environment: str
    application_id: UUID
    application_client_id: str
    status: Status
    amount: int
    currency: str
    redirect_url: str
    reference_id: str | None
    reference_label: str | None
    metadata: dict[str, str] | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    cancelled_at: datetime | None = None
    expired_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        """Pending past its deadline: it reads as expired even before the sweep runs."""
        return self.status is Status.PENDING and self.expires_at <= now

    def as_seen(self, now: datetime) -> Payment:
        if self.overdue(now):
            return replace(self, status=Status.EXPIRED, expired_at=self.expires_at)
        return self


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """A create request from either contract, before the rules are applied.

    ``names`` maps domain field names to the contract's own (``currency`` ->
    ``currencyCode``) so that errors name the field the client sent.
    """

    amount: object
    currency: str
    redirect_url: str | None
    reference_id: str | None = None
    reference_label: str | None = None
    expires_in: int | None = None
    metadata: dict[str, str] | None = None
    application_client_id: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str:
        return self.names.get(name, name)


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    status: Status | None = None
    reference_id: str | None = None
    application_client_id: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    amount_gte: Decimal | None = None
    """In major units (``10.50``), applied in each payment's own currency."""
    amount_lte: Decimal | None = None
    currency: str | None = None
    search: str | None = None
    """A payment id, a reference, part of a reference label, or a transfer reference."""
    limit: int = 10
    starting_after: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    """Domain field -> the contract's own (``starting_after`` -> ``cursor``) for errors."""

    def param(self, name: str) -> str:
        return self.names.get(name, name)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Payment]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return str(self.items[-1].id) if self.has_more and self.items else None
