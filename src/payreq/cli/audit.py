"""``payreq admin verify-audit``: check every account's audit chain (``payreq.audit``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq admin``."""
    del app
    admin.command("verify-audit")(verify_audit)


def verify_audit(
    batch: Annotated[int, typer.Option(help="Entries read per query.", min=1)] = 1000,
) -> None:
    """Check the audit log's hash chains; report the first edited, deleted or reordered
    entry of each broken chain and exit 1 (0 when every chain holds)."""
    from payreq.audit.service import AuditService
    from payreq.config import get_settings
    from payreq.db import from_settings

    settings = get_settings()

    async def main() -> int:
        db = from_settings(settings)
        await db.open()
        try:
            result = await AuditService().verify(db, batch=batch)
        finally:
            await db.close()
        for problem in result.problems:
            typer.echo(f"account {problem.account_id}: {problem.kind}: {problem.message}", err=True)
        if result.problems:
            typer.echo(
                f"audit log BROKEN: {len(result.problems)} of {result.chains} chains "
                f"({result.entries} entries verified before the breaks)",
                err=True,
            )
            return 1
        typer.echo(f"audit log intact: {result.chains} chains, {result.entries} entries")
        return 0

    raise typer.Exit(asyncio.run(main()))
