"""A bank application and payments in a dashboard account's sandbox, and the shared
camt.053 fixture filled with their transfer references (as tests/method/ does)."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from payreq.auth.roles import Role
from payreq.auth.subject import dashboard_subject
from payreq.method import creditor_reference
from payreq.payment.models import PaymentDraft
from payreq.services import Services
from tests.dashboard.conftest import DashboardClient

CAMT053 = Path(__file__).parent.parent / "method" / "fixtures" / "camt053-basic.xml"
BANK_FORM = {
    "name": "Bank transfers",
    "methods": "bank_transfer",
    "bankDetails.accountHolder": "Example Shop GmbH",
    "bankDetails.bankName": "Example Bank",
    "bankDetails.iban": "DE89 3704 0044 0532 0130 00",
    "bankDetails.bic": "COBADEFFXXX",
}


async def bank_payments(app: Litestar, owner: DashboardClient, *amounts: int) -> list[tuple[str, str]]:
    """(payment id, transfer reference) of new pending bank-transfer payments."""
    from tests.dashboard.test_roles import _actor

    made = await owner.post("/dashboard/applications", BANK_FORM, csrf_from="/dashboard/applications/new")
    assert made.status_code == 303, made.text
    client_id = made.headers["location"].rsplit("/", 1)[1]
    services: Services = app.state.services
    subject = dashboard_subject(await _actor(services, owner.email, Role.OWNER), "sandbox")
    found = []
    for amount in amounts:
        async with services.db.transaction() as conn:
            payment = await services.payments.create(
                conn,
                subject,
                PaymentDraft(
                    amount=amount,
                    currency="EUR",
                    redirect_url="https://shop.example/done",
                    application_client_id=client_id,
                ),
            )
            shown = await services.instructions.get(conn, subject, str(payment.id), "bank_transfer")
        assert shown.transfer_reference
        found.append((str(payment.id), shown.transfer_reference))
    return found


def camt053(first_reference: str, second_reference: str) -> bytes:
    """The fixture: line 1 pays 125.00 EUR with the first, line 2 99.99 EUR with the
    second reference; line 3 names no payment, line 4 is a bank fee (a debit)."""
    text = CAMT053.read_text()
    text = text.replace("REPLACE-WITH-TRANSFER-REFERENCE-1", creditor_reference.display_form(first_reference))
    text = text.replace("REPLACE-WITH-TRANSFER-REFERENCE-2", second_reference)
    return text.encode()
