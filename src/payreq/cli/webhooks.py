"""``payreq listen``: forward an account's events to a local URL (``payreq.webhook.listen``)."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from datetime import datetime
from typing import Annotated

import typer


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq`` and ``payreq admin``."""
    app.command()(listen)


def listen(
    forward_to: Annotated[
        str,
        typer.Option("--forward-to", help="Where to POST each event, e.g. http://localhost:4242/webhooks."),
    ],
    application: Annotated[
        str | None, typer.Option("--application", help="An application's Client ID: its events only.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="An account id: the events of all its applications.")
    ] = None,
    environment: Annotated[str, typer.Option(help="With --account: sandbox or production.")] = "sandbox",
    events: Annotated[
        str | None, typer.Option("--events", help="Only these types, comma-separated (payment.paid,...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Also forward events from this RFC 3339 time on (default: from now).")
    ] = None,
) -> None:
    """Forward events to a local URL as they happen, signed with the application's webhook secret.

    Reads the events of the database in PAYREQ_DATABASE_URL (run it where that database
    is reachable); each event is forwarded once, with the headers and body a real
    delivery has, and the answer printed. Real deliveries are not affected.
    """
    from payreq.config import get_settings
    from payreq.db import Row, from_settings
    from payreq.webhook.listen import Listener, ListenError

    if (application is None) == (account is None):
        typer.echo("name what to listen to: --application CLIENT_ID or --account ACCOUNT_ID", err=True)
        raise typer.Exit(2)
    if not forward_to.startswith(("http://", "https://")):
        typer.echo("--forward-to must be an http:// or https:// URL", err=True)
        raise typer.Exit(2)
    try:
        account_id = uuid.UUID(account) if account else None
        start = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    except ValueError as exc:
        typer.echo(f"invalid --account or --since: {exc}", err=True)
        raise typer.Exit(2) from None
    if start is not None and start.tzinfo is None:
        typer.echo("--since needs an offset, such as 2026-01-31T00:00:00Z", err=True)
        raise typer.Exit(2)
    settings = get_settings()

    async def main() -> None:
        db = from_settings(settings)
        await db.open()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        listener = Listener(
            db,
            forward_to,
            client_id=application,
            account_id=account_id,
            environment=environment,
            types=frozenset(t.strip() for t in events.split(",") if t.strip()) if events else frozenset(),
            since=start,
            printer=lambda line: print(line, flush=True),
        )

        def ready(apps: list[Row]) -> None:
            names = ", ".join(a["client_id"] for a in apps)
            typer.echo(
                f"Ready! Forwarding events of {names} to {forward_to}, signed with the application's "
                "webhook secret. Ctrl-C to stop.",
                err=True,
            )

        try:
            await listener.run(stop, ready=ready)
        finally:
            await db.close()

    try:
        asyncio.run(main())
    except ListenError as exc:
        typer.echo(str(exc), err=True)
        sys.exit(1)
