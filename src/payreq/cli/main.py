"""``payreq``: the operator's command line (SPEC §8)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import structlog
import typer

from payreq.config import Settings, get_settings

if TYPE_CHECKING:
    from pydantic import ValidationError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="payreq: a self-hostable payment-request gateway."
)
admin = typer.Typer(no_args_is_help=True, help="Operator actions on accounts and keys.")
app.add_typer(admin, name="admin")

T = TypeVar("T")


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]], *, uvloop: bool = False) -> T:
    """Run ``work`` with the settings; on uvloop if asked (as ``payreq serve`` runs):
    the worker's HTTP client costs about a tenth less CPU per delivery on it."""
    settings = get_settings()
    if uvloop:
        try:
            import uvloop as fast
        except ImportError:  # not on every platform
            pass
        else:
            with asyncio.Runner(loop_factory=fast.new_event_loop) as runner:
                return runner.run(work(settings))
    return asyncio.run(work(settings))


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    from payreq.db import DatabaseUnavailable, from_settings
    from payreq.db.migrate import (
        NewerDatabase,
        check_not_newer,
        current_revision,
        head_revision,
        prepare_sqlite_directory,
        upgrade,
    )

    async def revision(settings: Settings) -> str | None:
        db = from_settings(settings)
        await db.open()
        try:
            async with db.read() as conn:
                return await current_revision(conn)
        finally:
            await db.close()

    settings = get_settings()
    prepare_sqlite_directory(settings.database_url)
    try:
        found = _run(revision)
    except Exception as exc:  # refused, unknown host, wrong password, no such database
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        typer.echo(
            "payreq migrate: the database in PAYREQ_DATABASE_URL could not be opened: "
            f"{type(cause).__name__}: {cause}",
            err=True,
        )
        raise typer.Exit(1) from None
    try:
        check_not_newer(found)
    except NewerDatabase as exc:
        typer.echo(f"payreq migrate: {exc}", err=True)
        raise typer.Exit(1) from None
    upgrade(settings.database_url)
    typer.echo(f"database at revision {head_revision()}", err=True)


async def _bootstrap(settings: Settings, email: str, environment: str, name: str) -> dict[str, str]:
    from payreq.account.service import hash_password, new_password
    from payreq.db import from_settings
    from payreq.services import Services

    db = from_settings(settings)
    await db.open()
    try:
        services = Services.build(settings, db)
        password = new_password()
        password_hash = hash_password(password)
        async with db.transaction() as conn:
            result = await services.accounts.bootstrap(
                conn,
                email=email,
                password=password,
                password_hash=password_hash,
                environment=environment,
                name=name,
            )
        return result.as_dict()
    finally:
        await db.close()


@app.command()
def bootstrap(
    email: Annotated[str, typer.Option(help="The dashboard user's email.")] = "",
    environment: Annotated[str, typer.Option(help="sandbox or production.")] = "sandbox",
    name: Annotated[str, typer.Option(help="The merchant's name.")] = "Demo merchant",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an account with a dashboard user, an API key, a default application and a `*` client token."""
    from payreq.errors import PayreqError
    from payreq.kit.crypto import random_string

    if environment not in ("sandbox", "production"):
        typer.echo("--environment must be sandbox or production", err=True)
        raise typer.Exit(2)
    chosen = email or f"merchant-{random_string(8).lower()}@example.com"
    try:
        result = _run(lambda s: _bootstrap(s, chosen, environment, name))
    except PayreqError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:24} {value}")


@app.command()
def demo(
    credentials_file: Annotated[Path, typer.Option(help="Where the demo's secrets are kept.")] = Path(
        "var/demo-credentials.json"
    ),
) -> None:
    """Create the demo sandbox account on first start; print its credentials every time."""
    if credentials_file.exists():
        result = json.loads(credentials_file.read_text())
    else:
        result = _run(lambda s: _bootstrap(s, "demo@payreq.local", "sandbox", "Demo merchant"))
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.touch(mode=0o600)
        credentials_file.write_text(json.dumps(result, indent=2) + "\n")
    settings = get_settings()
    typer.echo("")
    typer.echo("payreq demo sandbox account (kept in " + str(credentials_file) + "):")
    for key in ("client_id", "client_secret", "client_token", "application_client_id", "webhook_secret"):
        typer.echo(f"  {key:22} {result[key]}")
    typer.echo(f"  {'dashboard':22} {settings.base_url}/dashboard")
    typer.echo(f"  {'dashboard sign-in':22} {result['dashboard_email']} / {result['dashboard_password']}")
    typer.echo("")
    typer.echo("Try:")
    typer.echo(
        f"  curl -s -u '{result['client_id']}:{result['client_secret']}' "
        f"-d grant_type=client_credentials {settings.base_url}/oauth/token"
    )
    typer.echo("")


@contextlib.contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """``serve --workers N``: the server processes count in prometheus-client's
    multiprocess mode (payreq.metrics), in a private directory made empty here, before
    they start, and removed when they have stopped. One process counts in memory (a
    PROMETHEUS_MULTIPROC_DIR of the caller's own is not used: it may hold another
    run's files)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="payreq-metrics-")  # mode 0700
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.", min=1)] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the background worker here.")
    ] = False,
) -> None:
    """Serve the API, checkout and docs over HTTP (uvicorn, uvloop, httptools; request
    heads and concurrency bounded: PAYREQ_MAX_HEADER_BYTES, PAYREQ_MAX_CONNECTIONS)."""
    import uvicorn

    from payreq.cli.server import BoundedHttpTools

    settings = get_settings()
    if workers > 1 and settings.rate_limit_enabled and not settings.redis_url:
        typer.echo(
            f"refusing to start {workers} server processes without PAYREQ_REDIS_URL: each process would "
            f"keep its own rate-limit budget and multiply every key's limit by {workers}. Set "
            "PAYREQ_REDIS_URL=redis://host:6379/0, or run one process.",
            err=True,
        )
        raise typer.Exit(2)
    if no_worker:
        os.environ["PAYREQ_EMBEDDED_WORKER"] = "false"
        get_settings.cache_clear()
    from payreq import logs

    logs.configure(settings.log_level, json=settings.log_json)  # uvicorn's own lines too (log_config=None)
    log = structlog.get_logger("payreq.serve")
    log.info("serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/docs", workers=workers)
    if settings.fault_answer_delay:
        log.warning(
            "fault_answer_delay",
            seconds=settings.fault_answer_delay,
            note="every write's answer is held after its commit (fault tests only; never in production)",
        )
    with _metrics_shared_by(workers):
        uvicorn.run(
            "payreq.app:create_server_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_config=None,  # no formatters of uvicorn's own: its lines reach payreq's root handler
            log_level="warning",
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            server_header=False,
            http=BoundedHttpTools,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            limit_concurrency=settings.max_connections,
            timeout_keep_alive=5,
        )


@app.command()
def worker(
    metrics_port: Annotated[
        int, typer.Option(help="Serve this worker's Prometheus metrics on this port (0: not served).", min=0)
    ] = 0,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics port binds.")] = "127.0.0.1",
) -> None:
    """Run the background worker alone (webhook deliveries, expiry sweep, housekeeping)."""
    from payreq import logs, metrics
    from payreq.db import from_settings
    from payreq.services import Services
    from payreq.worker.runner import Worker

    async def main(settings: Settings) -> None:
        logs.configure(settings.log_level, json=settings.log_json)
        db = from_settings(settings)
        await db.open()
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr=metrics_host, registry=metrics.WORKER_REGISTRY)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        from payreq.kit.process import freeze_startup_objects

        worker = Worker(Services.build(settings, db))
        freeze_startup_objects()
        try:
            await worker.run(stop)
        finally:
            await db.close()

    _run(main, uvloop=True)


@admin.command("rate-limit")
def rate_limit(
    key: Annotated[
        str,
        typer.Argument(
            help="An API key's client_id, a client token's id (a UUID), or with --account an account id."
        ),
    ],
    limit: Annotated[int, typer.Argument(help="Requests per second; 0 restores the default.", min=0)],
    account: Annotated[
        bool, typer.Option("--account", help="KEY is an account id: set the account's budget.")
    ] = False,
) -> None:
    """Set the rate limit of one API key (all its access tokens), one client token, or one
    account (all its credentials together, per environment)."""
    import uuid

    from payreq.account import repository as accounts
    from payreq.application import repository as applications
    from payreq.audit.models import Actor
    from payreq.audit.service import AuditService
    from payreq.db import from_settings

    try:
        token_id: uuid.UUID | None = uuid.UUID(key)
    except ValueError:
        token_id = None
    if account and token_id is None:
        typer.echo(f"--account needs an account id (a UUID), not {key}", err=True)
        raise typer.Exit(2)

    async def main(settings: Settings) -> bool:
        db = from_settings(settings)
        await db.open()
        try:
            async with db.transaction() as conn:
                change = {"rate_limit": limit or None}
                target: tuple[str, Any, str | None]
                if account and token_id is not None:
                    row = await accounts.set_account_rate_limit(conn, token_id, limit or None)
                    target = ("account", token_id, None)
                elif token_id is not None:
                    row = await applications.set_client_token_rate_limit(conn, token_id, limit or None)
                    target = ("client_token", token_id, row["environment"] if row else None)
                else:
                    row = await accounts.set_api_key_rate_limit(conn, key, limit or None)
                    target = ("api_key", row["id"] if row else None, row["environment"] if row else None)
                if row is None:
                    return False
                target_type, target_id, environment = target
                await AuditService().record(
                    conn,
                    Actor.cli("payreq admin rate-limit"),
                    account_id=row["account_id"],
                    environment=environment,
                    action=f"{target_type}.rate_limit_set",
                    target_type=target_type,
                    target_id=target_id,
                    changes=change,
                )
                return True
        finally:
            await db.close()

    if not _run(main):
        kind = (
            "account with id"
            if account
            else "client token with id"
            if token_id is not None
            else "API key with client_id"
        )
        typer.echo(f"no {kind} {key}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{key}: {limit or 'default'} requests per second")


@admin.command("reset-password")
def reset_password(
    email: Annotated[str, typer.Argument(help="The dashboard user's email.")],
) -> None:
    """Print a single-use password reset link (valid one hour) for a dashboard user."""
    from payreq.account import session_repository
    from payreq.db import from_settings
    from payreq.services import Services

    async def main(settings: Settings) -> tuple[bool, str]:
        db = from_settings(settings)
        await db.open()
        try:
            async with db.transaction() as conn:
                link = await Services.build(settings, db).users.reset_link(conn, email)
                if link is not None:
                    return True, f"{settings.base_url}/dashboard/password-reset/{link.token}"
                # no link: the operator (not a visitor) is told which of the two it is
                user = await session_repository.user_by_email(conn, email.strip().lower())
        finally:
            await db.close()
        if user is None:
            return False, f"no dashboard user has the email {email}"
        return False, (
            f"the account of {email} ({user['account_id']}) is disabled or closed: its members "
            "cannot sign in, so no reset link is issued (enable-account first)"
        )

    issued, answer = _run(main)
    if not issued:
        typer.echo(answer, err=True)
        raise typer.Exit(1)
    typer.echo(answer)


@admin.command("signup-link")
def signup_link(
    email: Annotated[str, typer.Argument(help="The email a pending sign-up was made with.")],
) -> None:
    """Print the link that finishes a pending sign-up (valid until the sign-up expires,
    24 hours after the form), for a server without mail: a new link, the old one stops."""
    from payreq.db import from_settings
    from payreq.services import Services

    async def main(settings: Settings) -> str | None:
        db = from_settings(settings)
        await db.open()
        try:
            async with db.transaction() as conn:
                link = await Services.build(settings, db).users.reissue_signup_link(conn, email)
        finally:
            await db.close()
        return None if link is None else f"{settings.base_url}/dashboard/signup/confirm/{link.token}"

    url = _run(main)
    if url is None:
        typer.echo(
            f"no pending sign-up for {email} (none made, used, expired, or the address has a sign-in)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(url)


def _register_features() -> None:
    from payreq.cli import accounts, audit, statements, webhooks

    for feature in (webhooks, statements, audit, accounts):
        feature.register(app, admin)


_register_features()


def configuration_errors(exc: ValidationError) -> list[str]:
    """One line per bad setting, naming it (never repeating its value: it may be a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            name = "PAYREQ_" + "_".join(str(part) for part in error["loc"]).upper()
            message = message.removeprefix(f"{name} ")
            lines.append(f"configuration error: {name}: {message}")
        else:
            lines.append(f"configuration error: {message}")
    return lines


def main() -> None:
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as exc:
        for line in configuration_errors(exc):
            typer.echo(line, err=True)
        sys.exit(2)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
