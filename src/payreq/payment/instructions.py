"""What the payer must do to pay with one method: ``GET /api/payment/{id}/instructions``.

One small place on purpose: payment-method plug-ins (``payreq/method/``) will answer
this for their own method. Until then only the sandbox method has instructions; any
other method is a 422 naming ``method``.
"""

from __future__ import annotations

import msgspec

from payreq.application import repository as applications
from payreq.application.models import Method
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.errors import Conflict, ValidationFailed
from payreq.kit.clock import rfc3339
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService

AVAILABLE = (Method.SANDBOX.value,)


class PaymentInstructions(msgspec.Struct, kw_only=True, rename="camel"):
    """What the payer must do, in order, to pay this payment with ``method``."""

    payment_id: str
    method: str
    status: str
    amount: int
    currency_code: str
    reference: str | None
    expires_at: str
    checkout_url: str
    title: str
    steps: list[str]


class InstructionsService:
    def __init__(self, payments: PaymentService, *, base_url: str) -> None:
        self.payments = payments
        self.base_url = base_url

    async def get(
        self, conn: Connection, subject: AuthSubject, payment_id: str, method: str
    ) -> PaymentInstructions:
        """404 as for reading the payment; 422 for a method it cannot be paid with; 409
        once it is paid, expired or cancelled (the payer has nothing left to do)."""
        payment = await self.payments.get(conn, subject, payment_id)
        application = await applications.application_by_id(conn, subject.tenant, payment.application_id)
        offered = msgspec.json.decode(application["methods"], type=list[str]) if application else []
        _check_method(method, offered, sandbox=subject.sandbox)
        if payment.status is not Status.PENDING:
            raise Conflict(
                f"The payment request is {payment.status.value}; the payer has nothing left to do."
            )
        return self._sandbox(payment)

    def _sandbox(self, payment: Payment) -> PaymentInstructions:
        checkout_url = f"{self.base_url}/checkout/{payment.id}"
        return PaymentInstructions(
            payment_id=str(payment.id),
            method=Method.SANDBOX.value,
            status=payment.status.value,
            amount=payment.amount,
            currency_code=payment.currency,
            reference=payment.reference_id,
            expires_at=rfc3339(payment.expires_at) or "",
            checkout_url=checkout_url,
            title="Sandbox payment: no money moves",
            steps=[
                f"Open the checkout page: {checkout_url}",
                'Choose "sandbox" and press the outcome to simulate: paid, cancelled or expired.',
                "The payment takes that status at once: read it with GET /api/payment/{id} or by webhook.",
            ],
        )


def _check_method(method: str, offered: list[str], *, sandbox: bool) -> None:
    if method not in AVAILABLE:
        known = [m.value for m in Method]
        reason = (
            f"Instructions for {method} are not available yet."
            if method in known
            else f"method must be one of {', '.join(known)}."
        )
        raise ValidationFailed(reason, code="unsupported_method", param="method")
    if method == Method.SANDBOX and not sandbox:
        raise ValidationFailed(
            "The sandbox method exists only in the sandbox environment.",
            code="unsupported_method",
            param="method",
        )
    if method not in offered:
        raise ValidationFailed(
            f"This payment's application does not offer {method}.", code="unsupported_method", param="method"
        )
