"""Client tokens over contract B (SPEC §3, seeds/api-authentication.txt): created with a
label, scopes and an optional expiry; the secret shown once and stored only as a
digest; listed with ``lastUsedAt``; revoked and expired tokens refused on the next
request."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.config import Settings
from payreq.db import tables
from payreq.db.base import sqlite_path
from payreq.kit.crypto import digest
from payreq.services import Services
from tests.application.conftest import bearer, checkout_ok, new_application, new_token
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of

SECRET = re.compile(r"prq_ct_sbx_[0-9A-Za-z]{32}")
CREATED_KEYS = {"id", "label", "scopes", "expiresAt", "createdAt", "token"}
PLUS_TWO = timezone(timedelta(hours=2))
LISTED_KEYS = {"id", "label", "scopes", "expiresAt", "createdAt", "lastUsedAt"}


def tokens_url(merchant: Merchant, client_id: str | None = None) -> str:
    return f"/api/payment-applications/{client_id or merchant.credentials.application_client_id}/tokens"


async def listed(merchant: Merchant, client_id: str | None = None) -> list[dict[str, Any]]:
    answer = await merchant.http.get(tokens_url(merchant, client_id), headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_create_answers_the_secret_once_and_the_list_never(merchant: Merchant) -> None:
    created = await new_token(merchant, ["payments.create", "payments.get"], label="  Checkout server ")
    assert set(created) == CREATED_KEYS
    assert SECRET.fullmatch(created["token"])
    assert created["label"] == "Checkout server"
    assert created["scopes"] == ["payments.create", "payments.get"]
    assert created["expiresAt"] is None
    uuid.UUID(created["id"])

    answer = await merchant.http.get(tokens_url(merchant), headers=await merchant.headers())
    assert created["token"] not in answer.text
    assert merchant.credentials.client_token not in answer.text
    rows = answer.json()["data"]
    assert all(set(row) == LISTED_KEYS for row in rows)
    assert rows[0] == {k: v for k, v in created.items() if k != "token"} | {"lastUsedAt": None}
    assert [r["label"] for r in rows] == ["Checkout server", "Bootstrap token"]  # newest first


async def test_the_new_token_works_with_its_scopes_only(merchant: Merchant, http: httpx.AsyncClient) -> None:
    token = (await new_token(merchant, ["payments.create"]))["token"]
    payment = await checkout_ok(http, token, merchant.credentials.application_client_id)
    answer = await http.get(f"/api/payment/{payment['id']}", headers=bearer(token))
    error = error_of(answer, 403, "permission_error")
    assert error["message"] == "Insufficient permissions"
    assert 'scope="payments.get"' in answer.headers["www-authenticate"]


async def test_a_token_with_an_expiry_answers_401_once_it_passes(
    merchant: Merchant, http: httpx.AsyncClient, services: Services, clock: MovableClock
) -> None:
    expires = services.clock() + timedelta(minutes=10)
    created = await new_token(merchant, ["*"], expiresAt=expires.astimezone(PLUS_TWO).isoformat())
    assert datetime.fromisoformat(created["expiresAt"]) == expires
    assert created["expiresAt"].endswith("Z")
    payment = await checkout_ok(http, created["token"], merchant.credentials.application_client_id)
    clock.advance(599)
    assert (
        await http.get(f"/api/payment/{payment['id']}", headers=bearer(created["token"]))
    ).status_code == 200
    clock.advance(2)
    answer = await http.get(f"/api/payment/{payment['id']}", headers=bearer(created["token"]))
    error = error_of(answer, 401, "authentication_error")
    assert error["message"] == "Unauthenticated"
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    # an expired token is still listed, so the merchant sees why it stopped working
    assert created["id"] in [t["id"] for t in await listed(merchant)]


async def test_revoked_token_is_401_on_the_very_next_request_and_leaves_the_list(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    created = await new_token(merchant, ["*"])
    payment = await checkout_ok(http, created["token"], merchant.credentials.application_client_id)
    url = f"{tokens_url(merchant)}/{created['id']}"
    answer = await http.delete(url, headers=await merchant.headers())
    assert answer.status_code == 204
    assert answer.content == b""
    refused = await http.get(f"/api/payment/{payment['id']}", headers=bearer(created["token"]))
    error_of(refused, 401, "authentication_error")
    refused = await http.get(f"/payment/request/{payment['id']}", headers=bearer(created["token"]))
    error_of(refused, 401, "authentication_error")
    assert created["id"] not in [t["id"] for t in await listed(merchant)]
    # a second revocation finds nothing to revoke
    error_of(await http.delete(url, headers=await merchant.headers()), 404, "not_found")
    # the other tokens of the application keep working
    other = await http.get(f"/api/payment/{payment['id']}", headers=bearer(merchant.credentials.client_token))
    assert other.status_code == 200


@pytest.mark.parametrize("token_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_revoking_an_unknown_token_is_404(merchant: Merchant, token_id: str) -> None:
    answer = await merchant.http.delete(
        f"{tokens_url(merchant)}/{token_id}", headers=await merchant.headers()
    )
    assert error_of(answer, 404, "not_found")["message"] == "No such client token."


async def test_a_token_is_revoked_only_through_its_own_application(merchant: Merchant) -> None:
    other_app = await new_application(merchant)
    created = await new_token(merchant, ["*"])  # of the default application
    wrong = f"{tokens_url(merchant, other_app['clientId'])}/{created['id']}"
    error_of(await merchant.http.delete(wrong, headers=await merchant.headers()), 404, "not_found")
    assert created["id"] in [t["id"] for t in await listed(merchant)]


async def test_tokens_are_listed_per_application(merchant: Merchant) -> None:
    app = await new_application(merchant)
    mine = await new_token(merchant, ["payments.get"], app["clientId"])
    assert [t["id"] for t in await listed(merchant, app["clientId"])] == [mine["id"]]
    assert mine["id"] not in [t["id"] for t in await listed(merchant)]


# -- lastUsedAt ---------------------------------------------------------------------


async def test_last_used_at_is_recorded_at_most_once_a_minute(
    merchant: Merchant, http: httpx.AsyncClient, services: Services, clock: MovableClock
) -> None:
    created = await new_token(merchant, ["*"])
    before = services.clock()
    payment = await checkout_ok(http, created["token"], merchant.credentials.application_client_id)
    (row,) = [t for t in await listed(merchant) if t["id"] == created["id"]]
    first = datetime.fromisoformat(row["lastUsedAt"])
    assert before <= first <= services.clock()

    clock.advance(30)
    for _ in range(3):
        assert (
            await http.get(f"/api/payment/{payment['id']}", headers=bearer(created["token"]))
        ).status_code == 200
    (row,) = [t for t in await listed(merchant) if t["id"] == created["id"]]
    assert datetime.fromisoformat(row["lastUsedAt"]) == first  # not rewritten within the minute

    clock.advance(31)
    moment = services.clock()
    assert (
        await http.get(f"/api/payment/{payment['id']}", headers=bearer(created["token"]))
    ).status_code == 200
    (row,) = [t for t in await listed(merchant) if t["id"] == created["id"]]
    assert moment <= datetime.fromisoformat(row["lastUsedAt"]) <= services.clock()


async def test_a_refused_token_records_no_use(
    merchant: Merchant, http: httpx.AsyncClient, services: Services
) -> None:
    created = await new_token(merchant, ["*"])
    await http.delete(f"{tokens_url(merchant)}/{created['id']}", headers=await merchant.headers())
    error_of(await http.get("/api/payment/x", headers=bearer(created["token"])), 401, "authentication_error")
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT last_used_at, revoked_at FROM client_tokens WHERE id = :id",
            {"id": uuid.UUID(created["id"])},
        )
    assert row is not None
    assert row["revoked_at"] is not None
    assert row["last_used_at"] is None


# -- validation ---------------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], int, str]] = [
    ({"label": "x", "scopes": ["payments.refund"]}, 422, "scopes"),
    ({"label": "x", "scopes": ["payments.get", "admin"]}, 422, "scopes"),
    ({"label": "x", "scopes": []}, 422, "scopes"),
    ({"label": "x", "scopes": "payments.get"}, 422, "scopes"),
    ({"label": "", "scopes": ["*"]}, 422, "label"),
    ({"label": "   ", "scopes": ["*"]}, 422, "label"),
    ({"label": "x" * 201, "scopes": ["*"]}, 422, "label"),
    ({"label": "x", "scopes": ["*"], "expiresAt": "2020-01-01T00:00:00Z"}, 422, "expiresAt"),
    ({"label": "x", "scopes": ["*"], "expiresAt": "2099-01-01T00:00:00"}, 422, "expiresAt"),
    ({"label": "x", "scopes": ["*"], "expiresAt": "2099-01-01"}, 422, "expiresAt"),
    ({"label": "x", "scopes": ["*"], "expiresAt": "next week"}, 422, "expiresAt"),
    ({"label": "x", "scopes": ["*"], "expiresAt": 4102444800}, 422, "expiresAt"),
    ({"scopes": ["*"]}, 400, "label"),
    ({"label": "x"}, 400, "scopes"),
]


@pytest.mark.parametrize(
    ("body", "status", "param"), INVALID, ids=[f"{p}-{i}" for i, (_, _, p) in enumerate(INVALID)]
)
async def test_create_refuses_a_bad_field_naming_it(
    merchant: Merchant, body: dict[str, Any], status: int, param: str
) -> None:
    answer = await merchant.http.post(tokens_url(merchant), json=body, headers=await merchant.headers())
    error = error_of(answer, status, "validation_error" if status == 422 else "invalid_request")
    assert error["param"] == param
    assert len(await listed(merchant)) == 1  # only the bootstrap token


async def test_an_expiry_a_second_ago_is_422(merchant: Merchant, services: Services) -> None:
    body = {"label": "x", "scopes": ["*"], "expiresAt": rfc3339(services.clock() - timedelta(seconds=1))}
    answer = await merchant.http.post(tokens_url(merchant), json=body, headers=await merchant.headers())
    assert error_of(answer, 422, "validation_error")["param"] == "expiresAt"


async def test_duplicate_scopes_are_kept_once(merchant: Merchant) -> None:
    created = await new_token(merchant, ["payments.get", "payments.get", "*"])
    assert created["scopes"] == ["payments.get", "*"]


async def test_the_client_token_of_the_application_cannot_manage_tokens(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    token = merchant.credentials.client_token  # scope *
    for answer in (
        await http.get(tokens_url(merchant), headers=bearer(token)),
        await http.post(tokens_url(merchant), json={"label": "x", "scopes": ["*"]}, headers=bearer(token)),
    ):
        assert error_of(answer, 403, "permission_error")["message"] == "Insufficient permissions"


# -- the secret is kept nowhere -----------------------------------------------------


async def all_stored_text(services: Services) -> str:
    """Every row of every table, as text."""
    parts: list[str] = []
    async with services.db.read() as conn:
        for table in tables.metadata.sorted_tables:
            for row in await conn.fetch_all(f"SELECT * FROM {table.name}"):
                parts.append(repr([row[c.name] for c in table.columns]))
    return "\n".join(parts)


async def test_the_secret_is_in_no_answer_but_creation_and_in_no_database_column(
    merchant: Merchant, http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    created = await new_token(merchant, ["*"])
    secret = created["token"]
    payment = await checkout_ok(http, secret, merchant.credentials.application_client_id)
    answers = [
        await http.get(f"/api/payment/{payment['id']}", headers=bearer(secret)),
        await http.get(f"/payment/request/{payment['id']}", headers=bearer(secret)),
        await http.get(tokens_url(merchant), headers=await merchant.headers()),
        await http.get("/api/payment-applications", headers=await merchant.headers()),
        await http.get(
            f"/api/payment-applications/{merchant.credentials.application_client_id}",
            headers=await merchant.headers(),
        ),
        await http.get("/api/payments", headers=await merchant.headers()),
    ]
    assert all(a.status_code == 200 for a in answers)
    for answer in answers:
        assert secret not in answer.text
        assert secret not in str(answer.headers)

    stored = await all_stored_text(services)
    assert digest(secret) in stored  # the dump holds the token's row...
    assert secret not in stored  # ...but never the secret
    assert secret[len("prq_ct_sbx_") :] not in stored

    if settings.is_sqlite:
        path = Path(sqlite_path(settings.database_url))
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        # read by a child process: closing a descriptor of the database file here would
        # drop the POSIX locks of the suite's open connection, and the next process to
        # open the file would take it for unused and reset its WAL index (disk I/O error)
        raw = subprocess.run(["cat", *map(str, files)], capture_output=True, check=True).stdout
        assert digest(secret).encode() in raw  # the files were read where the row lives...
        assert secret.encode() not in raw  # ...and hold no trace of the secret
        assert secret[len("prq_ct_sbx_") :].encode() not in raw
