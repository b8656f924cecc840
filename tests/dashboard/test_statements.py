"""The Statements page in process (SQLite and PostgreSQL through the ``db`` fixture):
upload the shared camt.053 fixture as a browser's multipart form, each line's outcome
with its payment linked, resolving late lines once, bad files refused beside the
field, a large file imported in the background with its progress shown."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from html import unescape
from typing import Any

import pytest
from litestar import Litestar

from payreq.dashboard import statements as statements_page
from payreq.method.statements import importer
from payreq.method.statements.importer import StatementImporter
from payreq.method.statements.reconcile import Reconciler
from tests.dashboard.conftest import DashboardClient
from tests.dashboard.statement_data import bank_payments, camt053
from tests.dashboard.test_keys import create_key

SignedIn = Callable[..., Awaitable[DashboardClient]]
XML = "application/xml"
REFRESH = '<noscript><meta http-equiv="refresh" content="2"></noscript>'


def outcomes(page: str) -> list[tuple[int, str]]:
    return [(int(n), o) for n, o in re.findall(r'data-line="(\d+)" data-outcome="([a-z_]+)"', page)]


async def _upload(client: DashboardClient, body: bytes, name: str = "camt053-basic.xml") -> Any:
    return await client.upload(
        "/dashboard/statements", {"file": (name, body, XML)}, csrf_from="/dashboard/statements"
    )


async def _late_fixture(app: Litestar, owner: DashboardClient) -> tuple[str, str, bytes]:
    """Line 1 matches the first payment; the second is cancelled first, so line 2 is late."""
    (first, ref1), (second, ref2) = await bank_payments(app, owner, 12500, 9999)
    cancelled = await owner.post(
        f"/dashboard/payments/{second}/cancel", {}, csrf_from=f"/dashboard/payments/{second}"
    )
    assert cancelled.status_code == 303
    return first, second, camt053(ref1, ref2)


async def test_an_upload_reports_every_line_and_a_late_line_is_accepted_once(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    first, second, body = await _late_fixture(dashboard_app, owner)
    answer = await _upload(owner, body)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/dashboard/statements/[0-9a-f-]{36}", location)
    page = (await owner.get(location)).text
    assert outcomes(page) == [(1, "matched"), (2, "late"), (3, "unmatched"), (4, "debit")]
    assert "4 of 4 lines done" in page and "camt.053" in page
    assert f'href="/dashboard/payments/{first}"' in page and f'href="/dashboard/payments/{second}"' in page
    assert page.count('value="accept"') == 1  # only the late line offers a resolution
    import_id = location.rsplit("/", 1)[1]

    accepted = await owner.post(
        f"/dashboard/statements/{import_id}/lines/2/resolve", {"action": "accept"}, csrf_from=location
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"{location}?resolved=2#line-2"
    page = (await owner.get(f"{location}?resolved=2")).text
    assert "Line 2 is resolved." in page and "accepted</span>" in page and 'value="accept"' not in page
    detail = (await owner.get(f"/dashboard/payments/{second}")).text
    assert "paid</span>" in detail

    again = await owner.post(
        f"/dashboard/statements/{import_id}/lines/2/resolve", {"action": "refund_due"}, csrf_from=location
    )
    assert again.status_code == 409
    assert f"This line was resolved already (accepted by {owner.email})." in again.text
    assert "user:" not in again.text
    matched = await owner.post(
        f"/dashboard/statements/{import_id}/lines/1/resolve", {"action": "accept"}, csrf_from=location
    )
    assert matched.status_code == 409
    assert "Only late, partial or overpaid lines can be resolved; this line is matched." in matched.text
    odd = await owner.post(
        f"/dashboard/statements/{import_id}/lines/2/resolve", {"action": "keep"}, csrf_from=location
    )
    assert odd.status_code == 422 and "action must be accept or refund_due." in odd.text

    listing = (await owner.get("/dashboard/statements")).text
    assert f'href="/dashboard/statements/{import_id}"' in listing and "camt053-basic.xml" in listing


def resolution_of_line(page: str, line: int) -> str:
    row = re.search(rf'<tr id="line-{line}".*?<td data-label="Resolution">(.*?)</td>', page, re.S)
    assert row, page
    return " ".join(unescape(re.sub(r"<[^>]+>", "", row.group(1))).split())


async def test_the_page_says_who_resolved_a_line_in_words_a_person_reads(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    """The line records ``user:<id>`` or ``api_key:<id>``; the page names the team
    member by e-mail and the key by its label (escaped), never the raw id."""
    owner = await signed_in("owner")
    by_user = (await _upload(owner, (await _late_fixture(dashboard_app, owner))[2])).headers["location"]
    done = await owner.post(f"{by_user}/lines/2/resolve", {"action": "accept"}, csrf_from=by_user)
    assert done.status_code == 303
    assert resolution_of_line((await owner.get(by_user)).text, 2) == f"accepted by {owner.email}"

    other = (await _late_fixture(dashboard_app, owner))[2].replace(b"BANKREF-", b"BANKREF-B")  # new lines
    by_key = (await _upload(owner, other)).headers["location"]
    client_id, secret = await create_key(owner, "<b>shop</b> server")
    token = await owner.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    resolved = await owner.http.post(
        f"/api{by_key.removeprefix('/dashboard')}/lines/2/resolve",
        json={"action": "refund_due"},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolvedBy"].startswith("api_key:")  # the API keeps the recorded form
    page = (await owner.get(by_key)).text
    assert resolution_of_line(page, 2) == "refund due by API key <b>shop</b> server"
    assert "<b>shop</b>" not in page and "api_key:" not in page


async def test_a_resolver_of_another_account_is_never_named(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    """Names are looked up in the page's own account only: a line whose record names
    another account's user (written straight into the row here) reads as a former
    team member, not as that user's e-mail."""
    owner, stranger = await signed_in("owner"), await signed_in("owner")
    location = (await _upload(owner, (await _late_fixture(dashboard_app, owner))[2])).headers["location"]
    done = await owner.post(f"{location}/lines/2/resolve", {"action": "accept"}, csrf_from=location)
    assert done.status_code == 303
    services = dashboard_app.state.services
    async with services.db.transaction() as conn:
        other = await conn.fetch_one("SELECT id FROM users WHERE email = :e", {"e": stranger.email})
        mine = await conn.fetch_one("SELECT account_id FROM users WHERE email = :e", {"e": owner.email})
        assert other is not None and mine is not None
        await conn.execute(
            "UPDATE statement_lines SET resolved_by = :by WHERE account_id = :account AND resolution IS NOT NULL",
            {"by": f"user:{other['id']}", "account": mine["account_id"]},
        )
    page = (await owner.get(location)).text
    assert resolution_of_line(page, 2) == "accepted by a former team member"
    assert stranger.email not in page
    again = await owner.post(f"{location}/lines/2/resolve", {"action": "refund_due"}, csrf_from=location)
    assert again.status_code == 409
    assert "This line was resolved already (accepted by a former team member)." in again.text
    assert stranger.email not in again.text and "user:" not in again.text


def payment_status_of_line(page: str, line: int) -> str:
    row = re.search(rf'<tr id="line-{line}".*?</tr>', page, re.S)
    assert row, page
    found = re.search(r'<td data-label="Payment">.*?<span class="muted">([a-z]+)</span>', row.group(0), re.S)
    assert found, row.group(0)
    return found.group(1)


async def test_an_accepted_line_shows_the_payment_paid_on_the_statement_page(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    """The page reads the stored line as the API does: cancelled as imported, paid once
    accepted, on the import's page and on a later import's duplicate of the line."""
    owner = await signed_in("owner")
    _, _, body = await _late_fixture(dashboard_app, owner)
    location = (await _upload(owner, body)).headers["location"]
    assert payment_status_of_line((await owner.get(location)).text, 2) == "cancelled"
    done = await owner.post(f"{location}/lines/2/resolve", {"action": "accept"}, csrf_from=location)
    assert done.status_code == 303
    again = (await _upload(owner, body)).headers["location"]
    for page in (location, again):
        assert payment_status_of_line((await owner.get(page)).text, 2) == "paid", page


async def test_a_refund_due_line_leaves_the_payment_as_it_was(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    _, second, body = await _late_fixture(dashboard_app, owner)
    location = (await _upload(owner, body)).headers["location"]
    done = await owner.post(f"{location}/lines/2/resolve", {"action": "refund_due"}, csrf_from=location)
    assert done.status_code == 303
    assert "refund due</span>" in (await owner.get(location)).text
    assert "cancelled</span>" in (await owner.get(f"/dashboard/payments/{second}")).text


def lines_to_resolve(overview_page: str) -> int:
    found = re.search(r'<dd id="unresolved-lines">(\d+)</dd>', overview_page)
    assert found, overview_page
    return int(found.group(1))


async def test_the_overview_counts_a_line_to_resolve_until_it_is_resolved(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    """The overview's "Statement lines to resolve" is the statement pages' recount of the
    lines that still offer a decision: 1 after the upload, 0 once it is marked refund
    due, and a re-upload of the same file (a duplicate) adds none."""
    owner = await signed_in("owner")
    _, _, body = await _late_fixture(dashboard_app, owner)
    location = (await _upload(owner, body)).headers["location"]
    assert (await owner.get(location)).text.count('value="refund_due"') == 1
    assert lines_to_resolve((await owner.get("/dashboard/overview")).text) == 1
    done = await owner.post(f"{location}/lines/2/resolve", {"action": "refund_due"}, csrf_from=location)
    assert done.status_code == 303
    again = (await _upload(owner, body)).headers["location"]
    for page in (location, again):
        assert 'value="refund_due"' not in (await owner.get(page)).text
    assert lines_to_resolve((await owner.get("/dashboard/overview")).text) == 0


async def test_a_bad_upload_is_refused_beside_the_field_and_imports_nothing(signed_in: SignedIn) -> None:
    owner = await signed_in("owner")
    nothing = await owner.upload(
        "/dashboard/statements", {"file": ("", b"", XML)}, csrf_from="/dashboard/statements"
    )
    assert nothing.status_code == 422
    assert 'id="f-file-error">Choose a statement file.</p>' in nothing.text
    empty = await _upload(owner, b"  \n", "empty.csv")
    assert empty.status_code == 422
    assert 'id="f-file-error">The statement is empty.</p>' in empty.text
    wrong = await owner.upload(
        "/dashboard/statements",
        {"file": ("x.csv", b"date,amount\n", "text/csv")},
        {"format": "mt940"},
        csrf_from="/dashboard/statements",
    )
    assert wrong.status_code == 422 and "Choose CSV, camt.053 or camt.054." in wrong.text
    nul = await _upload(
        owner, b"date,amount,currency,reference,payer\n2026-11-21,1.00,EUR,x,Jo\x00hn\n", "n.csv"
    )
    assert nul.status_code == 422
    assert 'NUL character at line 2, column 5 ("payer")' in unescape(nul.text)
    assert (
        "No statements imported in this environment yet." in (await owner.get("/dashboard/statements")).text
    )
    # a form without the multipart file, or without its token, is refused outright
    assert (await owner.post("/dashboard/statements", {"format": "csv"})).status_code == 403
    forged = await owner.http.post(
        "/dashboard/statements",
        data={"csrf": "0" * 64},
        files={"file": ("a.xml", b"<Document/>", XML)},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert forged.status_code == 403 and "This form has expired or was not sent from this site" in forged.text
    assert (
        "No statements imported in this environment yet." in (await owner.get("/dashboard/statements")).text
    )


async def test_a_large_file_is_imported_in_the_background_with_its_progress_shown(
    signed_in: SignedIn, dashboard_app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await signed_in("owner")
    first, _, body = await _late_fixture(dashboard_app, owner)
    gate = asyncio.Event()
    apply = StatementImporter.apply

    async def held(self: StatementImporter, *args: Any, **kwargs: Any) -> None:
        await gate.wait()
        await apply(self, *args, **kwargs)

    monkeypatch.setattr(statements_page, "BACKGROUND_BYTES", 100)
    monkeypatch.setattr(StatementImporter, "apply", held)
    answer = await asyncio.wait_for(_upload(owner, body), 20)  # answered before any line is applied
    assert answer.status_code == 303
    location = answer.headers["location"]
    running = (await owner.get(location)).text
    assert 'id="import-status">running</span>' in running
    assert "0 of 4 lines done" in running and f'href="{location}">Refresh</a>' in running
    # it refreshes itself while it runs: a meta refresh without script, a marker for dashboard.js
    assert REFRESH in running and 'data-refresh="2"' in running
    assert '<progress id="import-bar" max="4" value="0"' in running
    assert "running</span>" in (await owner.get("/dashboard/statements")).text
    gate.set()
    for _ in range(200):
        page = (await owner.get(location)).text
        if 'id="import-status">finished' in page:
            break
        await asyncio.sleep(0.05)
    assert "4 of 4 lines done" in page and ">Refresh</a>" not in page
    assert "http-equiv" not in page and "data-refresh" not in page  # finished: it stops
    assert '<progress id="import-bar" max="4" value="4"' in page
    assert outcomes(page) == [(1, "matched"), (2, "late"), (3, "unmatched"), (4, "debit")]
    assert "paid</span>" in (await owner.get(f"/dashboard/payments/{first}")).text
    assert re.search(r"UTC, finished \d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", page)


async def test_an_import_that_stopped_part_way_says_stopped_not_finished(
    signed_in: SignedIn, dashboard_app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A background import that failed on its third line: its page reads failed, with
    the reason, the lines it applied, and when it stopped (not "finished")."""
    owner = await signed_in("owner")
    _, _, body = await _late_fixture(dashboard_app, owner)
    apply, seen = Reconciler.apply, []

    async def failing(self: Reconciler, *args: Any, **kwargs: Any) -> Any:
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("the bank's file broke the reconciler")
        return await apply(self, *args, **kwargs)

    monkeypatch.setattr(statements_page, "BACKGROUND_BYTES", 100)
    monkeypatch.setattr(Reconciler, "apply", failing)
    monkeypatch.setattr(importer, "BATCH_LINES", 1)  # each line its own batch: two stay applied
    answer = await _upload(owner, body)
    assert answer.status_code == 303
    location = answer.headers["location"]
    for _ in range(200):
        page = (await owner.get(location)).text
        if 'id="import-status">failed' in page:
            break
        await asyncio.sleep(0.05)
    assert 'id="import-status">failed</span> Stopped after 2 lines: an unexpected error' in page
    assert "2 of 4 lines done" in page
    assert re.search(r"UTC, stopped \d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", page)
    assert "finished" not in page


def listed(page: str) -> list[str]:
    return re.findall(r'<tr data-import-id="([0-9a-f-]{36})">', page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="(/dashboard/statements\?[^"#]+)#imports-heading" rel="{rel}"', page)
    return unescape(found.group(1)) if found else None


async def _csv_imports(owner: DashboardClient, count: int) -> list[str]:
    """``count`` one-line CSV imports through the upload form, oldest first; their ids."""
    made = []
    for n in range(count):
        body = f"id,amount,currency,reference\nD-{n},1.00,EUR,nothing {n}\n".encode()
        answer = await _upload(owner, body, f"day-{n}.csv")
        assert answer.status_code == 303, answer.text
        made.append(answer.headers["location"].rsplit("/", 1)[1])
    return made


async def test_every_import_is_listed_in_pages_with_newer_and_older_links(
    signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements_page, "IMPORTS_PER_PAGE", 2)
    owner = await signed_in("developer")
    newest_first = (await _csv_imports(owner, 5))[::-1]
    first = (await owner.get("/dashboard/statements")).text
    assert listed(first) == newest_first[:2] and link(first, "prev") is None
    pages, url = [listed(first)], link(first, "next")
    while url:  # follow "Older imports" to the end: the cursor lives in the URL
        assert url == f"/dashboard/statements?cursor={pages[-1][-1]}"
        page = (await owner.get(url)).text
        assert 'rel="prev">Newer imports</a>' in page
        pages.append(listed(page))
        last, url = page, link(page, "next")
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    # and back with "Newer imports", a full page at a time, to the newest
    back = link(last, "prev")
    assert back == f"/dashboard/statements?before={newest_first[4]}"
    middle = (await owner.get(back)).text
    assert listed(middle) == newest_first[2:4]
    top = (await owner.get(link(middle, "prev") or "")).text
    assert listed(top) == newest_first[:2] and link(top, "prev") is None
    assert link(top, "next") == f"/dashboard/statements?cursor={newest_first[1]}"
    # a bookmarked page reads the same again
    assert listed((await owner.get(f"/dashboard/statements?cursor={newest_first[1]}")).text) == pages[1]


async def test_a_cursor_of_another_account_or_environment_lists_nothing_of_theirs(
    signed_in: SignedIn,
) -> None:
    victim = await signed_in("owner")
    (theirs,) = await _csv_imports(victim, 1)
    intruder = await signed_in("owner")
    (mine,) = await _csv_imports(intruder, 1)
    for query in (f"cursor={theirs}", f"before={theirs}", "cursor=not-an-id", "before=1"):
        answer = await intruder.get(f"/dashboard/statements?{query}")
        assert answer.status_code == 422, query
        assert "That page of imports is not in this environment; here are the newest." in answer.text
        assert listed(answer.text) == [mine] and theirs not in answer.text
    # the other environment is another world: its list is empty, a sandbox id no cursor
    switched = await victim.post(
        "/dashboard/environment", {"environment": "production", "next": "/dashboard/statements"}
    )
    assert switched.status_code == 303
    production = (await victim.get("/dashboard/statements")).text
    assert listed(production) == [] and "No statements imported in this environment yet." in production
    assert (await victim.get(f"/dashboard/statements?cursor={theirs}")).status_code == 422
