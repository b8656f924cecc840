"""What a keyed creation costs the database, and what its shorter way must keep.

On PostgreSQL the key's claim carries the application's read (``transaction(first=...)``)
and the answer goes with the COMMIT (``commit_with``, its values written in as hex
literals), so a keyed creation sends as many statements as an unkeyed one. These tests
hold that count, and the answers those shortcuts must not change: an application not
found, an answer full of quotes and backslashes, and an answer that cannot be stored."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from payreq.db import postgres
from payreq.idempotency import repository
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.idempotency.conftest import body, key_rows, keyed, new_key, payments_with_reference
from tests.idempotency.test_replay import checkout_body
from tests.payment.conftest import error_of

POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"], indirect=True, scope="session")
"""Runs the test on PostgreSQL alone (no SQLite run to skip under CI)."""


class Sent:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Counts the round trips PostgreSQL units make (every statement and COMMIT)."""
    counter = Sent()

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return method(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        postgres.PostgresConnection, "_attempt", counted(postgres.PostgresConnection._attempt)
    )
    monkeypatch.setattr(postgres.PostgresConnection, "_commit", counted(postgres.PostgresConnection._commit))
    yield counter


@POSTGRES_ONLY  # SQLite's statements are calls into the library, not round trips
async def test_a_keyed_creation_sends_as_many_statements_as_an_unkeyed_one(
    merchant: Merchant, services: Services, sent: Sent
) -> None:
    assert services.db.dialect == "postgresql"
    headers = await merchant.headers()
    assert (await merchant.http.post("/payment/request", json=body(), headers=headers)).status_code == 201

    before = sent.count
    plain = await merchant.http.post("/payment/request", json=body(), headers=headers)
    unkeyed = sent.count - before
    before = sent.count
    answer = await merchant.http.post("/payment/request", json=body(), headers=keyed(headers, new_key()))
    with_key = sent.count - before

    assert (plain.status_code, answer.status_code) == (201, 201)
    # BEGIN, the claim with the application's read, the payment with its event, its
    # delivery and its rollups, the answer with the COMMIT
    assert (unkeyed, with_key) == (4, 4)


async def test_a_keyed_checkout_for_an_unknown_client_id_answers_404_as_without_a_key(
    merchant: Merchant, services: Services
) -> None:
    headers = await merchant.headers()
    sent = checkout_body(merchant, clientId=uuid.uuid4().hex)
    key = new_key()

    plain = await merchant.http.post("/api/payment/checkout", json=sent, headers=headers)
    first = await merchant.http.post("/api/payment/checkout", json=sent, headers=keyed(headers, key))
    again = await merchant.http.post("/api/payment/checkout", json=sent, headers=keyed(headers, key))

    expected = error_of(plain, 404, "not_found")
    found = error_of(first, 404, "not_found")
    assert (found["code"], found["message"], found["param"]) == (
        expected["code"],
        expected["message"],
        "clientId",
    )
    assert (again.status_code, again.headers["idempotent-replayed"]) == (404, "true")
    assert again.content == first.content
    assert await payments_with_reference(services, sent["reference"]) == 0


async def test_a_keyed_checkout_with_a_client_token_uses_its_own_application(
    merchant: Merchant, services: Services
) -> None:
    headers = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    mine = checkout_body(merchant)
    other = checkout_body(merchant, clientId=uuid.uuid4().hex)

    created = await merchant.http.post("/api/payment/checkout", json=mine, headers=keyed(headers, new_key()))
    refused = await merchant.http.post("/api/payment/checkout", json=other, headers=keyed(headers, new_key()))

    assert created.status_code == 201, created.text
    assert created.json()["clientId"] == merchant.credentials.application_client_id
    assert error_of(refused, 403, "permission_error")["code"] == "application_mismatch"
    assert await payments_with_reference(services, other["reference"]) == 0


async def test_an_answer_and_a_key_full_of_quotes_and_backslashes_are_kept_byte_for_byte(
    merchant: Merchant, services: Services
) -> None:
    # what the answer's statement (sent with the COMMIT, its values written in) must hold
    reference = "o'brien\\'); DELETE FROM payments; -- $$ \\x41 é ☃ " + uuid.uuid4().hex
    key = "k'\\'); DROP TABLE idempotency_keys; --" + uuid.uuid4().hex
    headers = keyed(await merchant.headers(), key)

    first = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)
    again = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)

    assert first.status_code == 201, first.text
    assert first.json()["reference_id"] == reference
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    rows = [row for row in await key_rows(services, merchant) if row["idempotency_key"] == key]
    assert len(rows) == 1 and bytes(rows[0]["body"]) == first.content
    assert await payments_with_reference(services, reference) == 1


async def test_an_answer_that_cannot_be_stored_keeps_nothing_and_answers_503(
    merchant: Merchant, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), key)
    working = repository._RECORD
    # fails as it runs (on PostgreSQL: with the COMMIT, which then keeps nothing)
    monkeypatch.setattr(repository, "_RECORD", working.replace("SET status = :status", "SET no_column = 1"))

    failed = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)

    assert error_of(failed, 503, "service_unavailable")["code"] == "database_unavailable"
    assert await payments_with_reference(services, reference) == 0
    assert [row for row in await key_rows(services, merchant) if row["idempotency_key"] == key] == []

    monkeypatch.setattr(repository, "_RECORD", working)
    retried = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)
    assert retried.status_code == 201, retried.text
    assert await payments_with_reference(services, reference) == 1


SAFE = re.compile(
    r"NULL|TRUE|FALSE|-?[0-9]+|'[0-9a-f-]{36}'::uuid|decode\('[0-9a-f]*', 'hex'\)"
    r"|convert_from\(decode\('[0-9a-f]*', 'hex'\), 'UTF8'\)"
)
"""All a literal may be: digits, hex digits and fixed words; nothing of the value."""


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "'",
        "''); DROP TABLE payments; --",
        "\\",
        "\\x41\\\\",
        '$$ $tag$ " ; COMMIT;',
        "é ☃ \U0001f600 \u202e",
        b"",
        bytes(range(256)),
        b"'\\",
        0,
        -(2**31),
        2**31 - 1,
        True,
        False,
        None,
        uuid.UUID("00000000-0000-0000-0000-000000000000"),
        uuid.uuid4(),
    ],
)
@POSTGRES_ONLY  # literals are for PostgreSQL's COMMIT
async def test_a_literal_reads_back_as_the_value_it_was_made_of(services: Services, value: Any) -> None:
    assert services.db.dialect == "postgresql"
    literal = postgres.literal(value)
    assert SAFE.fullmatch(literal), literal
    async with services.db.read() as conn:
        row = await conn.fetch_one(f"SELECT {literal} AS value")
    assert row is not None
    read = row["value"]
    assert (bytes(read) if isinstance(value, bytes) else read) == value
    assert isinstance(read, bool) == isinstance(value, bool)


def test_a_literal_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        postgres.literal(1.5)
    with pytest.raises(UnicodeEncodeError):
        postgres.literal("\udc80")
