"""What the payer must do to pay with one method: ``GET /api/payment/{id}/instructions``.

The payment-method plug-ins (``payreq.method``) answer for themselves; this module
finds the payment, checks that its application offers the method there, and presents
the method's instructions in contract B's shape.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from payreq.application import repository as applications
from payreq.application.models import Application, BankDetails
from payreq.audit.models import Actor
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.errors import Conflict, ValidationFailed
from payreq.kit.clock import rfc3339
from payreq.method.base import ApplicationArchived, MethodContext, PaymentMethod
from payreq.method.registry import MethodRegistry, default_registry
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService


class InstructionDetail(msgspec.Struct, kw_only=True):
    label: str
    value: Annotated[
        str,
        Meta(
            description="The value in the form a program takes: an IBAN or a transfer reference "
            "compact, without spaces, as bankDetails.iban and transferReference (the checkout "
            "page prints them in groups of four)."
        ),
    ]


class PaymentInstructions(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
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
    details: list[InstructionDetail] = []
    transfer_reference: (
        Annotated[
            str,
            Meta(
                description="bank_transfer: the ISO 11649 creditor reference the payer must quote "
                "(compact form; shown in groups of four on the checkout page)."
            ),
        ]
        | None
    ) = None
    bank_details: BankDetails | None = None


class InstructionsService:
    def __init__(
        self, payments: PaymentService, *, base_url: str, methods: MethodRegistry | None = None
    ) -> None:
        self.payments = payments
        self.base_url = base_url
        self.methods = methods or default_registry()

    async def get(
        self, conn: Connection, subject: AuthSubject, payment_id: str, method: str, *, printed: bool = False
    ) -> PaymentInstructions:
        """404 as for reading the payment; 409 ``application_archived`` once its
        application is archived (its checkout is shut); 422 for a method it cannot be
        paid with; 409 once it is paid, expired or cancelled (the payer has nothing left
        to do). Each detail's value is the electronic form a program takes (an IBAN
        without spaces, what the page's copy button copies); ``printed``: the form people
        read instead (in groups of four), for a page that shows them."""
        payment = await self.payments.get(conn, subject, payment_id)
        row = await applications.application_by_id(conn, subject.tenant, payment.application_id)
        assert row is not None, "a payment's application is never deleted"
        if row["archived_at"] is not None:
            raise ApplicationArchived()
        application = Application.of(row)
        chosen = self._method(method, application, payment)
        if payment.status is not Status.PENDING:
            raise Conflict(
                f"The payment request is {payment.status.value}; the payer has nothing left to do."
            )
        checkout_url = f"{self.base_url}/checkout/{payment.id}"

        async def settle(target: Status) -> Payment:
            return await self.payments.settle(
                conn, subject.tenant, payment.id, target, actor=Actor.of(subject)
            )

        ctx = MethodContext(
            payment=payment,
            application=application,
            checkout_url=checkout_url,
            now=self.payments.clock(),
            settle=settle,
        )
        found = await chosen.instructions(conn, ctx)
        return PaymentInstructions(
            payment_id=str(payment.id),
            method=chosen.name,
            status=payment.status.value,
            amount=payment.amount,
            currency_code=payment.currency,
            reference=payment.reference_id,
            expires_at=rfc3339(payment.expires_at) or "",
            checkout_url=checkout_url,
            title=found.title,
            steps=list(found.steps),
            details=[
                InstructionDetail(label=d.label, value=d.value if printed else d.copy_value or d.value)
                for d in found.details
            ],
            transfer_reference=found.transfer_reference,
            bank_details=found.bank_details,
        )

    def _method(self, name: str, application: Application, payment: Payment) -> PaymentMethod:
        method = self.methods.get(name)
        if method is None:
            raise _unsupported(f"method must be one of {', '.join(self.methods.names())}.")
        if payment.environment not in method.environments:
            where = " and ".join(sorted(method.environments))
            raise _unsupported(f"The {name} method exists only in the {where} environment.")
        if name not in application.methods:
            raise _unsupported(f"This payment's application does not offer {name}.")
        if not method.supports(environment=payment.environment, currency=payment.currency):
            raise _unsupported(f"The {name} method does not take {payment.currency}.")
        reason = method.unavailable(application)
        if reason is not None:
            raise _unsupported(f"The {name} method is not set up for this application: {reason}")
        return method


def _unsupported(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="unsupported_method", param="method")
