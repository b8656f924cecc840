"""``payreq admin import-statement FILE``: reconcile a bank statement (CSV or camt.053)
with the pending bank-transfer payments of one account, with a progress bar and a
per-line report (``--json`` for scripts)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

OUTCOME_STYLES = {
    "matched": "green",
    "late": "yellow",
    "partial": "yellow",
    "overpaid": "yellow",
    "wrong_currency": "yellow",
    "unmatched": "red",
    "invalid": "red",
    "pending": "cyan",
}


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq`` and ``payreq admin``."""
    admin.command("import-statement")(import_statement)


def import_statement(
    file: Annotated[
        Path,
        typer.Argument(
            help="The statement: CSV or camt.053 XML.", exists=True, dir_okay=False, readable=True
        ),
    ],
    account: Annotated[
        str | None, typer.Option(help="The account id; may be left out when the database holds one account.")
    ] = None,
    environment: Annotated[str, typer.Option(help="production (real money) or sandbox.")] = "production",
    format: Annotated[str | None, typer.Option(help="csv or camt.053; default: from the content.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Import a bank statement: lines that match a pending payment's transfer reference,
    amount and currency mark it paid; every line is reported; importing again changes nothing."""
    import msgspec
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from payreq.auth.subject import Tenant
    from payreq.config import get_settings
    from payreq.db import connect
    from payreq.errors import PayreqError
    from payreq.method import repository
    from payreq.method.bank_transfer import plain_amount
    from payreq.method.statements.importer import read
    from payreq.method.statements.report import ImportReport
    from payreq.services import Services

    err = Console(stderr=True)
    if environment not in ("sandbox", "production"):
        err.print("--environment must be sandbox or production")
        raise typer.Exit(2)
    try:
        wanted = uuid.UUID(account) if account else None
    except ValueError:
        err.print(f"--account {account!r} is not an account id (a UUID)")
        raise typer.Exit(2) from None
    try:
        statement = read(file.read_bytes(), format=format)
    except PayreqError as exc:
        err.print(f"{file}: {exc.message}")
        raise typer.Exit(1) from None

    async def main() -> ImportReport:
        settings = get_settings()
        db = connect(
            settings.database_url, timeout=settings.database_timeout, synchronous=settings.sqlite_synchronous
        )
        await db.open()
        try:
            async with db.read() as conn:
                found = await repository.account_ids(conn, wanted)
            if wanted is not None and not found:
                err.print(f"no account with id {wanted}")
                raise typer.Exit(1)
            if len(found) != 1:
                err.print("the database holds several accounts (or none): name one with --account ID")
                raise typer.Exit(1)
            services = Services.build(settings, db)
            with Progress(
                TextColumn("Importing [bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            ) as progress:
                task = progress.add_task(file.name, total=len(statement.lines))
                return await services.methods.statements.run(
                    db,
                    Tenant(found[0], environment),
                    statement,
                    source="cli",
                    filename=file.name,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
        finally:
            await db.close()

    report = asyncio.run(main())
    if as_json:
        typer.echo(msgspec.json.encode(report).decode())
        return
    out = Console()
    table = Table(title=f"{file.name}: {report.format}, import {report.id}")
    for column in ("line", "outcome", "amount", "transfer reference", "payment", "message"):
        table.add_column(column)
    for line in report.lines:
        style = OUTCOME_STYLES.get(line.outcome, "")
        amount = ""
        if line.amount and line.currency_code:
            amount = ("-" if line.direction == "debit" else "") + plain_amount(
                line.amount, line.currency_code
            )
        table.add_row(
            str(line.line),
            f"[{style}]{line.outcome}[/]" if style else line.outcome,
            amount,
            line.transfer_reference or "",
            line.payment_id or "",
            line.message,
        )
    out.print(table)
    out.print(", ".join(f"{count} {outcome}" for outcome, count in report.summary.items() if count))
