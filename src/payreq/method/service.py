"""The payment methods' services, built once per process (``payreq.services``)."""

from __future__ import annotations

from dataclasses import dataclass

from payreq.account.service import AccountService
from payreq.method.registry import MethodRegistry, default_registry
from payreq.method.statements.service import StatementService
from payreq.payment.service import PaymentService


@dataclass(frozen=True)
class PaymentMethods:
    registry: MethodRegistry
    statements: StatementService

    @classmethod
    def build(
        cls, payments: PaymentService, accounts: AccountService, *, registry: MethodRegistry | None = None
    ) -> PaymentMethods:
        return cls(registry=registry or default_registry(), statements=StatementService(payments, accounts))
