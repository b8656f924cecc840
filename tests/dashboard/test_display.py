"""What the dashboard prints for people: an IBAN in ISO 13616's groups of four (the
application's form, the payer's instructions on a payment's page); labels that its
pages list follow the display-text rule (``check_display_text``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from html import unescape

import pytest
from litestar import Litestar

from payreq.services import Services
from tests.dashboard.conftest import DashboardClient
from tests.dashboard.statement_data import BANK_FORM, bank_payments
from tests.dashboard.test_keys import create_key

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


async def test_names_stored_before_the_display_rule_show_a_replacement_character(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    """Old rows (written before the rule, straight into the database here) keep their
    bidi overrides and control characters; every page that lists them shows U+FFFD."""
    owner = await signed_in("owner")
    client_id, _ = await create_key(owner, "shop server")
    ((payment_id, _),) = await bank_payments(dashboard_app, owner, 12500)
    services: Services = dashboard_app.state.services
    async with services.db.transaction() as conn:
        user = await conn.fetch_one("SELECT account_id FROM users WHERE email = :e", {"e": owner.email})
        assert user is not None
        account = {"account": user["account_id"]}
        await conn.execute("UPDATE accounts SET name = 'Corner\u202epohs' WHERE id = :account", account)
        await conn.execute(
            "UPDATE api_keys SET label = 'shop\nserver\u200b' WHERE client_id = :c", {"c": client_id}
        )
        await conn.execute(
            "UPDATE applications SET name = 'Bank\u2066transfers' WHERE account_id = :account AND name = :n",
            {**account, "n": BANK_FORM["name"]},
        )
        await conn.execute(
            "UPDATE payments SET reference_label = 'Order\x1b #1', reference_id = 'ORDER\t1' WHERE id = :id",
            {"id": uuid.UUID(payment_id)},
        )
    pages = {
        "/dashboard/api-keys": ["shop\ufffdserver\ufffd"],
        "/dashboard/applications": ["Bank\ufffdtransfers"],
        f"/dashboard/payments/{payment_id}": ["Order\ufffd #1", "ORDER\ufffd1"],
        "/dashboard/payments": ["Order\ufffd #1", "ORDER\ufffd1", "Bank\ufffdtransfers"],
    }
    for path, shown in pages.items():
        answer = await owner.get(path)
        assert answer.status_code == 200, path
        text = unescape(answer.text)
        assert "Corner\ufffdpohs" in text and "\u202e" not in text, path  # the account, in every header
        for name in shown:
            assert name in text, (path, name)
        assert not any(ch in text for ch in "\u2066\u200b\x1b\t"), path
