"""The checkout's rules: load a payment by its public id, present it with the methods
its application offers, and carry out the payer's choices through the payment core.

The checkout URL is public: whoever holds it may see, pay or cancel that one payment,
and nothing else. The page shows the merchant's and application's names, never their
settings, metadata or secrets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from payreq.application import repository as applications
from payreq.application.models import Application
from payreq.audit.models import Actor
from payreq.auth.subject import Tenant
from payreq.checkout import repository
from payreq.checkout.csrf import FormTokens
from payreq.db import Connection
from payreq.errors import NotFound
from payreq.method.base import Action, Instructions, MethodContext, PaymentMethod
from payreq.method.registry import MethodRegistry
from payreq.payment import repository as payments
from payreq.payment.lifecycle import TERMINAL, InvalidTransition, Status
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService

CANCEL_FORM = "cancel"


class CheckoutNotFound(NotFound):
    default_message = "No such payment request."


def method_form(name: str) -> str:
    return f"method:{name}"


@dataclass(frozen=True, slots=True)
class MethodPanel:
    method: PaymentMethod
    instructions: Instructions
    actions: Sequence[Action]
    csrf: str


@dataclass(frozen=True, slots=True)
class CheckoutView:
    payment: Payment
    merchant: str
    application: str
    panels: Sequence[MethodPanel]
    cancel_csrf: str

    @property
    def terminal(self) -> bool:
        return self.payment.status in TERMINAL


@dataclass(frozen=True, slots=True)
class _Loaded:
    payment: Payment
    application: Application
    tenant: Tenant


class CheckoutService:
    def __init__(
        self, payments: PaymentService, methods: MethodRegistry, *, base_url: str, tokens: FormTokens
    ) -> None:
        self.payments = payments
        self.methods = methods
        self.base_url = base_url
        self.tokens = tokens

    async def status(self, conn: Connection, payment_id: str) -> Payment:
        return (await self._load(conn, payment_id)).payment

    async def view(self, conn: Connection, payment_id: str) -> CheckoutView:
        loaded = await self._load(conn, payment_id)
        payment = loaded.payment
        panels: list[MethodPanel] = []
        if payment.status is Status.PENDING:
            ctx = self._context(conn, loaded, Actor.payer())
            for method in self.offered(loaded):
                panels.append(
                    MethodPanel(
                        method=method,
                        instructions=await method.instructions(conn, ctx),
                        actions=method.actions(ctx),
                        csrf=self.tokens.issue(payment.id, method_form(method.name)),
                    )
                )
        return CheckoutView(
            payment=payment,
            merchant=await repository.account_name(conn, payment.account_id),
            application=loaded.application.name,
            panels=panels,
            cancel_csrf=self.tokens.issue(payment.id, CANCEL_FORM),
        )

    def offered(self, loaded: _Loaded) -> list[PaymentMethod]:
        return self.methods.offered(
            loaded.application, environment=loaded.payment.environment, currency=loaded.payment.currency
        )

    async def cancel(self, conn: Connection, payment_id: str, *, address: str | None = None) -> Payment:
        """The payer cancels; a payment that is already terminal is left as it is."""
        loaded = await self._load(conn, payment_id)
        if loaded.payment.status is not Status.PENDING:
            return loaded.payment
        return await self._settle(conn, loaded, Status.CANCELLED, Actor.payer(address))

    async def act(
        self, conn: Connection, payment_id: str, method_name: str, action: str, *, address: str | None = None
    ) -> Payment:
        """Press a method's button; a terminal payment is left as it is (a second
        submission of the same form lands where the first did)."""
        loaded = await self._load(conn, payment_id)
        if loaded.payment.status is not Status.PENDING:
            return loaded.payment
        method = next((m for m in self.offered(loaded) if m.name == method_name), None)
        if method is None:
            raise CheckoutNotFound("This payment method is not offered for this payment.")
        try:
            return await method.act(conn, self._context(conn, loaded, Actor.payer(address)), action)
        except InvalidTransition:
            return await self._reload(conn, loaded)

    def check_form(self, payment_id: str, form: str, token: str | None) -> bool:
        try:
            key = uuid.UUID(payment_id)
        except ValueError:
            return False
        return self.tokens.check(token, key, form)

    async def _settle(self, conn: Connection, loaded: _Loaded, target: Status, actor: Actor) -> Payment:
        try:
            return await self.payments.settle(conn, loaded.tenant, loaded.payment.id, target, actor=actor)
        except InvalidTransition:
            return await self._reload(conn, loaded)

    async def _reload(self, conn: Connection, loaded: _Loaded) -> Payment:
        payment = await payments.get(conn, loaded.tenant, loaded.payment.id)
        assert payment is not None
        return payment.as_seen(self.payments.clock())

    def _context(self, conn: Connection, loaded: _Loaded, actor: Actor) -> MethodContext:
        async def settle(target: Status) -> Payment:
            return await self.payments.settle(conn, loaded.tenant, loaded.payment.id, target, actor=actor)

        return MethodContext(
            payment=loaded.payment,
            application=loaded.application,
            checkout_url=f"{self.base_url}/checkout/{loaded.payment.id}",
            now=self.payments.clock(),
            settle=settle,
        )

    async def _load(self, conn: Connection, payment_id: str) -> _Loaded:
        """The payment by its public id alone (the URL is the capability), spelled as
        payreq gave it (lower case, with hyphens: another spelling of the UUID would be
        another page, with its own form budget); one found past its deadline is
        persisted as expired, as every other read does."""
        try:
            key = uuid.UUID(payment_id)
        except ValueError:
            raise CheckoutNotFound() from None
        if str(key) != payment_id:
            raise CheckoutNotFound()
        found = await payments.get_by_ids(conn, [key])
        if not found:
            raise CheckoutNotFound()
        payment = found[0]
        if await repository.account_disabled(conn, payment.account_id):  # by the operator
            raise CheckoutNotFound()
        tenant = Tenant(payment.account_id, payment.environment)
        if payment.overdue(self.payments.clock()):
            await conn.begin()
            try:
                payment = await self.payments.settle(
                    conn, tenant, payment.id, Status.EXPIRED, actor=Actor.worker()
                )
            except InvalidTransition:
                reloaded = await payments.get(conn, tenant, payment.id)
                assert reloaded is not None
                payment = reloaded
        row = await applications.application_by_id(conn, tenant, payment.application_id)
        assert row is not None, "a payment's application is never deleted"
        return _Loaded(payment=payment, application=Application.of(row), tenant=tenant)
