"""What the dashboard prints for people: an IBAN in ISO 13616's groups of four (the
application's form, the payer's instructions on a payment's page); labels that its
pages list follow the display-text rule (``check_display_text``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html import unescape

import pytest
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


def field_error(page: str, field: str) -> str:
    found = re.search(rf'id="f-{re.escape(field)}-error">([^<]+)<', page)
    assert found is not None, page[:3000]
    return unescape(found.group(1)).strip()


@pytest.mark.parametrize(
    ("ch", "rule"),
    [
        ("\u202e", "bidirectional control characters (such as U+202E)."),
        ("\u200b", "control, format or line-break characters (found U+200B)."),
        ("\n", "control, format or line-break characters (found U+000A)."),
    ],
)
async def test_key_and_token_labels_follow_the_display_text_rule_beside_the_field(
    owner: DashboardClient, ch: str, rule: str
) -> None:
    """The API-key and client-token lists show each label (and "Revoke <label>" to a
    screen reader): the forms refuse what the API refuses, 422 beside the field."""
    label = f"shop{ch}server"
    keys = await owner.post("/dashboard/api-keys", {"label": label}, csrf_from="/dashboard/api-keys")
    assert keys.status_code == 422
    assert field_error(keys.text, "label") == f"label must not contain {rule}"
    made = await owner.post("/dashboard/applications", BANK_FORM, csrf_from="/dashboard/applications/new")
    app = made.headers["location"]
    token = await owner.post(f"{app}/tokens", {"label": label, "scopes": "*"}, csrf_from=f"{app}/tokens/new")
    assert token.status_code == 422
    assert field_error(token.text, "label") == f"label must not contain {rule}"
    assert "shopserver" not in unescape((await owner.get("/dashboard/api-keys")).text).replace(ch, "")
