"""Contract B's view of a payment (camelCase). The ``/api/payment`` routes come with
contract B; events already carry this shape (SPEC §6)."""

from __future__ import annotations

import msgspec

from payreq.kit.clock import rfc3339
from payreq.payment.models import Payment


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
