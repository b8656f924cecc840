"""A large statement is imported while another tenant keeps working: its requests stay
fast, because the file is parsed in a thread and applied in short batches that each
free the database. A file of exactly the largest allowed size (10 MiB) is accepted
and imported, one byte more is refused at the edge. Also: parsing holds one entry at a
time, not the whole document."""

from __future__ import annotations

import asyncio
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

from payreq.method.routes import MAX_STATEMENT_BYTES
from payreq.method.statements import camt
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, import_statement, new_payment
from tests.method.statements import Entry, Tx, camt053
from tests.payment.conftest import error_of

MakeMerchant = Callable[..., Awaitable[Merchant]]

LOAD_BYTES = 2 * 1024 * 1024
"""The file of the latency test: a fifth of the limit (about 30,000 lines). A batch,
its commit and the waits between batches are the same whatever the file's size, so a
larger file only makes the same measurement longer (a 10 MiB one took 3-4 minutes);
parsing even this file on the event loop takes seconds, far over the bound on the
slowest answer."""


def statement_csv(limit: int) -> bytes:
    """Just under ``limit`` bytes of CSV lines (all unmatched: each costs a claim and a
    report row)."""
    header = b"id,date,amount,currency,reference,payer\n"
    rows = []
    size = len(header)
    i = 0
    while True:
        row = (
            f"L-{i:07d},2026-11-21,{1 + i % 500}.00,EUR,invoice {i} thanks,Payer number {i % 997}\n".encode()
        )
        if size + len(row) > limit:
            break
        rows.append(row)
        size += len(row)
        i += 1
    return header + b"".join(rows)


def largest_camt(size: int) -> bytes:
    """A camt.053 of exactly ``size`` bytes: one entry whose additional information
    fills the document (a bank's statement of one long note)."""
    bare = camt053(Entry("10.00", servicer_ref="BIG-1", info="x"))
    return camt053(Entry("10.00", servicer_ref="BIG-1", info="x" * (size - len(bare) + 1)))


async def test_a_statement_of_exactly_the_largest_size_is_imported_and_one_byte_more_is_413(
    merchant: Merchant,
) -> None:
    body = largest_camt(MAX_STATEMENT_BYTES)
    assert len(body) == MAX_STATEMENT_BYTES
    answer = await import_statement(merchant, body, "application/xml")
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert (report["status"], report["lineCount"], report["linesDone"]) == ("finished", 1, 1)
    over = await import_statement(merchant, largest_camt(MAX_STATEMENT_BYTES + 1), "application/xml")
    error = error_of(over, 413, "payload_too_large")
    assert error["message"] == "The request body is larger than 10 MiB."


# SQLite only: the shared-connection engine is the one at risk; PostgreSQL imports on its
# own pooled connections
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_another_tenants_requests_stay_fast_during_a_large_import(
    merchant: Merchant, make_merchant: MakeMerchant, backend: str
) -> None:
    body = statement_csv(LOAD_BYTES)
    assert len(body) > LOAD_BYTES - 100
    other = await make_merchant()
    client_id = await bank_application(other)
    payment = await new_payment(other, client_id, 1000)
    headers = await other.headers()
    url = f"/api/payment/{payment['id']}"
    assert (await other.http.get(url, headers=headers)).status_code == 200

    async def probe_idle(count: int) -> list[float]:
        got = []
        for _ in range(count):
            started = time.perf_counter()
            answer = await other.http.get(url, headers=headers)
            got.append(time.perf_counter() - started)
            assert answer.status_code == 200
            await asyncio.sleep(0.01)
        return got

    idle = await probe_idle(50)
    importing = asyncio.create_task(import_statement(merchant, body))
    during: list[float] = []
    stalls = [0.0]  # how much later than asked each pause between probes ended
    while not importing.done():
        started = time.perf_counter()
        answer = await other.http.get(url, headers=headers)
        during.append(time.perf_counter() - started)
        assert answer.status_code == 200
        paused = time.perf_counter()
        await asyncio.sleep(0.01)
        stalls.append(time.perf_counter() - paused - 0.01)
    result = importing.result()
    assert result.status_code == 201, result.text
    report = result.json()
    assert report["status"] == "finished" and report["linesDone"] == report["lineCount"] > 25_000
    during.sort()
    p50 = statistics.median(during) * 1000
    p99 = during[int(len(during) * 0.99)] * 1000
    print(
        f"\nidle p50 {statistics.median(idle) * 1000:.2f} ms; during the import ({len(during)} probes) "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {during[-1] * 1000:.2f} ms; "
        f"longest stall between probes {max(stalls) * 1000:.2f} ms"
    )
    assert len(during) > 50
    assert p50 < 5, f"median {p50:.2f} ms"
    # the floor of a wait: one batch (4 ms of work) and its commit's fsync (5-8 ms here),
    # on a shared machine under load
    assert p99 < 40, f"p99 {p99:.2f} ms"
    assert during[-1] < 0.5, f"max {during[-1] * 1000:.0f} ms"
    # a request arriving while the loop is held waits as long: parsing 2 MiB on the
    # loop holds it for seconds, between two probes as easily as during one
    assert max(stalls) < 0.5, f"the event loop stopped for {max(stalls) * 1000:.0f} ms"


def parse_peak(entries: int) -> int:
    """The most memory parsing a camt.053 of ``entries`` entries held at once (bytes)."""
    data = camt053(
        *(
            Entry("10.00", servicer_ref=f"M-{i}", txs=[Tx("10.00", unstructured=[f"invoice {i} " * 4])])
            for i in range(entries)
        )
    )
    assert len(data) > entries * 500
    tracemalloc.start()
    try:
        count = 0
        for _ in camt.parse(data):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == entries
    return peak


def test_parsing_a_camt_file_holds_one_entry_at_a_time() -> None:
    # a stream's peak does not grow with the document; a tree's grows with it (kept
    # entries of the 1 MiB document take 8 MiB, of the 0.25 MiB one 2 MiB). Under
    # tracemalloc each entry costs milliseconds, so the documents are this small.
    small, large = parse_peak(500), parse_peak(2_000)
    assert large < 1.5 * small, (
        f"peak {small / 1024:.0f} KiB for 500 entries, {large / 1024:.0f} KiB for 2,000"
    )
    assert large < 1024 * 1024, f"peak {large / 1024 / 1024:.1f} MiB"
