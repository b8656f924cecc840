"""The business (account) name at sign-up: payers read it on the checkout page and
team members in every dashboard page and invitation, so it follows the display-text
rule (``check_display_text``): no control, format or line-break characters, while
ZWJ and ZWNJ pass. ``payreq bootstrap --name`` follows the same rule
(``tests/cli/test_main.py``)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from litestar import Litestar

from tests.dashboard.conftest import PASSWORD, DashboardClient, new_client, sign_up, unique_email
from tests.dashboard.statement_data import BANK_FORM


async def _sign_up(app: Litestar, name: str) -> tuple[DashboardClient, int, str]:
    client = DashboardClient(new_client(app), email=unique_email())
    answer = await client.post(
        "/dashboard/signup",
        {"account_name": name, "email": client.email, "password": PASSWORD},
        csrf_from="/dashboard/signup",
    )
    return client, answer.status_code, answer.text


@pytest.mark.parametrize(
    ("ch", "message"),
    [
        ("\u202e", "account_name must not contain bidirectional control characters (such as U+202E)."),
        ("\u2028", "account_name must not contain control, format or line-break characters (found U+2028)."),
        ("\u2029", "account_name must not contain control, format or line-break characters (found U+2029)."),
        ("\n", "account_name must not contain control, format or line-break characters (found U+000A)."),
        ("\u200b", "account_name must not contain control, format or line-break characters (found U+200B)."),
    ],
)
async def test_a_business_name_with_a_control_character_is_refused_beside_the_field(
    dashboard_app: Litestar, ch: str, message: str
) -> None:
    client, status, text = await _sign_up(dashboard_app, f"Corner{ch}Bookshop")
    assert status == 422
    error = re.search(r'id="f-account_name-error">([^<]+)<', text)
    assert error is not None, text[:2000]
    assert unescape(error.group(1)).strip() == message
    assert "payreq_session" not in client.http.cookies  # no account, no session
    await client.http.aclose()


@pytest.mark.parametrize(
    "name",
    [
        "\U0001f469\u200d\U0001f373 Kitchen",  # emoji ZWJ sequence
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u06a9\u062a\u0627\u0628",  # Persian with ZWNJ
    ],
)
async def test_a_business_name_with_joiners_is_kept_as_typed(dashboard_app: Litestar, name: str) -> None:
    owner = await sign_up(dashboard_app, account_name=f"  {name} ")
    home = await owner.get("/dashboard")
    assert home.status_code == 200
    heading = re.search(r"<h1>([^<]*)</h1>", home.text)
    assert heading is not None and unescape(heading.group(1)) == name  # trimmed, otherwise unchanged
    await owner.http.aclose()


@pytest.mark.parametrize("ch", ["\u2028", "\u200b", "\u202e"])
async def test_the_application_form_shows_the_display_text_rule_beside_each_field(
    owner: DashboardClient, ch: str
) -> None:
    """The dashboard's application form follows the API's rule (a page enforcing less
    than the API is a bug): the name and the account holder are refused beside their
    fields, nothing is created, and the page is a 422, not a 500."""
    form = {**BANK_FORM, "name": f"Bank{ch}transfers", "bankDetails.accountHolder": f"Example{ch}Shop GmbH"}
    answer = await owner.post("/dashboard/applications", form, csrf_from="/dashboard/applications/new")
    assert answer.status_code == 422, answer.text[:500]
    code = (
        "bidirectional control characters (such as U+202E)."
        if ch == "\u202e"
        else (f"control, format or line-break characters (found U+{ord(ch):04X}).")
    )
    for field in ("name", "bankDetails.accountHolder"):
        error = re.search(rf'id="f-{re.escape(field)}-error">([^<]+)<', answer.text)
        assert error is not None, (field, answer.text[:3000])
        assert unescape(error.group(1)).strip() == f"{field} must not contain {code}"
    listed = await owner.get("/dashboard/applications")
    assert "Bank" + ch not in listed.text and "Bank transfers" not in unescape(listed.text)
