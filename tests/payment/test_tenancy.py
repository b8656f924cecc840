"""Tenancy (SPEC §1-2): a credential sees its own account and environment only. Anything
else answers 404 exactly as an id that never existed would, and lists never show it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from payreq.services import Services
from tests.fixtures.factories import Merchant, second_key
from tests.payment.conftest import error_of, event_types, without_request_id

MakeMerchant = Callable[..., Awaitable[Merchant]]


async def not_found_bodies(merchant: Merchant, payment_id: str) -> tuple[dict[str, object], ...]:
    """GET and cancel of ``payment_id`` by ``merchant``: both must be the plain 404."""
    headers = await merchant.headers()
    read = await merchant.http.get(f"/payment/request/{payment_id}", headers=headers)
    cancel = await merchant.http.post(f"/payment/request/{payment_id}/cancel", headers=headers)
    for answer in (read, cancel):
        error_of(answer, 404, "not_found")
    return without_request_id(read), without_request_id(cancel)


async def test_other_accounts_request_is_404_like_an_unknown_id(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    other = await make_merchant()
    theirs = await other.create_payment(reference_id="their-order")

    foreign = await not_found_bodies(merchant, theirs["id"])
    unknown = await not_found_bodies(merchant, str(uuid.uuid4()))
    malformed = await not_found_bodies(merchant, "abc")

    assert foreign == unknown == malformed
    assert foreign[0] == {
        "type": "not_found",
        "code": "resource_missing",
        "message": "No such payment request.",
    }
    assert theirs["id"] not in str(foreign)
    read = await other.http.get(f"/payment/request/{theirs['id']}", headers=await other.headers())
    assert read.json()["status"] == "pending"
    assert await event_types(services, theirs["id"]) == ["payment.created"]


@pytest.mark.parametrize(
    "payment_id", ["abc", "0", "%20", "not-a-uuid-at-all", "00000000-0000-0000-0000-00000000000g"]
)
async def test_malformed_id_is_the_same_404_as_an_unknown_id(merchant: Merchant, payment_id: str) -> None:
    assert await not_found_bodies(merchant, payment_id) == await not_found_bodies(merchant, str(uuid.uuid4()))


@pytest.mark.parametrize("payment_id", ["../x", "..%2Fx", "%2e%2e%2fx"])
async def test_path_traversal_id_is_a_404_envelope(merchant: Merchant, payment_id: str) -> None:
    headers = await merchant.headers()
    unknown = await merchant.http.get(f"/payment/request/{uuid.uuid4()}", headers=headers)
    for answer in (
        await merchant.http.get(f"/payment/request/{payment_id}", headers=headers),
        await merchant.http.post(f"/payment/request/{payment_id}/cancel", headers=headers),
    ):
        error = error_of(answer, 404, "not_found")
        assert set(error) == set(unknown.json()["error"])


async def test_production_and_sandbox_of_one_account_do_not_see_each_other(
    make_merchant: MakeMerchant, services: Services
) -> None:
    production = await make_merchant(environment="production")
    sandbox = await second_key(services, production, "sandbox")
    assert production.credentials.account_id == sandbox.credentials.account_id
    live = await production.create_payment()
    test = await sandbox.create_payment()
    assert (live["environment"], test["environment"]) == ("production", "sandbox")

    unknown = await not_found_bodies(sandbox, str(uuid.uuid4()))
    assert await not_found_bodies(sandbox, live["id"]) == unknown
    assert await not_found_bodies(production, test["id"]) == unknown

    for viewer, own, other in ((production, live, test), (sandbox, test, live)):
        listed = await viewer.http.get("/payment/request", headers=await viewer.headers())
        assert [p["id"] for p in listed.json()["data"]] == [own["id"]]
        read = await viewer.http.get(f"/payment/request/{own['id']}", headers=await viewer.headers())
        assert read.json()["status"] == "pending"
        assert await event_types(services, other["id"]) == ["payment.created"]


async def test_listing_never_shows_another_accounts_requests(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    mine = [await merchant.create_payment(reference_id="shared-ref") for _ in range(2)]
    theirs = [await other.create_payment(reference_id="shared-ref") for _ in range(3)]
    cancelled = await other.http.post(
        f"/payment/request/{theirs[0]['id']}/cancel", headers=await other.headers()
    )
    assert cancelled.status_code == 200

    async def listed(who: Merchant, **params: str) -> set[str]:
        answer = await who.http.get("/payment/request", params=params, headers=await who.headers())
        assert answer.status_code == 200, answer.text
        return {p["id"] for p in answer.json()["data"]}

    my_ids, their_ids = {p["id"] for p in mine}, {p["id"] for p in theirs}
    assert await listed(merchant) == my_ids
    assert await listed(merchant, reference_id="shared-ref") == my_ids
    assert await listed(merchant, status="pending", limit="100") == my_ids
    assert await listed(merchant, status="cancelled") == set()
    assert await listed(other) == their_ids
    assert await listed(other, status="cancelled") == {theirs[0]["id"]}


async def test_another_accounts_request_is_not_a_valid_cursor(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    other = await make_merchant()
    await merchant.create_payment()
    theirs = await other.create_payment()

    answer = await merchant.http.get(
        "/payment/request", params={"starting_after": theirs["id"]}, headers=await merchant.headers()
    )

    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "starting_after"
    unknown = await merchant.http.get(
        "/payment/request", params={"starting_after": str(uuid.uuid4())}, headers=await merchant.headers()
    )
    assert without_request_id(answer) == without_request_id(unknown)


async def test_token_of_one_account_cannot_cancel_anothers_request(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    other = await make_merchant()
    theirs = await other.create_payment()

    answer = await merchant.http.post(
        f"/payment/request/{theirs['id']}/cancel", headers=await merchant.headers()
    )

    error_of(answer, 404, "not_found")
    still = await other.http.get(f"/payment/request/{theirs['id']}", headers=await other.headers())
    assert still.json()["status"] == "pending"
    assert await event_types(services, theirs["id"]) == ["payment.created"]
    mine = await other.http.post(f"/payment/request/{theirs['id']}/cancel", headers=await other.headers())
    assert mine.status_code == 200
