"""The ``sandbox`` method: no money moves; the payer (or a test) picks the outcome.

Three outcomes, each through the payment lifecycle's own rules:

- ``paid`` and ``cancelled``: the race-safe ``settle``;
- ``expired``: the sandbox brings the payment's deadline forward to now and lets the
  lifecycle expire it (the same conditional update and event as the worker's sweep),
  so that merchants can test their expiry handling without waiting.

A settled payment answers 409 ``invalid_state`` as everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from uuid import UUID

from payreq.application import repository as applications
from payreq.audit.models import Actor
from payreq.auth.subject import Tenant
from payreq.db import Connection
from payreq.errors import NotFound
from payreq.method import repository
from payreq.method.base import (
    Action,
    ApplicationArchived,
    Instructions,
    MethodContext,
    PaymentMethod,
    Settlement,
    UnknownAction,
)
from payreq.payment import repository as payment_repository
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService


class Outcome(StrEnum):
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_TARGET = {Outcome.PAID: Status.PAID, Outcome.CANCELLED: Status.CANCELLED, Outcome.EXPIRED: Status.EXPIRED}


async def simulate(
    conn: Connection,
    payments: PaymentService,
    tenant: Tenant,
    payment_id: UUID,
    outcome: Outcome,
    *,
    actor: Actor,
) -> Payment:
    """Settle a sandbox payment as ``outcome``. 404 outside the sandbox; 409
    ``application_archived`` once its application is archived (nothing changes)."""
    if tenant.environment != "sandbox":
        raise NotFound("Simulation exists only in the sandbox.")
    found = await payment_repository.get(conn, tenant, payment_id)
    if found is not None:
        row = await applications.application_by_id(conn, tenant, found.application_id)
        if row is not None and row["archived_at"] is not None:
            raise ApplicationArchived()
    if outcome is Outcome.EXPIRED:
        await repository.bring_deadline_forward(conn, tenant, payment_id, now=payments.clock())
    return await payments.settle(
        conn, tenant, payment_id, _TARGET[outcome], actor=actor, changes={"simulated": True}
    )


class SandboxMethod(PaymentMethod):
    name = "sandbox"
    label = "Sandbox test payment"
    settlement = Settlement.PAYER_ACTION
    environments = frozenset({"sandbox"})

    async def instructions(self, conn: Connection, ctx: MethodContext) -> Instructions:
        return Instructions(
            title="Sandbox payment: no money moves",
            steps=[
                f"Open the checkout page: {ctx.checkout_url}",
                'Choose "sandbox" and press the outcome to simulate: paid, cancelled or expired.',
                "The payment takes that status at once: read it with "
                f"GET /api/payment/{ctx.payment.id} (or GET /payment/request/{ctx.payment.id}) "
                "or from the webhook.",
            ],
            page_steps=[
                "Press the outcome to simulate. The payment takes it at once and you return to the shop.",
            ],
        )

    def actions(self, ctx: MethodContext) -> Sequence[Action]:
        return (
            Action(Outcome.PAID.value, "Simulate a successful payment", primary=True),
            Action(Outcome.CANCELLED.value, "Simulate a cancelled payment"),
            Action(Outcome.EXPIRED.value, "Simulate an expired payment"),
        )

    async def act(self, conn: Connection, ctx: MethodContext, action: str) -> Payment:
        try:
            outcome = Outcome(action)
        except ValueError:
            raise UnknownAction() from None
        if outcome is Outcome.EXPIRED:
            tenant = Tenant(ctx.payment.account_id, ctx.payment.environment)
            await repository.bring_deadline_forward(conn, tenant, ctx.payment.id, now=ctx.now)
        return await ctx.settle(_TARGET[outcome])
