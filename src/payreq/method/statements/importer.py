"""Importing a statement file: read it, then reconcile line by line.

The one place that opens units of work outside an edge, on purpose: each line is its
own transaction (a matched line marks its payment paid and is remembered together, or
neither happens), so one bad line or one lost race never undoes the others. The API
route and the CLI both call ``StatementImporter.run`` with the database they own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import msgspec

from payreq.auth.subject import Tenant
from payreq.db import Database
from payreq.kit.clock import rfc3339
from payreq.method import repository
from payreq.method.statements import camt053, csv_format
from payreq.method.statements.model import Statement, StatementUnreadable
from payreq.method.statements.reconcile import Reconciler
from payreq.method.statements.report import ImportReport, LineReport, summarise
from payreq.payment.service import PaymentService

FORMATS = {"csv": csv_format.parse, "camt.053": camt053.parse}
_FORMAT_NAMES = {"csv": "csv", "camt053": "camt.053", "camt.053": "camt.053", "xml": "camt.053"}
_MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/xml": "camt.053",
    "text/xml": "camt.053",
}

Progress = Callable[[int, int], None]
"""Called after each line with (lines done, lines in all)."""


def choose_format(data: bytes, *, format: str | None = None, media_type: str | None = None) -> str:
    """An explicit ``format`` (csv, camt.053), else the media type, else the content:
    XML begins with ``<``."""
    if format:
        chosen = _FORMAT_NAMES.get(format.strip().lower())
        if chosen is None:
            raise StatementUnreadable(
                "format must be csv or camt.053.", code="unknown_format", param="format"
            )
        return chosen
    if media_type:
        chosen = _MEDIA_TYPES.get(media_type.split(";", 1)[0].strip().lower())
        if chosen is not None:
            return chosen
    return "camt.053" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "csv"


def read(data: bytes, *, format: str | None = None, media_type: str | None = None) -> Statement:
    if not data.strip():
        raise StatementUnreadable("The statement is empty.", code="empty_statement")
    return FORMATS[choose_format(data, format=format, media_type=media_type)](data)


class StatementImporter:
    def __init__(self, payments: PaymentService) -> None:
        self.payments = payments
        self.reconciler = Reconciler(payments)

    async def run(
        self,
        db: Database,
        tenant: Tenant,
        statement: Statement,
        *,
        source: str,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        import_id = uuid.uuid4()
        started = self.payments.clock()
        async with db.transaction() as conn:
            await repository.insert_import(
                conn,
                id=import_id,
                tenant=tenant,
                format=statement.format,
                source=source,
                filename=filename[:255] if filename else None,
                line_count=len(statement.lines),
                at=started,
            )
        lines: list[LineReport] = []
        total = len(statement.lines)
        for line in statement.lines:
            async with db.transaction() as conn:
                lines.append(await self.reconciler.apply(conn, tenant, import_id, line))
            if progress is not None:
                progress(len(lines), total)
        summary = summarise(lines)
        async with db.transaction() as conn:
            await repository.finish_import(
                conn,
                import_id,
                summary=msgspec.json.encode(summary).decode(),
                report=msgspec.json.encode(lines).decode(),
                at=self.payments.clock(),
            )
        return ImportReport(
            id=str(import_id),
            format=statement.format,
            source=source,
            filename=filename,
            created_at=rfc3339(started) or "",
            summary=summary,
            lines=lines,
        )
