"""The payment methods' services, built once per process (``payreq.services``)."""

from __future__ import annotations

from dataclasses import dataclass

from payreq.method.registry import MethodRegistry, default_registry
from payreq.method.statements.importer import StatementImporter
from payreq.payment.service import PaymentService


@dataclass(frozen=True)
class PaymentMethods:
    registry: MethodRegistry
    statements: StatementImporter

    @classmethod
    def build(cls, payments: PaymentService, *, registry: MethodRegistry | None = None) -> PaymentMethods:
        return cls(registry=registry or default_registry(), statements=StatementImporter(payments))
