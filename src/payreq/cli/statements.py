"""Bank statements from the operator's command line:

- ``payreq admin import-statement FILE``: reconcile a statement (CSV, camt.053 or
  camt.054) with one account's bank-transfer payments, with a progress bar and a
  per-line report (``--json`` for scripts);
- ``payreq admin resolve-statement-line IMPORT_ID LINE accept|refund_due``: the
  merchant's decision on a late, partial or overpaid line, recorded as made by ``cli``;
- ``payreq admin timezone [ZONE]``: show or set the account's time zone, in which a
  transfer's booking day is compared with the day its request expired.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from payreq.db import Database
    from payreq.method.statements.report import ImportReport
    from payreq.services import Services

T = TypeVar("T")

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

AccountOption = Annotated[
    str | None, typer.Option(help="The account id; may be left out when the database holds one account.")
]
EnvironmentOption = Annotated[str, typer.Option(help="production (real money) or sandbox.")]


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq`` and ``payreq admin``."""
    admin.command("import-statement")(import_statement)
    admin.command("resolve-statement-line")(resolve_statement_line)
    admin.command("timezone")(timezone)


def _account_arguments(err: Console, account: str | None, environment: str) -> uuid.UUID | None:
    if environment not in ("sandbox", "production"):
        err.print("--environment must be sandbox or production")
        raise typer.Exit(2)
    try:
        return uuid.UUID(account) if account else None
    except ValueError:
        err.print(f"--account {account!r} is not an account id (a UUID)")
        raise typer.Exit(2) from None


def _with_account(
    err: Console, wanted: uuid.UUID | None, work: Callable[[Services, Database, uuid.UUID], Awaitable[T]]
) -> T:
    """Open the database, find the one account meant, and run ``work`` on it."""
    from payreq.config import get_settings
    from payreq.db import from_settings
    from payreq.errors import PayreqError
    from payreq.method import repository
    from payreq.services import Services

    async def main() -> T:
        settings = get_settings()
        db = from_settings(settings)
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
            return await work(Services.build(settings, db), db, found[0])
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except PayreqError as exc:
        err.print(exc.message)
        raise typer.Exit(1) from None


def import_statement(
    file: Annotated[
        Path,
        typer.Argument(
            help="The statement: CSV, camt.053 or camt.054 XML.", exists=True, dir_okay=False, readable=True
        ),
    ],
    account: AccountOption = None,
    environment: EnvironmentOption = "production",
    format: Annotated[
        str | None, typer.Option(help="csv, camt.053 or camt.054; default: from the content.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Import a bank statement: lines that match a payment's transfer reference, amount
    and currency mark it paid (a pending one, or an expired one the bank booked in
    time); every line is reported; importing again changes nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from payreq.auth.subject import Tenant
    from payreq.errors import PayreqError
    from payreq.method.statements.importer import read, read_through

    err = Console(stderr=True)
    wanted = _account_arguments(err, account, environment)
    try:
        statement = read(file.read_bytes(), format=format)
        read_through(statement)  # an unreadable file never reaches the database
    except PayreqError as exc:
        err.print(f"{file}: {exc.message}")
        raise typer.Exit(1) from None

    async def work(services: Services, db: Database, account_id: uuid.UUID) -> None:
        tenant = Tenant(account_id, environment)
        with Progress(
            TextColumn("Importing [bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task(file.name, total=None)
            report = await services.methods.statements.run(
                db,
                tenant,
                statement,
                source="cli",
                filename=file.name,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                limit=1000,
            )
        await _print_report(services, db, tenant, report, as_json=as_json, title=file.name)

    _with_account(err, wanted, work)


async def _print_report(
    services: Services, db: Database, tenant: object, report: ImportReport, *, as_json: bool, title: str
) -> None:
    """Every line, a page at a time (a report may hold 100,000 lines)."""
    import msgspec
    from rich.console import Console
    from rich.table import Table

    from payreq.auth.subject import Tenant
    from payreq.method.bank_transfer import plain_amount

    assert isinstance(tenant, Tenant)
    out = Console()
    first = True
    page: ImportReport | None = report
    if as_json:
        head = msgspec.json.encode(msgspec.structs.replace(report, lines=[], next_cursor=None))
        sys.stdout.write(
            head.decode().replace('"lines":[]', '"lines":[', 1).removesuffix(',"nextCursor":null}')
        )
    while page is not None:
        if as_json:
            for line in page.lines:
                sys.stdout.write(("" if first else ",") + msgspec.json.encode(line).decode())
                first = False
        else:
            table = Table(title=f"{title}: {report.format}, import {report.id}" if first else None)
            first = False
            for column in ("line", "outcome", "amount", "transfer reference", "payment", "message"):
                table.add_column(column)
            for line in page.lines:
                style = OUTCOME_STYLES.get(line.outcome, "")
                amount = ""
                if line.amount and line.currency_code:
                    sign = "-" if line.direction == "debit" else ""
                    amount = sign + plain_amount(line.amount, line.currency_code)
                table.add_row(
                    str(line.line),
                    f"[{style}]{line.outcome}[/]" if style else line.outcome,
                    amount,
                    line.transfer_reference or "",
                    line.payment_id or "",
                    line.message,
                )
            out.print(table)
        if page.next_cursor is None:
            break
        async with db.read() as conn:
            page = await services.methods.statements.report(
                conn, tenant, report.id, cursor=page.next_cursor, limit=1000
            )
    if as_json:
        sys.stdout.write("]}\n")
        return
    out.print(", ".join(f"{count} {outcome}" for outcome, count in report.summary.items() if count))


def resolve_statement_line(
    import_id: Annotated[str, typer.Argument(help="The import's id (from its report).")],
    line: Annotated[int, typer.Argument(help="The line's number in that report.")],
    action: Annotated[str, typer.Argument(help="accept (the payment becomes paid) or refund_due.")],
    account: AccountOption = None,
    environment: EnvironmentOption = "production",
) -> None:
    """Resolve a late, partial or overpaid statement line, once: accept it or mark it
    refund due. Recorded as resolved by ``cli``."""
    from rich.console import Console

    from payreq.audit.models import Actor
    from payreq.auth.subject import Tenant

    err = Console(stderr=True)
    wanted = _account_arguments(err, account, environment)

    async def work(services: Services, db: Database, account_id: uuid.UUID) -> str:
        async with db.transaction() as conn:
            resolved = await services.methods.statements.resolve(
                conn,
                Tenant(account_id, environment),
                import_id=import_id,
                line=line,
                action=action,
                actor=Actor.cli("payreq admin resolve-statement-line"),
            )
        return f"line {resolved.line}: {resolved.resolution}; payment {resolved.payment_id} is {resolved.payment_status}"

    typer.echo(_with_account(err, wanted, work))


def timezone(
    zone: Annotated[
        str | None, typer.Argument(help="An IANA time zone such as Europe/Berlin; leave out to show it.")
    ] = None,
    account: AccountOption = None,
) -> None:
    """Show or set the account's time zone (UTC unless set): a bank transfer booked on
    or before the day a request expired, in this zone, settles it."""
    from rich.console import Console

    err = Console(stderr=True)
    wanted = _account_arguments(err, account, "production")

    async def work(services: Services, db: Database, account_id: uuid.UUID) -> str:
        if zone is None:
            async with db.read() as conn:
                return (await services.accounts.timezone(conn, account_id)).key
        async with db.transaction() as conn:
            return await services.accounts.set_timezone(conn, account_id, zone)

    typer.echo(_with_account(err, wanted, work))
