"""``payreq admin disable-account`` and ``enable-account``: the operator stops a hostile
tenant at once (``AccountService.set_disabled``) and may let it back in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC
from typing import Annotated

import typer

AccountArgument = Annotated[str, typer.Argument(help="The account id (a UUID).")]


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq admin``."""
    del app
    admin.command("disable-account")(disable_account)
    admin.command("enable-account")(enable_account)


def disable_account(
    account: AccountArgument,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Disable an account: its API keys and tokens stop working (401), its members are
    signed out, its checkout pages answer 410 and its webhooks wait unsent (they are
    sent once it is enabled). An account its owner closed is left as it is."""
    _set(account, disabled=True, reason=reason)


def enable_account(
    account: AccountArgument,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Enable a disabled account again (its members sign in anew; its webhooks that
    waited are sent). Refused (exit 1) for an account its owner closed: it stays closed."""
    _set(account, disabled=False, reason=reason)


def _set(account: str, *, disabled: bool, reason: str) -> None:
    from payreq.account.service import AccountClosed, AccountNotFound, AccountService
    from payreq.audit.models import Actor
    from payreq.config import get_settings
    from payreq.db import from_settings

    try:
        account_id = uuid.UUID(account)
    except ValueError:
        typer.echo(f"{account!r} is not an account id (a UUID)", err=True)
        raise typer.Exit(2) from None
    settings = get_settings()
    command = "payreq admin " + ("disable-account" if disabled else "enable-account")

    async def main() -> bool:
        db = from_settings(settings)
        await db.open()
        try:
            async with db.transaction() as conn:
                return await AccountService().set_disabled(
                    conn, Actor.cli(command), account_id, disabled=disabled, reason=reason.strip()
                )
        finally:
            await db.close()

    try:
        changed = asyncio.run(main())
    except AccountNotFound:
        typer.echo(f"no account with id {account_id}", err=True)
        raise typer.Exit(1) from None
    except AccountClosed as closed:
        when = closed.closed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if disabled:  # what was asked holds already: a closed account is shut for good
            typer.echo(
                f"account {account_id}: closed by its owner on {when}; it stays closed, nothing to disable"
            )
            return
        typer.echo(
            f"account {account_id} was closed by its owner on {when}: enable-account only undoes "
            "disable-account, so it stays closed",
            err=True,
        )
        raise typer.Exit(1) from None
    state = "disabled" if disabled else "enabled"
    typer.echo(f"account {account_id}: {state}" if changed else f"account {account_id}: already {state}")
