"""Payment applications over contract B (SPEC §3): create, read, list, change, archive,
rotate the webhook secret; the validation of every field; access tokens only."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from payreq.services import Services
from tests.application.conftest import (
    bearer,
    checkout,
    checkout_ok,
    default_client_id,
    new_application,
    new_token,
)
from tests.fixtures.factories import Merchant, second_key
from tests.payment.conftest import error_of

MakeMerchant = Callable[..., Awaitable[Merchant]]
WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{32}")
VIEW_KEYS = {
    "clientId",
    "name",
    "environment",
    "isDefault",
    "webhookUrl",
    "defaultRedirectUrl",
    "defaultExpiresIn",
    "currencies",
    "methods",
    "bankDetails",
    "createdAt",
    "webhookDisabledAt",
}
BANK = {"accountHolder": "Shop Ltd", "bankName": "Example Bank", "iban": "DE89 3704 0044 0532 0130 00"}
API = "/api/payment-applications"


async def stored_secrets(services: Services, client_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            """SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_expires_at, archived_at
               FROM applications WHERE client_id = :c""",
            {"c": client_id},
        )
    assert row is not None
    return {
        k: row[k]
        for k in (
            "webhook_secret",
            "previous_webhook_secret",
            "previous_webhook_secret_expires_at",
            "archived_at",
        )
    }


# -- create and read ------------------------------------------------------------


async def test_create_answers_the_application_with_its_webhook_secret_once(
    merchant: Merchant, services: Services
) -> None:
    created = await new_application(
        merchant,
        name="  Web shop  ",
        webhookUrl="https://shop.example/hooks",
        defaultRedirectUrl="https://shop.example/back",
        currencies=["usd", "EUR", "USD"],
        defaultExpiresIn=3600,
    )
    assert set(created) == VIEW_KEYS | {"webhookSecret", "previousSecretExpiresAt"}
    assert re.fullmatch(r"[a-z0-9]{32}", created["clientId"])
    assert WEBHOOK_SECRET.fullmatch(created["webhookSecret"])
    assert created["previousSecretExpiresAt"] is None
    assert created["name"] == "Web shop"
    assert created["environment"] == "sandbox"
    assert created["isDefault"] is False
    assert created["currencies"] == ["USD", "EUR"]
    assert created["methods"] == ["sandbox"]
    assert created["bankDetails"] is None
    assert created["defaultExpiresIn"] == 3600
    assert (await stored_secrets(services, created["clientId"]))["webhook_secret"] == created["webhookSecret"]

    read = await merchant.http.get(f"{API}/{created['clientId']}", headers=await merchant.headers())
    assert read.status_code == 200
    assert set(read.json()) == VIEW_KEYS
    assert "webhookSecret" not in read.text and created["webhookSecret"] not in read.text
    assert read.json() == {k: v for k, v in created.items() if k in VIEW_KEYS}


async def test_list_shows_the_default_first_and_never_a_webhook_secret(merchant: Merchant) -> None:
    first = await new_application(merchant, name="First")
    second = await new_application(merchant, name="Second")
    answer = await merchant.http.get(API, headers=await merchant.headers())
    assert answer.status_code == 200
    apps = answer.json()["data"]
    assert [a["clientId"] for a in apps] == [
        merchant.credentials.application_client_id,
        first["clientId"],
        second["clientId"],
    ]
    assert apps[0]["isDefault"] is True
    assert all(set(a) == VIEW_KEYS for a in apps)
    assert merchant.credentials.webhook_secret not in answer.text
    assert first["webhookSecret"] not in answer.text


async def test_list_is_per_account_and_environment(merchant: Merchant, make_merchant: MakeMerchant) -> None:
    other = await make_merchant()
    await new_application(other, name="Theirs")
    production = await make_merchant(environment="production")
    answer = await merchant.http.get(API, headers=await merchant.headers())
    assert [a["clientId"] for a in answer.json()["data"]] == [merchant.credentials.application_client_id]
    answer = await production.http.get(API, headers=await production.headers())
    (only,) = answer.json()["data"]
    assert only["environment"] == "production"
    assert only["clientId"] == production.credentials.application_client_id


async def test_bank_transfer_application_keeps_normalised_bank_details(merchant: Merchant) -> None:
    created = await new_application(
        merchant,
        methods=["bank_transfer", "sandbox", "bank_transfer"],
        bankDetails={**BANK, "bic": "cobadeffxxx", "routingNumber": "021-000-021"},
    )
    assert created["methods"] == ["bank_transfer", "sandbox"]
    assert created["bankDetails"] == {
        "accountHolder": "Shop Ltd",
        "bankName": "Example Bank",
        "iban": "DE89370400440532013000",
        "accountNumber": None,
        "bic": "COBADEFFXXX",
        "routingNumber": "021000021",
    }


async def test_production_application_needs_bank_details_for_its_default_method(
    make_merchant: MakeMerchant,
) -> None:
    production = await make_merchant(environment="production")
    headers = await production.headers()
    answer = await production.http.post(API, json={"name": "Live shop"}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "bankDetails"
    created = await new_application(
        production, bankDetails={**BANK, "iban": None, "accountNumber": "12345678"}
    )
    assert created["methods"] == ["bank_transfer"]
    assert created["environment"] == "production"


# -- validation -----------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"webhookUrl": "http://shop.example/hooks"}, "webhookUrl"),
    ({"webhookUrl": "ftp://shop.example/hooks"}, "webhookUrl"),
    ({"webhookUrl": "https://user:pw@shop.example/hooks"}, "webhookUrl"),
    ({"webhookUrl": "not a url"}, "webhookUrl"),
    ({"defaultRedirectUrl": "javascript:alert(1)"}, "defaultRedirectUrl"),
    ({"defaultRedirectUrl": "https://shop.example/" + "a" * 2048}, "defaultRedirectUrl"),
    ({"currencies": ["XXX"]}, "currencies"),
    ({"currencies": ["DEM"]}, "currencies"),
    ({"currencies": []}, "currencies"),
    ({"currencies": "USD"}, "currencies"),
    ({"methods": []}, "methods"),
    ({"methods": ["card"]}, "methods"),
    ({"methods": ["bank_transfer"]}, "bankDetails"),
    ({"bankDetails": {**BANK, "iban": "DE00 3704 0044 0532 0130 00"}}, "bankDetails.iban"),
    ({"bankDetails": {**BANK, "iban": "12345"}}, "bankDetails.iban"),
    ({"bankDetails": {**BANK, "iban": None}}, "bankDetails"),
    ({"bankDetails": {**BANK, "accountHolder": " "}}, "bankDetails.accountHolder"),
    ({"bankDetails": {**BANK, "bic": "NOTABIC"}}, "bankDetails.bic"),
    ({"bankDetails": {**BANK, "routingNumber": "12"}}, "bankDetails.routingNumber"),
    ({"bankDetails": {**BANK, "accountNumber": "12/34"}}, "bankDetails.accountNumber"),
    ({"bankDetails": "DE89370400440532013000"}, "bankDetails"),
    ({"defaultExpiresIn": 59}, "defaultExpiresIn"),
    ({"defaultExpiresIn": 2_592_001}, "defaultExpiresIn"),
    ({"defaultExpiresIn": "3600"}, "defaultExpiresIn"),
]


@pytest.mark.parametrize(("fields", "param"), INVALID, ids=[f"{p}-{i}" for i, (_, p) in enumerate(INVALID)])
async def test_create_refuses_a_field_that_breaks_a_rule_with_422_naming_it(
    merchant: Merchant, fields: dict[str, Any], param: str
) -> None:
    body = {"name": "Shop", **fields}
    answer = await merchant.http.post(API, json=body, headers=await merchant.headers())
    assert error_of(answer, 422, "validation_error")["param"] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "name"), ({"name": "Shop", "bankDetails": {"accountHolder": "Shop Ltd"}}, "bankDetails.bankName")],
)
async def test_create_without_a_required_field_is_400_naming_it(
    merchant: Merchant, body: dict[str, Any], param: str
) -> None:
    answer = await merchant.http.post(API, json=body, headers=await merchant.headers())
    assert error_of(answer, 400, "invalid_request")["param"] == param


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"x"'])
async def test_create_with_a_body_that_is_not_a_json_object_is_400(merchant: Merchant, body: bytes) -> None:
    headers = {**await merchant.headers(), "Content-Type": "application/json"}
    answer = await merchant.http.post(API, content=body, headers=headers)
    error_of(answer, 400, "invalid_request")


async def test_sandbox_allows_local_http_urls_and_production_does_not(make_merchant: MakeMerchant) -> None:
    """Redirects: local http in the sandbox only. Webhooks: loopback is the operator's
    choice in every environment (the suite allows it, as `make run` does; test_ssrf.py
    has the server that does not)."""
    sandbox = await make_merchant()
    created = await new_application(
        sandbox, webhookUrl="http://localhost:4000/hooks", defaultRedirectUrl="http://127.0.0.1:3000/done"
    )
    assert created["webhookUrl"] == "http://localhost:4000/hooks"
    production = await make_merchant(environment="production")
    headers = await production.headers()
    for field in ("defaultRedirectUrl",):
        body = {
            "name": "Live",
            "methods": ["bank_transfer"],
            "bankDetails": BANK,
            field: "http://localhost/x",
        }
        answer = await production.http.post(API, json=body, headers=headers)
        assert error_of(answer, 422, "validation_error")["param"] == field
    body = {"name": "Live", "methods": ["sandbox"]}
    answer = await production.http.post(API, json=body, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "methods"


# -- update -----------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent_and_null_clears(merchant: Merchant) -> None:
    created = await new_application(
        merchant, webhookUrl="https://shop.example/hooks", currencies=["EUR"], defaultExpiresIn=600
    )
    url = f"{API}/{created['clientId']}"
    headers = await merchant.headers()
    answer = await merchant.http.patch(url, json={"name": "Renamed", "currencies": None}, headers=headers)
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert changed["name"] == "Renamed"
    assert changed["currencies"] is None
    assert changed["webhookUrl"] == "https://shop.example/hooks"
    assert changed["defaultExpiresIn"] == 600
    assert "webhookSecret" not in changed
    again = await merchant.http.patch(url, json={}, headers=headers)
    assert again.status_code == 200
    assert again.json() == changed
    assert (await merchant.http.get(url, headers=headers)).json() == changed


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": None}, "name"),
        ({"methods": None}, "methods"),
        ({"methods": ["bank_transfer"]}, "bankDetails"),
        ({"webhookUrl": "http://shop.example"}, "webhookUrl"),
        ({"defaultExpiresIn": 10}, "defaultExpiresIn"),
    ],
)
async def test_patch_refuses_a_field_that_breaks_a_rule_and_changes_nothing(
    merchant: Merchant, body: dict[str, Any], param: str
) -> None:
    created = await new_application(merchant, name="Before")
    url = f"{API}/{created['clientId']}"
    headers = await merchant.headers()
    answer = await merchant.http.patch(url, json={"name": "After", **body}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == param
    assert (await merchant.http.get(url, headers=headers)).json()["name"] == "Before"


async def test_removing_bank_details_while_offering_bank_transfer_is_422(merchant: Merchant) -> None:
    created = await new_application(merchant, methods=["bank_transfer"], bankDetails=BANK)
    url = f"{API}/{created['clientId']}"
    headers = await merchant.headers()
    answer = await merchant.http.patch(url, json={"bankDetails": None}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "bankDetails"
    answer = await merchant.http.patch(
        url, json={"bankDetails": None, "methods": ["sandbox"]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["bankDetails"] is None


async def test_default_redirect_url_serves_checkouts_that_name_none(merchant: Merchant) -> None:
    created = await new_application(merchant)
    token = (await new_token(merchant, ["*"], created["clientId"]))["token"]
    body = {"amount": 500, "currencyCode": "EUR", "reference": "r-1", "referenceLabel": "R 1"}
    missing = await merchant.http.post(
        "/api/payment/checkout", json={**body, "clientId": created["clientId"]}, headers=bearer(token)
    )
    assert error_of(missing, 422, "validation_error")["param"] == "redirectUrl"
    url = f"{API}/{created['clientId']}"
    headers = await merchant.headers()
    patched = await merchant.http.patch(
        url, json={"defaultRedirectUrl": "https://shop.example/r"}, headers=headers
    )
    assert patched.status_code == 200
    answer = await merchant.http.post(
        "/api/payment/checkout", json={**body, "clientId": created["clientId"]}, headers=bearer(token)
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["redirectUrl"] == "https://shop.example/r"


async def test_application_currencies_and_expiry_apply_to_its_checkouts(merchant: Merchant) -> None:
    created = await new_application(merchant, currencies=["EUR"], defaultExpiresIn=120)
    token = (await new_token(merchant, ["payments.create"], created["clientId"]))["token"]
    refused = await checkout(merchant.http, token, created["clientId"])  # USD
    assert error_of(refused, 422, "validation_error")["param"] == "currencyCode"
    payment = await checkout_ok(merchant.http, token, created["clientId"], currencyCode="eur")
    assert payment["currencyCode"] == "EUR"
    lifetime = datetime.fromisoformat(payment["expiresAt"]) - datetime.fromisoformat(payment["createdAt"])
    assert lifetime == timedelta(seconds=120)


# -- delete (archive) -------------------------------------------------------------


async def test_delete_archives_the_application_and_keeps_its_payments(
    merchant: Merchant, services: Services
) -> None:
    created = await new_application(merchant)
    client_id = created["clientId"]
    token = (await new_token(merchant, ["*"], client_id))["token"]
    payment = await checkout_ok(merchant.http, token, client_id)
    headers = await merchant.headers()

    deleted = await merchant.http.delete(f"{API}/{client_id}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""

    assert (await stored_secrets(services, client_id))["archived_at"] is not None
    error_of(await merchant.http.get(f"{API}/{client_id}", headers=headers), 404, "not_found")
    error_of(await merchant.http.delete(f"{API}/{client_id}", headers=headers), 404, "not_found")
    error_of(await merchant.http.patch(f"{API}/{client_id}", json={}, headers=headers), 404, "not_found")
    error_of(await merchant.http.get(f"{API}/{client_id}/tokens", headers=headers), 404, "not_found")
    listed = await merchant.http.get(API, headers=headers)
    assert client_id not in listed.text
    # its client tokens stop working at once
    refused = await merchant.http.get(f"/api/payment/{payment['id']}", headers=bearer(token))
    error_of(refused, 401, "authentication_error")
    # its payments remain, on both faces, for the account's access token
    read = await merchant.http.get(f"/api/payment/{payment['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json()["clientId"] == client_id
    assert (await merchant.http.get(f"/payment/request/{payment['id']}", headers=headers)).status_code == 200
    # and nobody may create new payments in it
    answer = await checkout(merchant.http, await merchant.token(), client_id)
    error_of(answer, 404, "not_found")


async def test_an_application_without_payments_is_archived_too(
    merchant: Merchant, services: Services
) -> None:
    created = await new_application(merchant)
    answer = await merchant.http.delete(f"{API}/{created['clientId']}", headers=await merchant.headers())
    assert answer.status_code == 204
    assert (await stored_secrets(services, created["clientId"]))["archived_at"] is not None


async def test_the_default_application_cannot_be_deleted(merchant: Merchant) -> None:
    client_id = merchant.credentials.application_client_id
    headers = await merchant.headers()
    answer = await merchant.http.delete(f"{API}/{client_id}", headers=headers)
    error = error_of(answer, 409, "invalid_state")
    assert error["code"] == "default_application"
    assert (await merchant.http.get(f"{API}/{client_id}", headers=headers)).status_code == 200
    # and contract A keeps landing there
    payment = await merchant.create_payment()
    read = await merchant.http.get(f"/api/payment/{payment['id']}", headers=headers)
    assert read.json()["clientId"] == client_id


# -- webhook secret -----------------------------------------------------------------


async def test_rotation_answers_a_new_secret_and_keeps_the_old_one_for_24_hours(
    merchant: Merchant, services: Services
) -> None:
    created = await new_application(merchant)
    client_id = created["clientId"]
    before = services.clock()
    answer = await merchant.http.post(f"{API}/{client_id}/webhook-secret", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert WEBHOOK_SECRET.fullmatch(rotated["webhookSecret"])
    assert rotated["webhookSecret"] != created["webhookSecret"]
    assert rotated["clientId"] == client_id
    until = datetime.fromisoformat(rotated["previousSecretExpiresAt"])
    assert before + timedelta(hours=24) <= until <= services.clock() + timedelta(hours=24)

    stored = await stored_secrets(services, client_id)
    assert stored["webhook_secret"] == rotated["webhookSecret"]
    assert stored["previous_webhook_secret"] == created["webhookSecret"]
    assert stored["previous_webhook_secret_expires_at"] == until

    read = await merchant.http.get(f"{API}/{client_id}", headers=await merchant.headers())
    assert rotated["webhookSecret"] not in read.text and created["webhookSecret"] not in read.text


async def test_rotation_of_an_unknown_application_is_404(merchant: Merchant) -> None:
    answer = await merchant.http.post(f"{API}/{'0' * 32}/webhook-secret", headers=await merchant.headers())
    error_of(answer, 404, "not_found")


# -- who may -------------------------------------------------------------------------


async def test_a_client_token_gets_403_insufficient_permissions(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    answer = await http.get(API, headers=bearer(merchant.credentials.client_token))
    error = error_of(answer, 403, "permission_error")
    assert error["message"] == "Insufficient permissions"
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


async def test_an_access_token_without_scope_star_gets_403(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    headers = bearer(await merchant.token("payments.create payments.get"))
    answer = await http.get(API, headers=headers)
    assert error_of(answer, 403, "permission_error")["message"] == "Insufficient permissions"
    assert 'scope="*"' in answer.headers["www-authenticate"]


@pytest.mark.parametrize("token", [None, "prq_at_sbx_" + "x" * 32, "garbage"])
async def test_no_or_a_bad_token_is_401_unauthenticated(http: httpx.AsyncClient, token: str | None) -> None:
    answer = await http.get(API, headers=bearer(token) if token else {})
    error = error_of(answer, 401, "authentication_error")
    assert error["message"] == "Unauthenticated"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert ('error="invalid_token"' in answer.headers["www-authenticate"]) is (token is not None)


async def test_another_accounts_application_is_404_for_every_operation(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    theirs = await new_application(other)
    their_token = await new_token(other, ["*"], theirs["clientId"])
    headers = await merchant.headers()
    for client_id in (theirs["clientId"], other.credentials.application_client_id, "x" * 32, "nope"):
        url = f"{API}/{client_id}"
        for answer in (
            await merchant.http.get(url, headers=headers),
            await merchant.http.patch(url, json={"name": "mine"}, headers=headers),
            await merchant.http.delete(url, headers=headers),
            await merchant.http.post(f"{url}/webhook-secret", headers=headers),
            await merchant.http.get(f"{url}/tokens", headers=headers),
            await merchant.http.post(f"{url}/tokens", json={"label": "x", "scopes": ["*"]}, headers=headers),
            await merchant.http.delete(f"{url}/tokens/{their_token['id']}", headers=headers),
        ):
            assert error_of(answer, 404, "not_found")["message"] == "No such payment application."
    read = await other.http.get(f"{API}/{theirs['clientId']}", headers=await other.headers())
    assert read.json()["name"] == "Web shop"
    assert (await other.http.get(f"{API}/{theirs['clientId']}/tokens", headers=await other.headers())).json()[
        "data"
    ][0]["id"] == their_token["id"]


async def test_the_other_environments_application_is_404(merchant: Merchant, services: Services) -> None:
    production = await second_key(services, merchant, "production")
    production_client_id = await default_client_id(production)
    assert production_client_id != merchant.credentials.application_client_id
    sandbox_headers = await merchant.headers()
    answer = await merchant.http.get(f"{API}/{production_client_id}", headers=sandbox_headers)
    error_of(answer, 404, "not_found")
    answer = await production.http.get(
        f"{API}/{merchant.credentials.application_client_id}", headers=await production.headers()
    )
    error_of(answer, 404, "not_found")


async def test_a_new_webhook_url_enables_a_disabled_endpoint_again(
    merchant: Merchant, services: Services
) -> None:
    client_id = merchant.credentials.application_client_id
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_disabled_at = :at, webhook_failing_since = :at WHERE client_id = :c",
            {"at": services.clock(), "c": client_id},
        )
    url = f"/api/payment-applications/{client_id}"
    before = await merchant.http.get(url, headers=await merchant.headers())
    assert before.json()["webhookDisabledAt"] is not None
    answer = await merchant.http.patch(
        url, json={"webhookUrl": "http://127.0.0.1:9/hooks"}, headers=await merchant.headers()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhookDisabledAt"] is None
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT webhook_failing_since FROM applications WHERE client_id = :c", {"c": client_id}
        )
    assert row is not None and row["webhook_failing_since"] is None


@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u200e"])
async def test_names_payers_see_refuse_bidi_controls(merchant: Merchant, control: str) -> None:
    headers = await merchant.headers()
    answer = await merchant.http.post(API, json={"name": f"Shop{control}pohS"}, headers=headers)
    error = error_of(answer, 422, "validation_error")
    assert (error["param"], error["code"]) == ("name", "bidi_control")
    client_id = merchant.credentials.application_client_id
    answer = await merchant.http.patch(f"{API}/{client_id}", json={"name": f"{control}x"}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "name"
    bank = {**BANK, "accountHolder": f"Shop Ltd{control}"}
    answer = await merchant.http.patch(f"{API}/{client_id}", json={"bankDetails": bank}, headers=headers)
    assert error_of(answer, 422, "validation_error")["param"] == "bankDetails.accountHolder"
