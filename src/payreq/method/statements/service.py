"""Statements as the API, the CLI and the dashboard use them: import a file, read an
import's report a page at a time, resolve a late, partial or overpaid line.

Resolving is the merchant's decision on money that reached the account but did not
settle a payment by itself:

- ``accept``: the payment becomes paid (through the payment lifecycle, cause
  ``accepted``: from pending, expired or cancelled), with who accepted on record;
- ``refund_due``: noted, nothing else changes (the merchant sends the money back).

A report line's ``paymentStatus`` is stored, not read live: the payment's status
after the line was imported, and after its resolution once accepted (``paid``, on
every report row of that line, in the unit that paid it). The answer to a
resolution is the stored row read back, as every later read of it.

An accept takes the imports' turn (``repository.take_import_turn``) first, so that
an import repeating the line at the same time (a duplicate) never stores the status
it read before the accept paid the payment (PostgreSQL; SQLite serialises writers).

A line is resolved once: the resolution is a conditional update (``... WHERE
resolution IS NULL``), so of any number of concurrent resolutions one wins and the
others get 409; an ``accept`` whose payment cannot become paid (it is paid already)
is 409 too, and records nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from datetime import datetime
from enum import StrEnum

import msgspec

from payreq.account.service import AccountService
from payreq.application.service import tenant_of as subject_tenant
from payreq.audit.models import Actor
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject, Tenant
from payreq.db import Connection, Database, Row
from payreq.errors import Conflict, NotFound, ValidationFailed
from payreq.kit.clock import rfc3339
from payreq.kit.jsonbody import displayable
from payreq.kit.pagination import clamp_limit
from payreq.method import repository
from payreq.method.statements.importer import Progress, StatementImporter
from payreq.method.statements.model import Outcome, Statement
from payreq.method.statements.report import ImportPage, ImportRecord, ImportReport, LineReport
from payreq.payment.lifecycle import Cause, InvalidTransition, Status
from payreq.payment.service import PaymentService

MAX_LINE_NUMBER = 2**31 - 1
"""Line numbers are 32-bit columns: a larger one in a URL is simply not found."""
PAGE = 100
MAX_PAGE = 1000
RESOLVABLE = (Outcome.LATE.value, Outcome.PARTIAL.value, Outcome.OVERPAID.value)


class Resolution(StrEnum):
    ACCEPT = "accept"
    REFUND_DUE = "refund_due"


RECORDED = {Resolution.ACCEPT: "accepted", Resolution.REFUND_DUE: "refund_due"}


def recorded_by(actor: Actor) -> str:
    """How a line names who resolved it: ``api_key:<id>``, ``user:<id>``, ``cli``."""
    return actor.kind.value if actor.id is None else f"{actor.kind.value}:{actor.id}"


class StatementImportNotFound(NotFound):
    default_message = "No such statement import."


class LineNotFound(NotFound):
    default_message = "No such line in this statement import."


class NotResolvable(Conflict):
    default_code = "not_resolvable"


def tenant_of(who: Tenant | AuthSubject, permission: Permission) -> Tenant:
    """The tenant to act in: a ``Tenant`` as the API and the CLI pass it (their
    credential is the account's own), or a dashboard subject whose role must grant
    ``permission``: ``read`` for reports, ``develop`` for importing and resolving."""
    return who if isinstance(who, Tenant) else subject_tenant(who, permission)


def parse_import_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise StatementImportNotFound() from None


async def _nothing(conn: Connection, import_id: uuid.UUID) -> None:
    """A background import reads nothing back when it finishes."""


class StatementService:
    def __init__(self, payments: PaymentService, accounts: AccountService) -> None:
        self.payments = payments
        self.importer = StatementImporter(payments, accounts)
        self._background: set[asyncio.Task[None]] = set()

    async def run(
        self,
        db: Database,
        who: Tenant | AuthSubject,
        statement: Statement,
        *,
        source: str,
        filename: str | None = None,
        progress: Progress | None = None,
        limit: int | None = None,
    ) -> ImportReport:
        """Import a statement (in batches of short transactions); its report's first page."""
        tenant = tenant_of(who, Permission.DEVELOP)

        async def first_page(conn: Connection, import_id: uuid.UUID) -> ImportReport:
            return await self.report(conn, tenant, str(import_id), limit=limit)

        return await self.importer.run(
            db, tenant, statement, first_page, source=source, filename=filename, progress=progress
        )

    async def run_in_background(
        self,
        db: Database,
        who: Tenant | AuthSubject,
        statement: Statement,
        *,
        source: str,
        filename: str | None = None,
    ) -> ImportReport:
        """Read the file through (422 at once if it cannot be read), record the import
        as running, and apply it in this process's background; the record (poll it
        with ``report``). If the server stops first (``stop``), the import is recorded
        as interrupted with what it applied; if the process dies, the worker's sweep
        records that once it made no progress for ``STALE_AFTER``. Importing the file
        again applies the rest."""
        tenant = tenant_of(who, Permission.DEVELOP)
        started = await self.importer.start(db, tenant, statement, source=source, filename=filename)
        async with db.read() as conn:  # commits the record first: the task's batches update it
            report = await self.report(conn, tenant, str(started.import_id))
        work = self.importer.apply(db, tenant, statement, started, _nothing)
        # a fresh context: nothing of the request (its idempotency observer) follows the task
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._finished)
        return report

    async def stop(self) -> None:
        """The server is stopping: interrupt the background imports, each recorded as
        interrupted with the lines it applied (called before the database closes)."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # logged by the importer as statement_import_stopped

    async def imports(
        self,
        conn: Connection,
        who: Tenant | AuthSubject,
        *,
        cursor: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> ImportPage:
        """One page of the imports, newest first, each without its lines: from the
        newest, or older than ``cursor`` (a ``nextCursor``), or just newer than
        ``before`` (a ``newerCursor``; a full page, so from the newest when fewer are
        newer). A cursor is an import's id in this account and environment, else 422."""
        tenant = tenant_of(who, Permission.READ)
        size = clamp_limit(limit)
        if before is not None:
            newer = await repository.imports_page(
                conn, tenant, limit=size + 1, newer_than=await _position(conn, tenant, before, "before")
            )
            if len(newer) > size:
                items = [_record(row) for row in reversed(newer[:size])]
                return ImportPage(items=items, has_more=True, has_newer=True)
            cursor = None
        older = None if cursor is None else await _position(conn, tenant, cursor, "cursor")
        rows = await repository.imports_page(conn, tenant, limit=size + 1, older_than=older)
        items = [_record(row) for row in rows[:size]]
        return ImportPage(items=items, has_more=len(rows) > size, has_newer=older is not None)

    async def report(
        self,
        conn: Connection,
        who: Tenant | AuthSubject,
        import_id: str,
        *,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ImportReport:
        """An import's record and one page of its lines (``cursor``: the ``nextCursor``
        of the page before)."""
        tenant = tenant_of(who, Permission.READ)
        key = parse_import_id(import_id)
        row = await repository.import_by_id(conn, tenant, key)
        if row is None:
            raise StatementImportNotFound()
        after = 0
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 9:
                raise ValidationFailed("cursor must be the nextCursor of an earlier page.", param="cursor")
            after = int(cursor)
        size = PAGE if limit is None else max(1, min(MAX_PAGE, limit))
        rows = await repository.report_lines(conn, tenant, key, after=after, limit=size + 1)
        lines = [_line(r) for r in rows[:size]]
        return _import(row, lines, str(lines[-1].line) if len(rows) > size and lines else None)

    async def resolve(
        self,
        conn: Connection,
        who: Tenant | AuthSubject,
        *,
        import_id: str,
        line: int,
        action: str,
        actor: Actor,
    ) -> LineReport:
        """Resolve a late, partial or overpaid line (accept | refund_due), once; the line
        as it now reads. Call it in a write unit (``db.transaction()``)."""
        tenant = tenant_of(who, Permission.DEVELOP)
        try:
            resolution = Resolution(action)
        except ValueError:
            raise ValidationFailed("action must be accept or refund_due.", param="action") from None
        key = parse_import_id(import_id)
        row = await repository.report_line(conn, tenant, key, line) if 0 < line <= MAX_LINE_NUMBER else None
        if row is None:
            if await repository.import_by_id(conn, tenant, key) is None:
                raise StatementImportNotFound()
            raise LineNotFound()
        if row["statement_line_id"] is None or row["first_outcome"] not in RESOLVABLE:
            raise NotResolvable(
                f"Only late, partial or overpaid lines can be resolved; this line is {row['outcome']}."
            )
        if row["resolution"] is not None:
            raise await self._resolved(conn, tenant, row)
        if resolution is Resolution.ACCEPT:
            # an import's batch reads the payment for a duplicate of this line and writes
            # its report row in one unit: the accept waits for that unit to commit (and
            # then updates its row below), or the batch waits for the accept and reads
            # the payment paid. Taken before any row: a batch takes it first too.
            await repository.take_import_turn(conn, tenant)
        at = self.payments.clock()
        won = await repository.resolve_line(
            conn,
            tenant,
            row["statement_line_id"],
            resolution=RECORDED[resolution],
            outcomes=RESOLVABLE,
            by=recorded_by(actor)[:80],
            at=at,
        )
        if not won:
            fresh = await repository.report_line(conn, tenant, key, line)
            raise await self._resolved(conn, tenant, fresh if fresh is not None else row)
        remembered = await repository.remembered_line_by_id(conn, tenant, row["statement_line_id"])
        assert remembered is not None
        if resolution is Resolution.ACCEPT:
            try:
                paid = await self.payments.settle(
                    conn,
                    tenant,
                    remembered["payment_id"],
                    Status.PAID,
                    cause=Cause.ACCEPTED,
                    actor=actor,
                    changes={"statementLine": line, "resolution": RECORDED[resolution]},
                )
            except InvalidTransition as exc:
                raise NotResolvable(
                    f"{exc.message} Mark the line refund_due if the money goes back.", code="invalid_state"
                ) from None
            # stored, so that every later read of the line (the report, the dashboard)
            # says what this answer says
            await repository.record_resolved_status(
                conn, row["statement_line_id"], payment_status=paid.status.value
            )
        done = await repository.report_line(conn, tenant, key, line)
        assert done is not None
        return _line(done)

    async def _resolved(self, conn: Connection, tenant: Tenant, row: Row) -> Conflict:
        """409 naming who resolved the line in words a merchant reads (a member's
        e-mail, ``API key <label>``, ``a former team member``), looked up in the line's
        own account only (``AuditService.names``, as the statement page); never the
        recorded ``user:<id>``. Shown as the pages show names (``displayable``): an
        old label's control characters reach neither a terminal nor a page."""
        recorded = row["resolved_by"]
        names = await self.payments.audit.names(conn, tenant.account_id, [recorded])
        who = displayable(names.get(recorded, "someone") if recorded else "someone")
        return Conflict(
            f"This line was resolved already ({row['resolution']} by {who}).", code="already_resolved"
        )


async def _position(conn: Connection, tenant: Tenant, cursor: str, param: str) -> tuple[datetime, uuid.UUID]:
    try:
        row = await repository.import_by_id(conn, tenant, uuid.UUID(cursor))
    except ValueError:
        row = None
    if row is None:
        raise ValidationFailed(
            f"{param} must be the id of a statement import in this account and environment.",
            code="invalid_cursor",
            param=param,
        )
    return row["created_at"], row["id"]


def _record(row: Row) -> ImportRecord:
    return ImportRecord(
        id=str(row["id"]),
        format=row["format"],
        source=row["source"],
        filename=row["filename"],
        status=row["status"],
        error=row["error"],
        created_at=rfc3339(row["created_at"]) or "",
        finished_at=rfc3339(row["finished_at"]),
        line_count=int(row["line_count"]),
        lines_done=int(row["lines_done"]),
        summary=msgspec.json.decode(row["summary"], type=dict[str, int]) if row["summary"] else {},
    )


def _import(row: Row, lines: list[LineReport], next_cursor: str | None) -> ImportReport:
    return ImportReport(**msgspec.structs.asdict(_record(row)), lines=lines, next_cursor=next_cursor)


def _line(row: Row) -> LineReport:
    return LineReport(
        line=int(row["line"]),
        outcome=row["outcome"],
        message=row["message"],
        amount=None if row["amount"] is None else int(row["amount"]),
        currency_code=row["currency"],
        direction=row["direction"],
        booking_date=row["booking_date"],
        bank_reference=row["bank_reference"],
        payer=row["payer"],
        transfer_reference=row["transfer_reference"],
        payment_id=None if row["payment_id"] is None else str(row["payment_id"]),
        payment_status=row["payment_status"],
        resolution=row["resolution"],
        resolved_by=row["resolved_by"],
        resolved_at=rfc3339(row["resolved_at"]),
    )
