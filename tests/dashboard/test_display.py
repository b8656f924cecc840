"""What the dashboard prints for people: an IBAN in ISO 13616's groups of four (the
application's form, the payer's instructions on a payment's page)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html import unescape

from litestar import Litestar

from tests.dashboard.conftest import DashboardClient
from tests.dashboard.statement_data import BANK_FORM, bank_payments

SignedIn = Callable[..., Awaitable[DashboardClient]]
PRINTED = "DE89 3704 0044 0532 0130 00"


async def test_the_iban_is_printed_in_groups_of_four(signed_in: SignedIn, dashboard_app: Litestar) -> None:
    owner = await signed_in("owner")
    form = {**BANK_FORM, "bankDetails.iban": "de89370400440532013000"}
    made = await owner.post("/dashboard/applications", form, csrf_from="/dashboard/applications/new")
    assert made.status_code == 303, made.text
    page = (await owner.get(made.headers["location"])).text
    field = re.search(
        r'<input id="f-bankDetails\.iban" name="bankDetails\.iban" type="text" value="([^"]*)"', page
    )
    assert field is not None and field.group(1) == PRINTED
    ((payment_id, _),) = await bank_payments(dashboard_app, owner, 12500)
    shown = unescape((await owner.get(f"/dashboard/payments/{payment_id}")).text)
    assert f"to Example Shop GmbH, IBAN {PRINTED}.</li>" in shown
    assert f"<dt>IBAN</dt><dd>{PRINTED}</dd>" in shown
