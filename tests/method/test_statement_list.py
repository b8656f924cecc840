"""``GET /api/statements``: every import of the account and environment, newest first,
in cursor pages of the documented list shape (``data``, ``hasMore``, ``nextCursor``),
on SQLite and PostgreSQL; another account's or environment's imports are never listed
and their ids are no cursor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from payreq.services import Services
from tests.fixtures.factories import Merchant, second_key
from tests.fixtures.paging import walk
from tests.method.conftest import imported
from tests.payment.conftest import error_of

MakeMerchant = Callable[..., Awaitable[Merchant]]


async def _imports(merchant: Merchant, count: int, prefix: str = "L") -> list[str]:
    """``count`` one-line imports, oldest first; their ids."""
    made = []
    for n in range(count):
        body = f"id,amount,currency,reference\n{prefix}-{n},1.00,EUR,nothing {n}\n".encode()
        made.append((await imported(merchant, body))["id"])
    return made


async def _list(merchant: Merchant, query: str = "") -> Any:
    return await merchant.http.get(f"/api/statements{query}", headers=await merchant.headers())


async def test_every_import_is_listed_newest_first_in_cursor_pages(merchant: Merchant) -> None:
    made = await _imports(merchant, 5)
    seen, pages = await walk(lambda query: _list(merchant, query), limit=2)
    assert seen == made[::-1] and pages == 3
    # an item is the import's record without its lines: read the import for those
    first = (await _list(merchant, "?limit=1")).json()["data"][0]
    assert "lines" not in first and "nextCursor" not in first
    assert first["status"] == "finished" and first["lineCount"] == 1 and first["summary"]["unmatched"] == 1
    full = (await merchant.http.get(f"/api/statements/{made[-1]}", headers=await merchant.headers())).json()
    assert {k: v for k, v in full.items() if k not in ("lines", "nextCursor")} == first
    # the default page is 10, and a larger limit is clamped to 100
    assert len((await _list(merchant)).json()["data"]) == 5
    assert len((await _list(merchant, "?limit=1000")).json()["data"]) == 5


async def test_a_cursor_that_names_no_import_here_is_422(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    (mine,) = await _imports(merchant, 1)
    other = await make_merchant()
    (theirs,) = await _imports(other, 1, "T")
    production = await second_key(services, merchant, "production")
    (live,) = await _imports(production, 1, "P")
    for cursor in (theirs, live, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        error = error_of(await _list(merchant, f"?cursor={cursor}"), 422, "validation_error")
        assert error["code"] == "invalid_cursor" and error["param"] == "cursor", cursor
    assert (await _list(merchant, f"?cursor={mine}")).json() == {
        "data": [],
        "hasMore": False,
        "nextCursor": None,
    }


async def test_another_account_and_the_other_environment_list_only_their_own(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    sandbox = await _imports(merchant, 2)
    production = await second_key(services, merchant, "production")
    live = await _imports(production, 1, "P")
    other = await make_merchant()
    assert [i["id"] for i in (await _list(merchant)).json()["data"]] == sandbox[::-1]
    assert [i["id"] for i in (await _list(production)).json()["data"]] == live
    assert (await _list(other)).json() == {"data": [], "hasMore": False, "nextCursor": None}


async def test_the_list_needs_an_access_token_with_every_scope(merchant: Merchant) -> None:
    error_of(await merchant.http.get("/api/statements"), 401, "authentication_error")
    client_token = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    error_of(await merchant.http.get("/api/statements", headers=client_token), 403, "permission_error")
    narrow = {"Authorization": f"Bearer {await merchant.token('payments.get')}"}
    error_of(await merchant.http.get("/api/statements", headers=narrow), 403, "permission_error")
