"""Importing a statement file: read it, then reconcile it in short batches.

The one place that opens units of work outside an edge, on purpose, so that an
import of any size is bounded in time per transaction and in memory:

- the file is parsed off the event loop, in a thread, a batch of lines at a time
  (the parsers are generators: what is held is the file, at most 10 MiB, and one
  batch); a first pass in the thread reads it through, so that a file that cannot
  be read is refused (422) before anything is written;
- each batch is one short write transaction, closed after ``BATCH_LINES`` lines or
  ``BATCH_SECONDS``, whichever comes first: its lines' effects (a payment marked
  paid, its event, the remembered line) and their report rows commit together, with
  the import's progress. Between batches the database is free, so on SQLite (one
  connection per process) other requests are served in between;
- if anything goes wrong part-way, the import is recorded as ``failed`` with the
  reason, its report lists exactly the lines that were applied, and the error says
  so; importing the file again applies the rest (the others are duplicates).

The API route and the CLI both call ``StatementService.run`` with the database they own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import msgspec
import structlog

from payreq.account.service import AccountService
from payreq.auth.subject import Tenant
from payreq.db import Connection, Database
from payreq.db import observer as hook
from payreq.errors import Conflict, PayreqError
from payreq.method import repository
from payreq.method.statements import camt, csv_format
from payreq.method.statements.model import Statement, StatementLine, StatementUnreadable
from payreq.method.statements.reconcile import Applied, Reconciler
from payreq.method.statements.report import empty_summary
from payreq.payment.service import PaymentService

log = structlog.get_logger("payreq.statements")

BATCH_LINES = 200
BATCH_SECONDS = {"sqlite": 0.004, "postgresql": 0.25}
"""A batch's budget of time. On SQLite (one connection per process, in the event
loop) it is what another request waits at most for the database, plus the commit;
on PostgreSQL a batch has its own connection and holds only the rows it changed
(the payments it pays), so it is bounded by ``BATCH_LINES`` and a quarter second."""
YIELD_EVERY = 8
"""The parsing thread lets go of the GIL every this many lines (a few hundred
microseconds of work): without it, the event loop waits up to the interpreter's
switch interval (5 ms) each time it wants the GIL back, several times per request."""
MAX_LINES = 200_000
"""More lines than any day's statement holds; a file above it is refused whole."""

_FAMILIES = {"csv": "csv", "camt": "camt", "camt053": "camt", "camt.053": "camt", "camt054": "camt"}
_FAMILIES |= {"camt.054": "camt", "xml": "camt"}
_MEDIA_TYPES = {"text/csv": "csv", "application/csv": "csv", "application/xml": "camt", "text/xml": "camt"}

Progress = Callable[[int, int], None]
"""Called after each batch with (lines done, lines in all)."""
T = TypeVar("T")


def choose_family(data: bytes, *, format: str | None = None, media_type: str | None = None) -> str:
    """``csv`` or ``camt``: an explicit ``format`` (csv, camt.053, camt.054), else the
    media type, else the content: XML begins with ``<`` (or a UTF-16 byte-order mark)."""
    if format:
        chosen = _FAMILIES.get(format.strip().lower())
        if chosen is None:
            raise StatementUnreadable(
                "format must be csv, camt.053 or camt.054.", code="unknown_format", param="format"
            )
        return chosen
    if media_type:
        chosen = _MEDIA_TYPES.get(media_type.split(";", 1)[0].strip().lower())
        if chosen is not None:
            return chosen
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "camt" if head.startswith((b"<", b"\xff\xfe", b"\xfe\xff")) else "csv"


def read(data: bytes, *, format: str | None = None, media_type: str | None = None) -> Statement:
    """The statement, not parsed yet (``StatementService.run`` parses it off the loop)."""
    if not data.strip():
        raise StatementUnreadable("The statement is empty.", code="empty_statement")
    if choose_family(data, format=format, media_type=media_type) == "csv":
        return Statement(format=csv_format.FORMAT, data=data, parser=csv_format.parse)
    return Statement(format="camt", data=data, parser=camt.parse)


def read_through(statement: Statement) -> tuple[str, int]:
    """The format's name and the number of lines, or StatementUnreadable (in a thread)."""
    name = camt.document_format(statement.data) if statement.format == "camt" else statement.format
    count = 0
    for _ in statement.lines():
        count += 1
        if count % YIELD_EVERY == 0:
            time.sleep(0)  # see YIELD_EVERY
        if count > MAX_LINES:
            raise StatementUnreadable(
                f"The statement has more than {MAX_LINES:,} lines; split it into smaller files.",
                code="statement_too_long",
            )
    return name, count


STALE_AFTER = timedelta(minutes=10)
"""A running import with no batch committed for this long was interrupted: a batch
commits every fraction of a second while one runs (the worker's sweep records it)."""


class ImportInterrupted(Conflict):
    """The import was recorded as interrupted while this process still applied it."""

    default_code = "import_interrupted"


class ImportStopped(PayreqError):
    """An import that stopped part-way for an unexpected reason (500), with what it
    applied on record."""

    default_code = "import_stopped"


@dataclass(frozen=True, slots=True)
class Started:
    import_id: uuid.UUID
    total: int
    zone: ZoneInfo


class StatementImporter:
    def __init__(self, payments: PaymentService, accounts: AccountService) -> None:
        self.payments = payments
        self.accounts = accounts
        self.reconciler = Reconciler(payments)

    async def run(
        self,
        db: Database,
        tenant: Tenant,
        statement: Statement,
        then: Callable[[Connection, uuid.UUID], Awaitable[T]],
        *,
        source: str,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> T:
        """Import ``statement``; what ``then`` reads in the unit that records it finished
        (its report's first page): the request's last write, so that an idempotent
        request's answer commits with it."""
        started = await self.start(db, tenant, statement, source=source, filename=filename)
        return await self.apply(db, tenant, statement, started, then, progress=progress)

    async def start(
        self, db: Database, tenant: Tenant, statement: Statement, *, source: str, filename: str | None = None
    ) -> Started:
        """Read the file through (off the loop: 422 if it cannot be read) and record the
        import as running; nothing is applied yet."""
        name, total = await asyncio.to_thread(read_through, statement)
        import_id = uuid.uuid4()
        async with db.transaction() as conn:
            zone = await self.accounts.timezone(conn, tenant.account_id)
            await repository.insert_import(
                conn,
                id=import_id,
                tenant=tenant,
                format=name,
                source=source,
                filename=filename[:255] if filename else None,
                line_count=total,
                summary=_json(empty_summary()),
                at=self.payments.clock(),
            )
        return Started(import_id=import_id, total=total, zone=zone)

    async def apply(
        self,
        db: Database,
        tenant: Tenant,
        statement: Statement,
        started: Started,
        then: Callable[[Connection, uuid.UUID], Awaitable[T]],
        *,
        progress: Progress | None = None,
    ) -> T:
        """Apply a started import's lines, batch by batch, and record it finished (or
        failed, with what it applied on record); what ``then`` reads in that last unit."""
        import_id, total, zone = started.import_id, started.total, started.zone
        summary = empty_summary()
        lines = statement.lines()
        done = 0
        # the thread parses the next lines while the loop applies the ones before
        ahead: asyncio.Future[list[StatementLine]] | None = None
        try:
            ahead = asyncio.ensure_future(asyncio.to_thread(_take, lines, BATCH_LINES))
            pending = await ahead
            ahead = asyncio.ensure_future(asyncio.to_thread(_take, lines, BATCH_LINES)) if pending else None
            while pending:
                applied = await self._batch(db, tenant, import_id, pending, zone, done, summary)
                done += applied
                pending = pending[applied:]
                if not pending and ahead is not None:
                    pending = await ahead
                    ahead = (
                        asyncio.ensure_future(asyncio.to_thread(_take, lines, BATCH_LINES))
                        if pending
                        else None
                    )
                if progress is not None:
                    progress(done, total)
        except Exception as exc:
            if ahead is not None:
                await asyncio.wait([ahead])  # the thread finishes its batch before the generator is dropped
            await self._stopped(db, import_id, done, summary, exc)
        except asyncio.CancelledError:  # the server is stopping (a background import)
            if ahead is not None:
                await asyncio.wait([ahead])
            await self._interrupted(db, import_id, done)
            raise
        async with db.transaction() as conn:
            await repository.record_progress(
                conn,
                import_id,
                lines_done=done,
                summary=_json(summary),
                now=self.payments.clock(),
                status="finished",
                at=self.payments.clock(),
            )
            hook.last_write(conn)
            return await then(conn, import_id)

    async def _batch(
        self,
        db: Database,
        tenant: Tenant,
        import_id: uuid.UUID,
        lines: list[StatementLine],
        zone: Any,
        done: int,
        summary: dict[str, int],
    ) -> int:
        """Apply lines in one transaction until the batch's time budget is spent; how
        many were applied (and counted in ``summary`` once committed)."""
        counts: Counter[str] = Counter()
        deadline = time.perf_counter() + BATCH_SECONDS[db.dialect]
        applied = 0
        async with db.transaction() as conn, self.payments.changing_many(conn):
            await repository.take_import_turn(conn, tenant)
            rows = []
            for line in lines:
                result = await self.reconciler.apply(conn, tenant, import_id, line, zone=zone)
                rows.append(_row(result))
                counts[result.report.outcome] += 1
                applied += 1
                if time.perf_counter() >= deadline:
                    break
            await repository.insert_report_lines(conn, import_id, rows)
            merged = {key: summary[key] + counts[key] for key in summary}
            still_running = await repository.record_progress(
                conn, import_id, lines_done=done + applied, summary=_json(merged), now=self.payments.clock()
            )
            if not still_running:  # recorded interrupted meanwhile: this batch is not applied
                raise ImportInterrupted(
                    "The import was recorded as interrupted while it ran (it made no progress for "
                    f"{STALE_AFTER.seconds // 60} minutes); importing the same file again applies the rest."
                )
        summary.update(merged)
        await asyncio.sleep(0)  # let the requests that waited for the database go first
        return applied

    async def _interrupted(self, db: Database, import_id: uuid.UUID, done: int) -> None:
        """The server stopped before the import finished: say so on its record. The
        count of lines is the record's own: a batch whose commit was under way when the
        task was cancelled still commits, with its count, after ``done`` was read."""
        log.warning("statement_import_interrupted", import_id=str(import_id), lines_done=done)
        try:
            async with db.transaction() as conn:
                await repository.interrupt_import(conn, import_id, now=self.payments.clock())
        except Exception:  # the worker's sweep records it once it is stale
            log.exception("statement_import_not_marked_interrupted", import_id=str(import_id))

    async def _stopped(
        self, db: Database, import_id: uuid.UUID, done: int, summary: dict[str, int], exc: Exception
    ) -> NoReturn:
        """Record the import as failed, with what stopped it; the lines it applied are
        already on record (each batch committed them with their report rows)."""
        reason = exc.message if isinstance(exc, PayreqError) else "an unexpected error (see the server log)"
        log.error("statement_import_stopped", import_id=str(import_id), lines_done=done, exc_info=exc)
        try:
            async with db.transaction() as conn:
                await repository.record_progress(
                    conn,
                    import_id,
                    lines_done=done,
                    summary=_json(summary),
                    now=self.payments.clock(),
                    status="failed",
                    error=f"Stopped after {done} lines: {reason}",
                    at=self.payments.clock(),
                )
        except Exception:  # the database may be what failed; the import then reads as running
            log.exception("statement_import_not_marked_failed", import_id=str(import_id))
        message = (
            f"The import {import_id} stopped after {done} lines ({reason}). GET /api/statements/{import_id} "
            "shows what was applied; importing the same file again applies the rest."
        )
        if isinstance(exc, PayreqError):  # keep its status (503 when the database went away)
            exc.message = message
            exc.args = (message,)
            raise exc
        raise ImportStopped(message) from exc


def _take(lines: Iterator[StatementLine], count: int) -> list[StatementLine]:
    """In a thread: the next ``count`` lines."""
    taken = []
    for line in islice(lines, count):
        taken.append(line)
        if len(taken) % YIELD_EVERY == 0:
            time.sleep(0)  # see YIELD_EVERY
    return taken


def _row(result: Applied) -> dict[str, Any]:
    line = result.report
    return {
        "line": line.line,
        "statement_line_id": result.statement_line_id,
        "outcome": line.outcome,
        "message": line.message,
        "amount": line.amount,
        "currency": line.currency_code,
        "direction": line.direction,
        "booking_date": line.booking_date,
        "bank_reference": line.bank_reference,
        "payer": line.payer,
        "transfer_reference": line.transfer_reference,
        "payment_id": uuid.UUID(line.payment_id) if line.payment_id else None,
        "payment_status": line.payment_status,
    }


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
