"""bench/statements.py: statement import rate (lines per second), in process.

    .venv/bin/python bench/statements.py                        # SQLite, 20,000 lines
    .venv/bin/python bench/statements.py --database postgres    # a temporary PostgreSQL database
    .venv/bin/python bench/statements.py --lines 100000 --matched 2000 --profile

On a fresh database (migrated, one sandbox account with a bank-transfer application)
it creates ``--matched`` payments with their transfer references, writes a CSV
statement of ``--lines`` lines (the first ``--matched`` pay those payments, the rest
are unmatched credits), and imports it through ``StatementService.run``, the code
the API and the CLI call: parse in a thread, then batches of short transactions.
It prints the wall time and lines per second of the import (the payments' creation
is not counted), and with ``--profile`` the top of a cProfile of the import. With
``--statements`` it also prints the statements the import sent to the database (on
PostgreSQL each is a round trip; COMMITs included), a figure no noise moves.

    .venv/bin/python bench/statements.py --database postgres --lines 2000 --matched 1000 --statements
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec

from inprocess import STATEMENTS
from payreq.application.models import BankDetails
from payreq.auth.subject import Tenant
from payreq.config import Settings
from payreq.db import Database, connect
from payreq.db.migrate import upgrade
from payreq.method.bank_transfer import issue_reference
from payreq.method.statements.importer import read
from payreq.payment.models import PaymentDraft
from payreq.services import Services

POSTGRES_ADMIN_URL = os.environ.get(
    "PAYREQ_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _setup(services: Services, db: Database, matched: int) -> tuple[Tenant, list[str]]:
    """One account, a bank-transfer application, ``matched`` payments of 10.00 EUR."""
    from payreq.account.service import hash_password, new_password
    from payreq.auth.subject import AuthSubject, CredentialKind

    password = new_password()
    async with db.transaction() as conn:
        made = await services.accounts.bootstrap(
            conn,
            email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
            password=password,
            password_hash=hash_password(password),
            environment="sandbox",
        )
    tenant = Tenant(uuid.UUID(made.account_id), "sandbox")
    subject = AuthSubject(
        kind=CredentialKind.ACCESS_TOKEN,
        credential_id=uuid.uuid4(),
        tenant=tenant,
        scopes=frozenset({"*"}),
        application_id=None,
        rate_key="key:bench",
        rate_limit=None,
    )
    details = BankDetails(
        account_holder="Bench GmbH", bank_name="Bench Bank", iban="DE89370400440532013000", bic="COBADEFFXXX"
    )
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET bank_details = :details, methods = :methods WHERE client_id = :client_id",
            {
                "details": msgspec.json.encode(details).decode(),
                "methods": '["bank_transfer"]',
                "client_id": made.application_client_id,
            },
        )
    references = []
    for _ in range(matched):
        async with db.transaction() as conn:
            payment = await services.payments.create(
                conn,
                subject,
                PaymentDraft(amount=1000, currency="EUR", redirect_url="https://shop.example/thanks"),
            )
            references.append(await issue_reference(conn, payment_id=payment.id, tenant=tenant))
    return tenant, references


def _statement(lines: int, references: list[str]) -> bytes:
    rows = ["id,date,amount,currency,reference,payer"]
    for i in range(lines):
        text = references[i] if i < len(references) else f"invoice {i} thanks"
        rows.append(
            f"B-{i:07d},2026-11-21,{'10.00' if i < len(references) else '3.50'},EUR,{text},Payer {i % 97}"
        )
    return ("\n".join(rows) + "\n").encode()


async def run(database: str, lines: int, matched: int, profile: bool, statements: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="payreq-bench-statements-"))
    pg_name = None
    if database == "postgres":
        pg_name = f"payreq_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{pg_name}"')
        await admin.close()
        url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{pg_name}"
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, base_url="http://127.0.0.1:8000", embedded_worker=False)
        db = connect(url, timeout=5.0, synchronous=settings.sqlite_synchronous)
        await db.open()
        try:
            services = Services.build(settings, db)
            tenant, references = await _setup(services, db, matched)
            data = _statement(lines, references)
            statement = read(data)
            profiler = cProfile.Profile() if profile else None
            sent = STATEMENTS.count
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            report = await services.methods.statements.run(db, tenant, statement, source="cli")
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - started
            sent = STATEMENTS.count - sent
        finally:
            await db.close()
        assert report.status == "finished" and report.summary["matched"] == matched, report.summary
        size = len(data) / 1024 / 1024
        print(
            f"{database}: {lines:,} lines ({size:.1f} MiB, {matched:,} matched) imported in {elapsed:.2f} s: "
            f"{lines / elapsed:,.0f} lines/s"
        )
        if statements:
            unmatched = lines - matched
            print(
                f"{sent:,} statements for the import: {sent / lines:.2f} a line ({matched:,} matched, {unmatched:,} not)"
            )
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    finally:
        if pg_name is not None:
            admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--matched", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true", help="count the statements the import sends")
    args = parser.parse_args()
    if args.statements:
        STATEMENTS.install()
    if args.matched > args.lines:
        sys.exit("--matched cannot exceed --lines")
    asyncio.run(run(args.database, args.lines, args.matched, args.profile, args.statements))


if __name__ == "__main__":
    main()
