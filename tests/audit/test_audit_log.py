"""The audit log through the real API on both engines: what is recorded, by whom and
from where, with no secret; scoped to the account and environment; in the same
transaction as the change; append-only."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest

from payreq.db import Database
from payreq.services import Services
from tests.application.conftest import bearer, new_application, new_token
from tests.fixtures.factories import Merchant


async def audit_log(merchant: Merchant, **params: Any) -> dict[str, Any]:
    answer = await merchant.http.get("/api/audit-log", params=params, headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def every_entry(merchant: Merchant, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await audit_log(merchant, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        entries += page["data"]
        if not page["hasMore"]:
            return entries
        cursor = page["nextCursor"]


async def test_changes_are_recorded_with_actor_address_and_no_secret(
    merchant: Merchant, services: Services, db: Database
) -> None:
    app = await new_application(merchant, webhookUrl="https://shop.example/hooks")
    client_id = app["clientId"]
    headers = await merchant.headers()
    patched = await merchant.http.patch(
        f"/api/payment-applications/{client_id}", json={"name": "Renamed shop"}, headers=headers
    )
    assert patched.status_code == 200
    rotated = await merchant.http.post(
        f"/api/payment-applications/{client_id}/webhook-secret", headers=headers
    )
    assert rotated.status_code == 200, rotated.text
    token = await new_token(merchant, ["payments.get"], client_id)
    revoked = await merchant.http.delete(
        f"/api/payment-applications/{client_id}/tokens/{token['id']}", headers=headers
    )
    assert revoked.status_code == 204
    payment = await merchant.create_payment()
    cancelled = await merchant.http.post(f"/payment/request/{payment['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    entries = await every_entry(merchant)
    kinds = [e["kind"] for e in reversed(entries)]
    assert kinds == [  # the account's creation is account-wide: the dashboard's, not the API's
        "api_key.created",
        "client_token.created",
        "application.created",
        "application.updated",
        "webhook_secret.rotated",
        "client_token.created",
        "client_token.revoked",
        "payment.cancelled",
    ]
    by_kind = {e["kind"]: e for e in entries}
    updated = by_kind["application.updated"]
    assert updated["changes"] == {"name": ["Web shop", "Renamed shop"]}
    assert updated["actor"] == {
        "kind": "api_key",
        "id": updated["actor"]["id"],
        "label": merchant.credentials.client_id,
        "address": "127.0.0.1",
    }
    assert by_kind["api_key.created"]["actor"]["kind"] == "cli"
    assert by_kind["payment.cancelled"]["targetId"] == payment["id"]
    assert by_kind["payment.cancelled"]["changes"]["status"] == ["pending", "cancelled"]
    assert [e["seq"] for e in entries] == list(range(len(entries) + 1, 1, -1))  # #1: account.created
    for newer, older in itertools.pairwise(entries):
        assert newer["prevHash"] == older["hash"]

    secrets = [
        merchant.credentials.client_secret,
        merchant.credentials.client_token,
        merchant.credentials.webhook_secret,
        app["webhookSecret"],
        rotated.json()["webhookSecret"],
        token["token"],
        await merchant.token(),
    ]
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM audit_entries WHERE account_id = :a",
            {"a": uuid.UUID(merchant.credentials.account_id)},
        )
    dump = repr([tuple(r[k] for k in _COLUMNS) for r in rows])
    assert len(rows) == len(entries) + 1  # and account.created
    for secret in secrets:
        assert secret not in dump


_COLUMNS = ("actor_id", "actor_label", "address", "action", "target_id", "changes")


async def test_filters_and_cursor(merchant: Merchant) -> None:
    app = await new_application(merchant)
    await new_token(merchant, ["payments.get"], app["clientId"])
    await new_token(merchant, ["*"], app["clientId"])
    tokens = await every_entry(merchant, kind="client_token")
    assert [e["kind"] for e in tokens] == ["client_token.created"] * 3
    exact = await audit_log(merchant, kind="application.created")
    assert [e["targetId"] for e in exact["data"]] == [app["clientId"]]
    by_cli = await every_entry(merchant, actor="cli")
    assert {e["kind"] for e in by_cli} == {"api_key.created", "client_token.created"}
    by_key = await every_entry(merchant, actor=merchant.credentials.client_id)
    assert [e["kind"] for e in by_key] == [
        "client_token.created",
        "client_token.created",
        "application.created",
    ]
    last = tokens[0]["at"]
    assert (await audit_log(merchant, since=last))["data"][0]["id"] == tokens[0]["id"]
    assert all(e["at"] < last for e in (await audit_log(merchant, until=last, limit=100))["data"])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-01-01T00:00:00"}, "until"),
        ({"cursor": "abc"}, "cursor"),
        ({"actor": "a\x00b"}, "actor"),
    ],
)
async def test_bad_filters_are_422_naming_the_parameter(
    merchant: Merchant, params: dict[str, str], param: str
) -> None:
    answer = await merchant.http.get("/api/audit-log", params=params, headers=await merchant.headers())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == param


async def test_only_access_tokens_with_star_read_it(merchant: Merchant) -> None:
    narrow = await merchant.http.get("/api/audit-log", headers=await merchant.headers("payments.get"))
    assert narrow.status_code == 403
    client_token = await merchant.http.get(
        "/api/audit-log", headers=bearer(merchant.credentials.client_token)
    )
    assert client_token.status_code == 403
    nobody = await merchant.http.get("/api/audit-log")
    assert nobody.status_code == 401


async def test_another_account_and_environment_see_nothing_of_it(
    merchant: Merchant, make_merchant: Any, services: Services
) -> None:
    from tests.fixtures.factories import second_key

    await new_application(merchant, name="Secret project")
    other = await make_merchant()
    seen = await every_entry(other)
    assert all(e["kind"] != "application.created" for e in seen)
    assert {e["targetId"] for e in seen}.isdisjoint({merchant.credentials.account_id})
    production = await second_key(services, merchant, "production")
    in_production = await every_entry(production)
    # sandbox changes only in the sandbox; the account-wide entries (here the account's
    # creation) in neither: the API shows one environment's entries
    assert in_production == []
    assert "account.created" not in {e["kind"] for e in seen}


async def test_rolled_back_change_leaves_no_entry(
    merchant: Merchant, services: Services, db: Database
) -> None:
    from payreq.application.schemas import ApplicationCreate

    checked = await services.applications.check_webhook_url(None)

    subject = await services.authenticator.authenticate(f"Bearer {await merchant.token()}")
    before = len(await every_entry(merchant))
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await services.applications.create(
                conn, subject, ApplicationCreate(name="Never"), webhook=checked
            )
            raise RuntimeError("the unit fails after the change")
    assert len(await every_entry(merchant)) == before
    listed = await merchant.http.get("/api/payment-applications", headers=await merchant.headers())
    assert "Never" not in listed.text
    async with db.transaction() as conn:
        await services.applications.create(conn, subject, ApplicationCreate(name="Kept"), webhook=checked)
    assert (await every_entry(merchant))[0]["kind"] == "application.created"


async def test_entries_cannot_be_updated_or_deleted(merchant: Merchant, db: Database) -> None:
    account = uuid.UUID(merchant.credentials.account_id)
    for statement in (
        "UPDATE audit_entries SET action = 'nothing' WHERE account_id = :a",
        "DELETE FROM audit_entries WHERE account_id = :a",
    ):
        with pytest.raises(Exception, match="append-only"):  # each engine raises its own error
            async with db.transaction() as conn:
                await conn.execute(statement, {"a": account})
    assert len(await every_entry(merchant)) == 2  # bootstrap's key and client token


async def test_concurrent_changes_keep_one_unbroken_chain(merchant: Merchant, services: Services) -> None:
    app = await new_application(merchant)
    results = await asyncio.gather(
        *(new_token(merchant, ["payments.get"], app["clientId"]) for _ in range(12))
    )
    assert len(results) == 12
    entries = await every_entry(merchant)
    # one chain, no gap: #1 is the account's creation, account-wide, which the API leaves out
    assert [e["seq"] for e in entries] == list(range(len(entries) + 1, 1, -1))
    verified = await services.audit.verify(services.db)
    assert [p for p in verified.problems if str(p.account_id) == merchant.credentials.account_id] == []


async def test_a_refused_change_records_nothing(merchant: Merchant) -> None:
    before = len(await every_entry(merchant))
    answer = await merchant.http.post(
        "/api/payment-applications", json={"name": ""}, headers=await merchant.headers()
    )
    assert answer.status_code == 422
    assert len(await every_entry(merchant)) == before


async def test_a_secret_passed_by_mistake_is_redacted(
    merchant: Merchant, services: Services, db: Database
) -> None:
    from payreq.audit.models import Actor

    async with db.transaction() as conn:
        await services.audit.record(
            conn,
            Actor.cli("test"),
            account_id=uuid.UUID(merchant.credentials.account_id),
            environment="sandbox",
            action="client_token.created",
            target_type="client_token",
            target_id=None,
            changes={
                "token": merchant.credentials.client_token,
                "nested": [{"s": merchant.credentials.webhook_secret}],
            },
        )
    entry = (await audit_log(merchant))["data"][0]
    assert entry["changes"] == {"token": "[redacted]", "nested": [{"s": "[redacted]"}]}
