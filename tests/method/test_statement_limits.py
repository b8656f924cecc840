"""Statement imports a hostile or unlucky tenant cannot turn against the server, over
the real API on SQLite and PostgreSQL: XML with a DOCTYPE (in UTF-16 too) is refused,
an amount no column can hold is an invalid line, a report is paged, and an import
that stops part-way says what it applied."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Any

import asyncpg
import pytest

from payreq.config import Settings
from payreq.db import connect
from payreq.db.base import DatabaseUnavailable, sqlite_path
from payreq.method.statements.importer import read
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.method.conftest import (
    bank_application,
    event_types,
    import_statement,
    imported,
    new_payment,
    outcomes,
    status_of,
    transfer_reference,
)
from tests.method.statements import NS_08, csv_text
from tests.payment.conftest import error_of, tenant_of


def _camt_text(text: str, *, encoding: str, doctype: str = "") -> str:
    """A one-entry camt.053 declaring ``encoding``, whose remittance is ``text``."""
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>{doctype}'
        f'<Document xmlns="{NS_08}"><BkToCstmrStmt><Stmt><Id>S</Id>'
        '<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        f"<BookgDt><Dt>2026-11-21</Dt></BookgDt><NtryDtls><TxDtls><RmtInf><Ustrd>{text}</Ustrd></RmtInf>"
        "</TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"
    )


def _utf16_camt(doctype: str, text: str) -> bytes:
    return _camt_text(text, encoding="UTF-16", doctype=doctype).encode("utf-16")


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]>"
)


async def test_a_utf16_billion_laughs_is_refused_without_being_expanded(merchant: Merchant) -> None:
    body = _utf16_camt(BILLION_LAUGHS, "&lol9;")
    assert b"<!DOCTYPE" not in body  # what a byte-level guard looks for is not there in UTF-16
    error = error_of(await import_statement(merchant, body, "application/xml"), 422, "validation_error")
    assert error["code"] == "unreadable_statement"
    assert "DOCTYPE" in error["message"]


async def test_an_entity_in_a_utf16_statement_never_reaches_reconciliation(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 1000)
    reference = await transfer_reference(merchant, payment["id"])
    body = _utf16_camt(f'<!DOCTYPE Document [<!ENTITY ref "{reference}">]>', "&ref;")
    error = error_of(await import_statement(merchant, body, "application/xml"), 422, "validation_error")
    assert "DOCTYPE" in error["message"]
    assert await status_of(merchant, payment["id"]) == "pending"
    # the same document without the DOCTYPE, in UTF-16, is read and applied
    plain = _utf16_camt("", reference)
    assert outcomes(await imported(merchant, plain, "application/xml")) == [(1, "matched")]


def _declared_camt(encoding: str, reference: str) -> bytes:
    """A camt.053 in ASCII bytes that declares ``encoding``: it would match the payment."""
    return _camt_text(reference, encoding=encoding).encode("ascii")


@pytest.mark.parametrize("encoding", ["shift_jis", "big5", "UTF-32", "utf-7", "no-such-encoding"])
async def test_a_declared_encoding_the_parser_cannot_read_is_refused_with_422(
    merchant: Merchant, encoding: str
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 1000)
    reference = await transfer_reference(merchant, payment["id"])
    error = error_of(
        await import_statement(merchant, _declared_camt(encoding, reference), "application/xml"),
        422,
        "validation_error",
    )
    assert error["code"] == "unreadable_statement"
    assert "encoding" in error["message"]
    assert await status_of(merchant, payment["id"]) == "pending"
    listed = await merchant.http.get("/api/statements", headers=await merchant.headers())
    assert listed.status_code == 200 and listed.json()["data"] == []  # nothing was recorded
    # a single-byte encoding expat reads is imported as before
    plain = _declared_camt("ISO-8859-1", reference)
    assert outcomes(await imported(merchant, plain, "application/xml")) == [(1, "matched")]


@pytest.mark.parametrize("amount", [str(2**63), "92233720368547758.08", "9" * 40])
async def test_an_amount_no_column_can_hold_is_an_invalid_line_and_the_rest_applies(
    merchant: Merchant, services: Services, amount: str
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 1000)
    reference = await transfer_reference(merchant, payment["id"])
    body = csv_text(
        f"B-1,2026-11-21,{amount},JPY,{reference},Big",
        f"B-2,2026-11-21,10.00,EUR,{reference},Small",
    )
    report = await imported(merchant, body)
    assert outcomes(report) == [(2, "invalid"), (3, "matched")]
    assert report["status"] == "finished" and report["linesDone"] == 2
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_a_report_is_paged_by_cursor(merchant: Merchant) -> None:
    body = csv_text(*(f"P-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(250)))
    report = await imported(merchant, body)
    assert (report["lineCount"], report["linesDone"], report["summary"]["unmatched"]) == (250, 250, 250)
    seen = [line["line"] for line in report["lines"]]
    assert len(seen) == 100 and report["nextCursor"] == str(seen[-1])
    cursor = report["nextCursor"]
    while cursor is not None:
        page = await merchant.http.get(
            f"/api/statements/{report['id']}?cursor={cursor}", headers=await merchant.headers()
        )
        assert page.status_code == 200, page.text
        seen += [line["line"] for line in page.json()["lines"]]
        cursor = page.json()["nextCursor"]
    assert seen == list(range(2, 252))
    small = await merchant.http.get(
        f"/api/statements/{report['id']}?limit=7", headers=await merchant.headers()
    )
    assert len(small.json()["lines"]) == 7 and small.json()["nextCursor"] == "8"
    for bad in ("abc", "-1"):
        error = error_of(
            await merchant.http.get(
                f"/api/statements/{report['id']}?cursor={bad}", headers=await merchant.headers()
            ),
            422,
            "validation_error",
        )
        assert error["param"] == "cursor"


# one engine: the file is read through (off the loop, 200,001 lines: half a minute on a
# loaded machine) before the import touches the database, so the refusal is the same on both
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_statement_of_too_many_lines_is_refused_whole(merchant: Merchant, backend: str) -> None:
    body = b"amount,currency,reference\n" + b"1,JPY,x\n" * 200_001
    error = error_of(await import_statement(merchant, body), 422, "validation_error")
    assert error["code"] == "statement_too_long"


# -- an import that stops part-way -------------------------------------------------------------


class _Blocker:
    """Takes the database away from the import after its first batch: an exclusive
    lock on the report table (PostgreSQL) or the whole file (SQLite), held until the
    import has given up; then lets go, so the import can record that it failed."""

    def __init__(self, database_url: str, hold: float) -> None:
        self.url = database_url
        self.hold = hold
        self.task: asyncio.Task[None] | None = None
        self.released = asyncio.Event()

    def after_first_batch(self, done: int, total: int) -> None:
        if self.task is not None:
            return
        if self.url.startswith("sqlite:"):
            # at once, between the batches: the first one's COMMIT is durable and the next
            # has not begun (a task would run only once the next batch holds SQLite's
            # write lock in the server's group-commit transaction, and then wait for it)
            conn = sqlite3.connect(sqlite_path(self.url), isolation_level=None, timeout=0)
            conn.execute("BEGIN IMMEDIATE")
            self.task = asyncio.get_running_loop().create_task(self._hold_sqlite(conn))
        else:
            self.task = asyncio.get_running_loop().create_task(self._block_postgres())

    async def _hold_sqlite(self, conn: sqlite3.Connection) -> None:
        await asyncio.sleep(self.hold)
        conn.execute("ROLLBACK")
        conn.close()
        self.released.set()

    async def _block_postgres(self) -> None:
        pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        transaction = pg.transaction()
        await transaction.start()
        await pg.execute("LOCK TABLE statement_report_lines IN ACCESS EXCLUSIVE MODE")
        await asyncio.sleep(self.hold)
        await transaction.rollback()
        await pg.close()
        self.released.set()


async def test_an_import_that_loses_its_database_part_way_says_what_it_applied(
    merchant: Merchant, settings: Settings, services: Services
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 1000)
    reference = await transfer_reference(merchant, payment["id"])
    # the first line pays; the rest are many enough for several batches
    rows = [f"F-0,2026-11-21,10.00,EUR,{reference},First"]
    rows += [f"F-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(1, 3000)]
    statement = read(csv_text(*rows))
    timeout = 0.5
    db = connect(settings.database_url, timeout=timeout, pool_size=2)
    await db.open()
    blocker = _Blocker(settings.database_url, hold=timeout * 1.5)
    try:
        own = Services.build(settings, db, clock=services.clock)
        with pytest.raises(DatabaseUnavailable) as stopped:
            await own.methods.statements.run(
                db, tenant_of(merchant), statement, source="api", progress=blocker.after_first_batch
            )
        await blocker.released.wait()
    finally:
        await db.close()
    message = stopped.value.message
    assert "stopped after" in message and "/api/statements/" in message
    import_id = message.split("The import ", 1)[1].split(" ", 1)[0]
    uuid.UUID(import_id)

    first = await merchant.http.get(
        f"/api/statements/{import_id}?limit=1000", headers=await merchant.headers()
    )
    assert first.status_code == 200, first.text
    report: dict[str, Any] = first.json()
    assert report["status"] == "failed" and "Stopped after" in report["error"]
    done = report["linesDone"]
    assert 0 < done < 3000 and report["lineCount"] == 3000
    listed = [line["line"] for line in report["lines"]]
    assert listed == list(range(2, 2 + min(done, 1000)))
    assert sum(report["summary"].values()) == done and report["summary"]["matched"] == 1
    assert await status_of(merchant, payment["id"]) == "paid"

    # the same file again applies the rest; what was applied comes back as duplicate
    again = await imported(merchant, csv_text(*rows))
    assert again["status"] == "finished"
    assert again["summary"]["duplicate"] == done and again["summary"]["unmatched"] == 3000 - done
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_prefer_respond_async_answers_202_at_once_and_the_import_is_polled(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 1000)
    reference = await transfer_reference(merchant, payment["id"])
    rows = [f"A-0,2026-11-21,10.00,EUR,{reference},First"]
    rows += [f"A-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(1, 1500)]
    headers = {**(await merchant.headers()), "Content-Type": "text/csv", "Prefer": "respond-async"}
    answer = await merchant.http.post("/api/statements", content=csv_text(*rows), headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.headers["preference-applied"] == "respond-async"
    started = answer.json()
    assert started["status"] == "running" and started["lineCount"] == 1500
    for _ in range(600):
        polled = await merchant.http.get(f"/api/statements/{started['id']}", headers=await merchant.headers())
        if polled.json()["status"] != "running":
            break
        await asyncio.sleep(0.05)
    report = polled.json()
    assert report["status"] == "finished" and report["linesDone"] == 1500
    assert report["summary"]["matched"] == 1 and report["summary"]["unmatched"] == 1499
    assert await status_of(merchant, payment["id"]) == "paid"
    # an unreadable file is still refused at once, with nothing recorded
    bad = await merchant.http.post("/api/statements", content=b"date,amount\n1,2\n", headers=headers)
    assert error_of(bad, 422, "validation_error")["code"] == "unreadable_statement"
