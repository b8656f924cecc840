"""A background import (``Prefer: respond-async``) whose process stops never reads
``running`` for ever: a server that shuts down records it interrupted with the lines it
applied; one that dies leaves it to the worker's sweep, which records it interrupted
once it made no progress for ``STALE_AFTER``. Importing the file again applies the rest.
Both engines, over the API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from payreq.method import repository
from payreq.method.statements.importer import STALE_AFTER, read
from payreq.services import Services
from payreq.worker.runner import Worker
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, imported
from tests.method.statements import csv_text
from tests.payment.conftest import tenant_of

ROWS = [f"B-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(6000)]


async def _report(merchant: Merchant, import_id: str) -> dict[str, Any]:
    answer = await merchant.http.get(f"/api/statements/{import_id}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


async def _start_in_background(merchant: Merchant, rows: list[str]) -> str:
    headers = {**(await merchant.headers()), "Content-Type": "text/csv", "Prefer": "respond-async"}
    answer = await merchant.http.post("/api/statements", content=csv_text(*rows), headers=headers)
    assert answer.status_code == 202, answer.text
    import_id: str = answer.json()["id"]
    return import_id


async def _running_import(merchant: Merchant) -> str:
    """A background import of ``ROWS`` that has applied some of its lines and runs on."""
    await bank_application(merchant)
    import_id = await _start_in_background(merchant, ROWS)
    for _ in range(400):
        report = await _report(merchant, import_id)
        if report["linesDone"] > 0:
            assert report["status"] == "running", report
            return import_id
        await asyncio.sleep(0.01)
    raise AssertionError("the background import applied nothing")


async def _sweep(services: Services) -> None:
    await Worker(services).run_once()  # its first pass does the housekeeping


async def test_a_server_that_stops_records_its_background_import_interrupted(
    merchant: Merchant, services: Services
) -> None:
    import_id = await _running_import(merchant)

    await services.methods.statements.stop()  # what the server's shutdown does

    report = await _report(merchant, import_id)
    assert report["status"] == "failed"
    done = report["linesDone"]
    assert 0 < done < len(ROWS)
    assert report["error"] == (
        f"The import was interrupted: the process applying it stopped (the server shut down) after {done} "
        "lines. Importing the same file again applies the rest."
    )
    assert sum(report["summary"].values()) == done  # what it applied, and no more
    again = await imported(merchant, csv_text(*ROWS))
    assert again["status"] == "finished"
    assert again["summary"]["duplicate"] == done and again["summary"]["unmatched"] == len(ROWS) - done


async def test_the_worker_records_an_import_whose_process_died_interrupted(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    await bank_application(merchant)
    tenant = tenant_of(merchant)
    importer = services.methods.statements.importer
    # what a killed process leaves behind: recorded running, and nothing will apply it
    dead = await importer.start(services.db, tenant, read(csv_text(*ROWS[:10])), source="api")
    clock.advance(STALE_AFTER.total_seconds() - 60)
    recent = await importer.start(services.db, tenant, read(csv_text(*ROWS[:10])), source="api")
    clock.advance(61)

    await _sweep(services)

    report = await _report(merchant, str(dead.import_id))
    assert report["status"] == "failed"
    assert report["error"] == (
        "The import was interrupted: the process applying it stopped after 0 lines. "
        "Importing the same file again applies the rest."
    )
    assert (await _report(merchant, str(recent.import_id)))["status"] == "running"  # 9 minutes: not yet
    finished = await imported(merchant, csv_text(*ROWS[:5]))
    clock.advance(STALE_AFTER.total_seconds() * 2)
    await _sweep(services)
    assert (await _report(merchant, finished["id"]))["status"] == "finished"
    assert (await _report(merchant, str(recent.import_id)))["status"] == "failed"


async def test_an_import_recorded_interrupted_while_it_still_runs_applies_no_more(
    merchant: Merchant, services: Services
) -> None:
    import_id = await _running_import(merchant)
    # the sweep's verdict on an import whose batch stalled past STALE_AFTER (a batch
    # that waited that long on a lock); its task then goes on
    now = services.clock()
    async with services.db.transaction() as conn:
        assert await repository.interrupt_stale_imports(conn, before=now + timedelta(seconds=1), now=now) >= 1
    marked = await _report(merchant, import_id)
    assert marked["status"] == "failed"
    for _ in range(200):  # the background task meets the mark at its next batch and stops
        if not services.methods.statements._background:
            break
        await asyncio.sleep(0.02)
    assert not services.methods.statements._background

    after = await _report(merchant, import_id)
    assert after["status"] == "failed" and after["error"] == marked["error"]
    assert after["linesDone"] == marked["linesDone"] == sum(after["summary"].values())
    assert after["lineCount"] == len(ROWS) > after["linesDone"]
