"""Payment methods are plug-ins: the registry holds the built-ins and discovers others
from the ``payreq.methods`` entry-point group; a method offered by an application
appears on the checkout and settles through the payment core, without core changes."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payreq.application.models import Application, BankDetails
from payreq.auth.subject import Tenant
from payreq.checkout.csrf import FormTokens
from payreq.checkout.service import CheckoutService
from payreq.db import Connection
from payreq.method.base import Action, Instructions, MethodContext, PaymentMethod, Settlement
from payreq.method.registry import MethodRegistry, builtins
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.method.conftest import event_types

PLUGIN = """
from payreq.method.base import Instructions, PaymentMethod, Settlement


class CardMethod(PaymentMethod):
    name = "card"
    label = "Card"
    settlement = Settlement.NOTIFICATION
    currencies = frozenset({"EUR"})

    async def instructions(self, conn, ctx):
        return Instructions(title="Pay by card", steps=["Enter your card."])


class Duplicate(CardMethod):
    name = "sandbox"


not_a_method = object()
"""


def application(methods: list[str], *, bank: bool = True) -> Application:
    return Application(
        id=uuid.uuid4(),
        client_id="x" * 32,
        account_id=uuid.uuid4(),
        environment="production",
        name="Shop",
        is_default=False,
        webhook_url=None,
        default_redirect_url=None,
        default_expires_in=None,
        currencies=None,
        methods=methods,
        bank_details=BankDetails(account_holder="A", bank_name="B", iban="DE89370400440532013000")
        if bank
        else None,
        created_at=datetime.now(UTC),
    )


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "acme_methods.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "broken_methods.py").write_text("raise ImportError('missing dependency')\n")
    info = tmp_path / "acme_methods-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-methods\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[payreq.methods]\n"
        "card = acme_methods:CardMethod\n"
        "sandbox = acme_methods:Duplicate\n"
        "broken = broken_methods:Method\n"
        "junk = acme_methods:not_a_method\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_builtins_are_sandbox_and_bank_transfer() -> None:
    registry = MethodRegistry(builtins())
    assert registry.names() == ["sandbox", "bank_transfer"]
    sandbox, bank = registry.get("sandbox"), registry.get("bank_transfer")
    assert sandbox is not None and bank is not None
    assert sandbox.environments == {"sandbox"} and bank.environments == {"sandbox", "production"}
    assert sandbox.settlement is Settlement.PAYER_ACTION and bank.settlement is Settlement.RECONCILIATION


def test_plugins_are_discovered_from_entry_points_and_bad_ones_left_out(plugin_path: Path) -> None:
    registry = MethodRegistry.discover()
    assert registry.names() == ["sandbox", "bank_transfer", "card"]
    card = registry.get("card")
    assert card is not None and type(card).__module__ == "acme_methods"
    assert type(registry.get("sandbox")).__module__ == "payreq.method.sandbox"  # built-ins keep their names


def test_offered_methods_follow_the_application_environment_currency_and_settings(plugin_path: Path) -> None:
    registry = MethodRegistry.discover()
    app = application(["card", "bank_transfer", "sandbox", "unknown"])
    offered = registry.offered(app, environment="production", currency="EUR")
    assert [m.name for m in offered] == ["card", "bank_transfer"]
    assert [m.name for m in registry.offered(app, environment="production", currency="USD")] == [
        "bank_transfer"
    ]
    assert [m.name for m in registry.offered(app, environment="sandbox", currency="USD")] == [
        "bank_transfer",
        "sandbox",
    ]
    no_bank = application(["bank_transfer", "sandbox"], bank=False)
    assert [m.name for m in registry.offered(no_bank, environment="sandbox", currency="EUR")] == ["sandbox"]


class VoucherMethod(PaymentMethod):
    """A method the core has never heard of: the payer redeems a voucher."""

    name = "voucher"
    label = "Gift voucher"
    settlement = Settlement.PAYER_ACTION

    async def instructions(self, conn: Connection, ctx: MethodContext) -> Instructions:
        return Instructions(title="Redeem a voucher", steps=["Press redeem."])

    def actions(self, ctx: MethodContext) -> Sequence[Action]:
        return (Action("redeem", "Redeem", primary=True),)

    async def act(self, conn: Connection, ctx: MethodContext, action: str) -> Payment:
        return await ctx.settle(Status.PAID)


async def test_a_plugin_method_is_offered_on_checkout_and_settles_through_the_core(
    merchant: Merchant, services: Services
) -> None:
    payment = await merchant.create_payment()
    async with services.db.transaction() as conn:  # the API offers only known names today
        await conn.execute(
            "UPDATE applications SET methods = :methods WHERE client_id = :client_id",
            {"methods": '["voucher"]', "client_id": merchant.credentials.application_client_id},
        )
    registry = MethodRegistry([*builtins(), VoucherMethod()])
    checkout = CheckoutService(
        services.payments, registry, base_url="http://testserver", tokens=FormTokens("k")
    )
    async with services.db.read() as conn:
        view = await checkout.view(conn, payment["id"])
    assert [(p.method.name, [a.name for a in p.actions]) for p in view.panels] == [("voucher", ["redeem"])]
    async with services.db.transaction() as conn:
        paid = await checkout.act(conn, payment["id"], "voucher", "redeem")
    assert paid.status is Status.PAID
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status FROM payments WHERE id = :id", {"id": uuid.UUID(payment["id"])}
        )
    assert row is not None and row["status"] == "paid"
    assert Tenant(uuid.UUID(merchant.credentials.account_id), "sandbox") == Tenant(
        paid.account_id, paid.environment
    )
