"""What the dashboard prints for people: an IBAN in ISO 13616's groups of four (the
application's form, the payer's instructions on a payment's page); labels that its
pages list follow the display-text rule (``check_display_text``)."""

from __future__ import annotations

import json
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


def input_value(page: str, field: str) -> str:
    found = re.search(
        rf'<input id="f-{re.escape(field)}" name="{re.escape(field)}" type="[a-z]+" value="([^"]*)"', page
    )
    assert found is not None, field
    return unescape(found.group(1))


async def test_an_edit_form_fills_in_an_old_name_as_the_pages_show_it_and_will_not_save_it_so(
    owner: DashboardClient, dashboard_app: Litestar
) -> None:
    """The application's edit form fills its inputs with the stored settings: a name
    stored before the display-text rule shows U+FFFD for each hidden character, never
    the character. Saving it as it reads is refused beside the field (U+FFFD would
    silently replace what was stored); retyped, it saves."""
    made = await owner.post("/dashboard/applications", BANK_FORM, csrf_from="/dashboard/applications/new")
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    client_id = location.rsplit("/", 1)[1]
    services: Services = dashboard_app.state.services
    async with services.db.transaction() as conn:
        row = await conn.fetch_one(
            "SELECT bank_details FROM applications WHERE client_id = :c", {"c": client_id}
        )
        assert row is not None
        bank = json.loads(row["bank_details"])
        bank["accountHolder"] = "Example\nShop GmbH"
        await conn.execute(
            "UPDATE applications SET name = :name, bank_details = :bank WHERE client_id = :c",
            {"name": "Bank\u202esrefsnart", "bank": json.dumps(bank), "c": client_id},
        )
    page = (await owner.get(location)).text
    shown = {
        name: input_value(page, name)
        for name in ("name", "bankDetails.accountHolder", "bankDetails.bankName")
    }
    assert shown == {
        "name": "Bank\ufffdsrefsnart",
        "bankDetails.accountHolder": "Example\ufffdShop GmbH",
        "bankDetails.bankName": "Example Bank",
    }
    assert "\u202e" not in unescape(page) and "Example\nShop" not in unescape(page)

    as_read = {**BANK_FORM, **shown}
    refused = await owner.post(location, as_read, csrf_from=location)
    assert refused.status_code == 422
    kept = (
        "The saved value holds characters that cannot be shown (marked \ufffd here). Retype it without them."
    )
    assert field_error(refused.text, "name") == kept
    assert field_error(refused.text, "bankDetails.accountHolder") == kept
    assert input_value(refused.text, "name") == "Bank\ufffdsrefsnart"  # what was sent, beside the error
    async with services.db.read() as conn:
        stored = await conn.fetch_one("SELECT name FROM applications WHERE client_id = :c", {"c": client_id})
    assert stored is not None and stored["name"] == "Bank\u202esrefsnart"  # nothing changed

    retyped = {**as_read, "name": "Bank transfers", "bankDetails.accountHolder": "Example Shop GmbH"}
    saved = await owner.post(location, retyped, csrf_from=location)
    assert saved.status_code == 303, saved.text
    page = (await owner.get(location)).text
    assert input_value(page, "name") == "Bank transfers"
    assert input_value(page, "bankDetails.accountHolder") == "Example Shop GmbH"
    # a U+FFFD typed into a clean field is the user's own text, as the API takes it
    typed = await owner.post(location, {**retyped, "name": "Bank \ufffd transfers"}, csrf_from=location)
    assert typed.status_code == 303


async def test_the_owner_closes_an_account_by_its_old_name_as_the_page_shows_it(
    owner: DashboardClient, dashboard_app: Litestar
) -> None:
    """The close form asks for the account's name: one stored before the display-text
    rule is shown with U+FFFD (the header), and typing it as shown confirms."""
    services: Services = dashboard_app.state.services
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE accounts SET name = 'Corner\u202epohs' "
            "WHERE id = (SELECT account_id FROM users WHERE email = :e)",
            {"e": owner.email},
        )
    assert "Corner\ufffdpohs" in unescape((await owner.get("/dashboard/team")).text)
    wrong = await owner.post("/dashboard/team/close", {"confirm_name": "Corner"}, csrf_from="/dashboard/team")
    assert wrong.status_code == 422 and "name exactly to confirm" in wrong.text
    closed = await owner.post(
        "/dashboard/team/close", {"confirm_name": "Corner\ufffdpohs"}, csrf_from="/dashboard/team"
    )
    assert closed.status_code == 303
