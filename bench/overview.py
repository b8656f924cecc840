"""How long the dashboard's overview takes with 100,000 payments in one environment.

Creates a temporary database (SQLite file, or PostgreSQL with --postgres URL), an
account through the real bootstrap, 100,000 payments over the last 30 days (a mix of
statuses and currencies), then times ``OverviewService.overview`` (all its queries)
and the whole ``GET /dashboard/overview`` page through the ASGI app, signed in.

    .venv/bin/python bench/overview.py [--payments 100000] [--rounds 20] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from tests.fixtures.bulk import insert_payments

from payreq.app import create_app
from payreq.auth.roles import Actor, Role
from payreq.auth.subject import dashboard_subject
from payreq.config import Settings
from payreq.db import connect
from payreq.db.migrate import upgrade
from payreq.services import Services


async def main(payments: int, rounds: int, postgres: str | None) -> None:
    url = postgres or f"sqlite:///{tempfile.mkdtemp(prefix='payreq-bench-')}/overview.db"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, signup="open", default_rate_limit=1_000_000, log_level="WARNING")
    db = connect(url)
    await db.open()
    app = create_app(settings, db=db, run_worker=False)
    services: Services = app.state.services
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar is an ASGI app
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        page = await http.get("/dashboard/signup")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        signed = await http.post(
            "/dashboard/signup",
            data={
                "csrf": csrf,
                "account_name": "Bench",
                "email": email,
                "password": "a long enough passphrase",
            },
            headers={"Origin": settings.base_url, "Sec-Fetch-Site": "same-origin"},
        )
        assert signed.status_code == 303, signed.text[:300]
        async with db.read() as conn:
            user = await conn.fetch_one("SELECT id, account_id FROM users WHERE email = :e", {"e": email})
            assert user is not None
            app_row = await conn.fetch_one(
                "SELECT id FROM applications WHERE account_id = :a AND environment = 'sandbox'",
                {"a": user["account_id"]},
            )
            assert app_row is not None
        started = time.perf_counter()
        await insert_payments(
            db,
            account_id=user["account_id"],
            application_id=app_row["id"],
            count=payments,
            now=services.clock(),
        )
        print(f"inserted {payments:,} payments in {time.perf_counter() - started:.1f} s ({db.dialect})")
        subject = dashboard_subject(Actor(user["id"], user["account_id"], Role.OWNER, email), "sandbox")
        service_times, page_times = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            async with db.read() as conn:
                figures = await services.overview.overview(conn, subject)
            service_times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            answer = await http.get("/dashboard/overview")
            page_times.append((time.perf_counter() - t) * 1000)
            assert answer.status_code == 200 and "<svg" in answer.text
        paid = sum(s.total_count for s in figures.series)
        print(
            f"overview of {payments:,} payments ({paid:,} paid in 30 days, {len(figures.series)} currencies):"
        )
        for name, times in (
            ("service (every query)", service_times),
            ("page (GET /dashboard/overview)", page_times),
        ):
            times.sort()
            print(
                f"  {name:32} median {statistics.median(times):6.1f} ms   "
                f"p90 {times[int(len(times) * 0.9) - 1]:6.1f} ms   min {times[0]:6.1f} ms"
            )
    await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database to use")
    args = parser.parse_args()
    asyncio.run(main(args.payments, args.rounds, args.postgres))
