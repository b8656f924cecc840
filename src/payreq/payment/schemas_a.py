"""Contract A's bodies (seeds/faq.md, SPEC §2): snake_case, amount as a string."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec
from msgspec import Meta

from payreq.kit.clock import rfc3339, rfc3339_of
from payreq.kit.jsonbody import Body
from payreq.payment.models import Page, Payment, PaymentDraft

if TYPE_CHECKING:
    from payreq.auth.subject import AuthSubject
    from payreq.db import Connection, Row
    from payreq.services import Services

ReferenceId = Annotated[str, Meta(max_length=255)]
MetadataKey = Annotated[str, Meta(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Meta(max_length=500)]


class PaymentRequestCreate(Body):
    """Body of ``POST /payment/request``."""

    amount: Annotated[
        str | int,
        Meta(description="Integer amount in the currency's minor unit, as a string of digits or a number."),
    ]
    currency: Annotated[str, Meta(max_length=8, description="Active ISO 4217 code; case-insensitive.")]
    redirect_url: Annotated[str, Meta(max_length=2048, description="https URL the payer returns to.")]
    reference_id: ReferenceId | None = None
    expires_in: Annotated[int, Meta(ge=60, le=2_592_000)] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Meta(max_length=20)] | None = None

    def draft(self) -> PaymentDraft:
        return PaymentDraft(
            amount=self.amount,
            currency=self.currency,
            redirect_url=self.redirect_url,
            reference_id=self.reference_id,
            expires_in=self.expires_in,
            metadata=self.metadata,
        )


class PaymentRequestView(msgspec.Struct):
    """A payment request as contract A shows it."""

    id: str
    status: str
    amount: str
    currency: str
    redirect_url: str
    reference_id: str | None
    checkout_url: str
    created_at: str
    expires_at: str
    paid_at: str | None
    cancelled_at: str | None
    expired_at: str | None
    environment: str
    metadata: dict[str, str] | None

    @classmethod
    def of(cls, payment: Payment, *, base_url: str) -> PaymentRequestView:
        payment_id = str(payment.id)
        return cls(
            id=payment_id,
            status=payment.status.value,
            amount=str(payment.amount),
            currency=payment.currency,
            redirect_url=payment.redirect_url,
            reference_id=payment.reference_id,
            checkout_url=f"{base_url}/checkout/{payment_id}",
            created_at=rfc3339(payment.created_at) or "",
            expires_at=rfc3339(payment.expires_at) or "",
            paid_at=rfc3339(payment.paid_at),
            cancelled_at=rfc3339(payment.cancelled_at),
            expired_at=rfc3339(payment.expired_at),
            environment=payment.environment,
            metadata=payment.metadata,
        )

    @classmethod
    def of_row(cls, row: Row, *, base_url: str) -> PaymentRequestView:
        """The same view from ``repository.get_shown``'s row, with no ``Payment`` between."""
        payment_id: str = row["id"]
        raw_metadata = row["metadata"]
        return cls(
            id=payment_id,
            status=row["status"],
            amount=str(row["amount"]),
            currency=row["currency"],
            redirect_url=row["redirect_url"],
            reference_id=row["reference_id"],
            checkout_url=f"{base_url}/checkout/{payment_id}",
            created_at=rfc3339_of(row["created_at"]) or "",
            expires_at=rfc3339_of(row["expires_at"]) or "",
            paid_at=rfc3339_of(row["paid_at"]),
            cancelled_at=rfc3339_of(row["cancelled_at"]),
            expired_at=rfc3339_of(row["expired_at"]),
            environment=row["environment"],
            metadata=msgspec.json.decode(raw_metadata) if raw_metadata else None,
        )

    @classmethod
    async def current(
        cls, services: Services, conn: Connection, subject: AuthSubject, payment_id: str
    ) -> PaymentRequestView:
        """The payment as it stands now (``PaymentService.get``), in this view: the
        narrow read, unless the payment is overdue and is now expired."""
        base_url = services.settings.base_url
        row = await services.payments.get_shown(conn, subject, payment_id)
        if row is not None:
            return cls.of_row(row, base_url=base_url)
        return cls.of(await services.payments.get(conn, subject, payment_id), base_url=base_url)


class PaymentRequestList(msgspec.Struct):
    """One page, newest first. Pass ``next_starting_after`` as ``starting_after``."""

    data: list[PaymentRequestView]
    has_more: bool
    next_starting_after: str | None

    @classmethod
    def of(cls, page: Page, *, base_url: str) -> PaymentRequestList:
        return cls(
            data=[PaymentRequestView.of(p, base_url=base_url) for p in page.items],
            has_more=page.has_more,
            next_starting_after=page.next_cursor,
        )
