"""The payment-method plug-in interface.

A payment method is one object that says:

- who it is: ``name`` (what applications list in ``methods``) and ``label`` (what the
  payer reads);
- where it works: ``environments`` and ``currencies`` (None: every currency), and
  ``unavailable(application)`` for what an application must configure first;
- what the payer must do: ``instructions(conn, ctx)``, shown on the checkout page and
  answered by ``GET /api/payment/{id}/instructions?method=<name>``;
- how a payment is settled: ``settlement`` names the way (the payer's action on the
  page, a bank statement, a processor's notification), and ``actions`` / ``act`` are
  the buttons the checkout page shows and what pressing one does.

Methods never change a payment's status themselves: ``ctx.settle(Status.X)`` is the
payment core's race-safe transition, which writes the event in the same transaction.
Card or wallet processors add a class like this and register it under the entry-point
group ``payreq.methods`` (see ``payreq.method.registry``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from payreq.application.models import Application, BankDetails
from payreq.db import Connection
from payreq.errors import Conflict, ValidationFailed
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment

ENVIRONMENTS = frozenset({"sandbox", "production"})


class Settlement(StrEnum):
    """How a payment paid with a method reaches ``paid``."""

    PAYER_ACTION = "payer_action"
    """The payer's action on the checkout page settles it at once (sandbox)."""
    RECONCILIATION = "reconciliation"
    """A line of the merchant's bank statement settles it when imported (bank transfer)."""
    NOTIFICATION = "notification"
    """A processor's notification settles it (cards, wallets)."""


@dataclass(frozen=True, slots=True)
class Detail:
    """One labelled value the payer needs (an IBAN, the transfer reference)."""

    label: str
    value: str
    copy: bool = False
    """Offer a copy button next to it."""
    copy_value: str | None = None
    """What the copy button copies, and the API's ``details[].value``, where it differs
    from ``value``, the print form: the electronic format (an IBAN or a creditor
    reference without its spaces)."""
    code: bool = False
    """Show it in a fixed-width font (references, account numbers)."""


@dataclass(frozen=True, slots=True)
class Action:
    """A button on the checkout page; pressing it calls ``act`` with ``name``."""

    name: str
    label: str
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Instructions:
    """What the payer must do, in order, to pay with one method."""

    title: str
    steps: Sequence[str]
    details: Sequence[Detail] = ()
    transfer_reference: str | None = None
    bank_details: BankDetails | None = None
    page_steps: Sequence[str] | None = None
    """The steps as the checkout page words them, where they differ from ``steps``
    (which the API answers to a merchant's own front end)."""
    qr_svg: str | None = None
    """An inline SVG the checkout page shows for a banking app to scan (the EPC QR
    code of a euro transfer); drawn by the method, markup-safe."""
    qr_caption: str | None = None

    def steps_on_page(self) -> Sequence[str]:
        return self.steps if self.page_steps is None else self.page_steps


@dataclass(frozen=True, slots=True)
class MethodContext:
    """One pending payment, as a method sees it."""

    payment: Payment
    application: Application
    checkout_url: str
    now: datetime
    settle: Callable[[Status], Awaitable[Payment]] = field(repr=False)
    """The payment core's race-safe transition (409 if another change won)."""


class UnknownAction(ValidationFailed):
    default_code = "unknown_action"
    default_message = "This payment method has no such action."


class ApplicationArchived(Conflict):
    """Paying (instructions, a simulated outcome) a payment whose application is
    archived: the payment stays readable, but nobody may pay it any more."""

    default_code = "application_archived"
    default_message = "This payment's application is archived: the payment can no longer be paid."


class PaymentMethod(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    settlement: ClassVar[Settlement]
    environments: ClassVar[frozenset[str]] = ENVIRONMENTS
    currencies: ClassVar[frozenset[str] | None] = None
    """ISO 4217 codes the method can take; None for every currency."""

    def supports(self, *, environment: str, currency: str) -> bool:
        return environment in self.environments and (self.currencies is None or currency in self.currencies)

    def unavailable(self, application: Application) -> str | None:
        """Why ``application`` cannot offer this method yet (missing settings), or None."""
        return None

    @abstractmethod
    async def instructions(self, conn: Connection, ctx: MethodContext) -> Instructions:
        """What the payer must do. May write (a bank-transfer reference is issued on
        first sight): call ``await conn.begin()`` first."""

    def actions(self, ctx: MethodContext) -> Sequence[Action]:
        """The buttons the checkout page offers for this method."""
        return ()

    async def act(self, conn: Connection, ctx: MethodContext, action: str) -> Payment:
        """Do what the button ``action`` promises; the payment as it then stands."""
        raise UnknownAction()
