"""bench/expiry.py: how long the worker takes to expire 100,000 overdue payments.

    .venv/bin/python bench/expiry.py                     # a temporary PostgreSQL database
    .venv/bin/python bench/expiry.py --payments 20000 --database sqlite

On a fresh database (migrated, one sandbox account from ``payreq bootstrap`` whose
default application has a webhook URL, so that each expiry also writes its delivery
row, as it would for an integrator with webhooks) it creates one payment through
``PaymentService.create``, the code ``POST /payment/request`` runs (its row and its
``payment.created`` event), then clones that row and that event ``--payments`` times in
one ``INSERT ... SELECT`` per 10,000 (``generate_series``; each copy has its own id, its
reference, its event's id and the payment id inside the event's data), all overdue by
an hour or more. Then it runs ``Worker.run``, the loop ``payreq worker`` and the worker
in ``payreq serve`` run, in this process with its webhook deliveries left out (they are
bench/webhooks.py's), and times it from its start until the last overdue payment is
expired. It prints the wall time (target: 10 s or less on PostgreSQL for 100,000),
the rate, the worker's CPU and PostgreSQL's (its backends on the bench database, from
/proc, when the server runs on this machine), the number of transactions and the
longest one (each sweep batch is one transaction; the target is that none holds its
locks for long), and checks that every payment is expired with exactly one
``payment.expired`` event. With ``--profile`` it
records the sweep with py-spy (this process) and prints where its CPU went, as
bench/pyspy.py does; the collapsed stacks go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgtemp
from payreq.worker.runner import Worker
from pyspy import summarise
from stack import prepare_database
from webhooks import create_payments, services_for, subject_of

HERE = Path(__file__).resolve().parent
CHUNK = 10_000
TARGET_S = 10.0


class NoDeliveries:
    """Stands in for the worker's webhook dispatcher: the deliveries the sweep writes stay queued."""

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


def _clone_sql(dialect: str) -> tuple[str, str]:
    """Copies ``:start`` to ``:stop - 1`` of the template payment, then the template's
    created event for every payment without an event yet (the copies)."""
    if dialect == "postgresql":
        rows = "generate_series(:start, :stop - 1) AS s(i)"
        new_id = "gen_random_uuid()"
        back = "p.{col} - make_interval(secs => 3600 + s.i * 0.01)"
        as_text, position = "p.id::text", "pg_current_xact_id()::text::bigint"
    else:
        rows = (
            "(WITH RECURSIVE n(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM n WHERE i < :stop - 1)"
            " SELECT i FROM n) AS s"
        )
        new_id = (
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)"
            " || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
        )
        back = (
            "strftime('%Y-%m-%dT%H:%M:%f', p.{col}, '-' || (3600 + s.i * 0.01) || ' seconds') || '000+00:00'"
        )
        as_text, position = "p.id", "e.log_position"
    # only constant fragments are formatted in; the values are parameters
    payments = f"""
        INSERT INTO payments (id, account_id, environment, application_id, status, amount, currency,
                              redirect_url, reference_id, reference_label, metadata, created_at, expires_at)
        SELECT {new_id}, p.account_id, p.environment, p.application_id, p.status, p.amount, p.currency,
               p.redirect_url, p.reference_id, p.reference_label, p.metadata,
               {back.format(col="created_at")}, {back.format(col="expires_at")}
        FROM payments p, {rows} WHERE p.id = :template
    """  # noqa: S608
    events = f"""
        INSERT INTO events (id, account_id, environment, application_id, payment_id, type, data, created_at,
                            log_position)
        SELECT {new_id}, e.account_id, e.environment, e.application_id, p.id, e.type,
               replace(e.data, :template_text, {as_text}), p.created_at, {position}
        FROM events e, payments p
        WHERE e.payment_id = :template AND NOT EXISTS (SELECT 1 FROM events x WHERE x.payment_id = p.id)
    """  # noqa: S608
    return payments, events


async def seed(services: Any, credentials: dict[str, str], count: int) -> float:
    """The template payment through the service, its copies by the database; seconds taken."""
    started = time.monotonic()
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_url = :u WHERE client_id = :c",
            {"u": "http://127.0.0.1:9/hooks", "c": credentials["application_client_id"]},
        )
    await create_payments(services, subject_of(credentials), 1, per_transaction=1)
    async with services.db.transaction() as conn:
        row = await conn.fetch_one("SELECT id FROM payments")
        assert row is not None
        template = row["id"]
        # the template itself is overdue too: count + 1 payments to expire
        await conn.execute(
            "UPDATE payments SET created_at = :at, expires_at = :at WHERE id = :id",
            {"at": datetime(2026, 1, 1, tzinfo=UTC), "id": template},
        )
        payments_sql, events_sql = _clone_sql(conn.dialect)
    for start in range(0, count, CHUNK):
        params = {"start": start, "stop": min(count, start + CHUNK), "template": template}
        async with services.db.transaction() as conn:
            await conn.execute(payments_sql, params)
            await conn.execute(events_sql, {**params, "template_text": str(template)})
    async with services.db.transaction() as conn:
        if conn.dialect == "postgresql":
            await conn.execute("ANALYZE payments")
            await conn.execute("ANALYZE events")
        else:
            await conn.execute("ANALYZE")
    return time.monotonic() - started


async def counts(services: Any) -> dict[str, int]:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            """SELECT (SELECT COUNT(*) FROM payments WHERE status = 'pending') AS pending,
                      (SELECT COUNT(*) FROM payments WHERE status = 'expired') AS expired,
                      (SELECT COUNT(*) FROM events WHERE type = 'payment.created') AS created_events,
                      (SELECT COUNT(*) FROM events WHERE type = 'payment.expired') AS expired_events,
                      (SELECT COUNT(DISTINCT payment_id) FROM events WHERE type = 'payment.expired')
                          AS expired_payments,
                      (SELECT COUNT(*) FROM webhook_deliveries) AS deliveries"""
        )
    assert row is not None
    return {
        key: int(row[key])
        for key in (
            "pending",
            "expired",
            "created_events",
            "expired_events",
            "expired_payments",
            "deliveries",
        )
    }


async def server_cpu(services: Any) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend on this database, from /proc (a
    server on this machine); None on SQLite or when /proc does not show them."""
    async with services.db.read() as conn:
        if conn.dialect != "postgresql":
            return None
        rows = await conn.fetch_all("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    found = {int(row["pid"]): _process_cpu(int(row["pid"])) for row in rows}
    return None if None in found.values() else {pid: t for pid, t in found.items() if t is not None}


def _process_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def sweep(services: Any, total: int) -> dict[str, Any]:
    """``Worker.run`` until ``total`` payments are expired; its transactions' durations."""
    durations: list[float] = []
    expired = 0
    done = asyncio.Event()
    original_transaction = services.db.transaction
    original_expire = services.payments.expire_due

    @contextlib.asynccontextmanager
    async def timed_transaction() -> AsyncIterator[Any]:
        started = time.perf_counter()
        async with original_transaction() as conn:
            yield conn
        durations.append(time.perf_counter() - started)

    async def counted_expire(conn: Any, **kwargs: Any) -> int:
        nonlocal expired
        count: int = await original_expire(conn, **kwargs)
        expired += count
        if expired >= total:
            conn.after_commit(done.set)
        return count

    services.db.transaction = timed_transaction
    services.payments.expire_due = counted_expire
    worker = Worker(services, dispatcher=NoDeliveries())  # type: ignore[arg-type]
    stop = asyncio.Event()
    server_before = await server_cpu(services)
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout=max(600.0, total / 50))
    finally:
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        stop.set()
        await task
        services.db.transaction = original_transaction
        services.payments.expire_due = original_expire
    server_after = await server_cpu(services)
    server = None
    if server_before is not None and server_after is not None:
        server = sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "server_cpu_seconds": server,
        "transactions": durations,
        "expired": expired,
    }


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")},
        "PAYREQ_DATABASE_URL": url,
        "PAYREQ_LOG_LEVEL": "WARNING",
    }
    credentials = prepare_database(env)
    services = await services_for(env)
    try:
        seconds = await seed(services, credentials, args.payments)
        before = await counts(services)
        print(
            f"seeded {before['pending']:,} overdue payments in {seconds:.1f} s; sweeping ...",
            file=sys.stderr,
            flush=True,
        )
        spy = None
        if args.profile:
            out = HERE / "results" / f"profile-expiry-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt"
            out.parent.mkdir(exist_ok=True)
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = await asyncio.create_subprocess_exec(
                *(py_spy, "record", "--format", "raw", "-o", str(out), "-r", "200", "-p", str(os.getpid())),
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.sleep(1)
        result = await sweep(services, before["pending"])
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            await asyncio.wait_for(spy.wait(), timeout=60)
            result["profile"] = str(out)
        result["before"] = before
        result["after"] = await counts(services)
        result["database"] = url.split(":")[0]
        return result
    finally:
        await services.db.close()


def report(result: dict[str, Any]) -> None:
    durations = sorted(result["transactions"])
    after, before = result["after"], result["before"]
    total = before["pending"]
    print(f"\nexpiry bench: {result['database']}, {total:,} overdue payments, Worker.run in process")
    print(
        f"  swept in {result['seconds']:.2f} s ({total / result['seconds']:,.0f} payments/s);"
        f" target <= {TARGET_S:.0f} s for 100,000: {'meets' if result['seconds'] <= TARGET_S * total / 100_000 else 'misses'} it"
    )
    print(
        f"  the worker's CPU (this process): {result['cpu_seconds']:.2f} s; the rest it waited,"
        " for PostgreSQL or for a CPU (the load average says how busy the machine was)"
    )
    if result.get("server_cpu_seconds") is not None:
        print(
            f"  PostgreSQL's CPU (its backends on this database): {result['server_cpu_seconds']:.2f} s;"
            f" worker + PostgreSQL: {(result['cpu_seconds'] + result['server_cpu_seconds']) / total * 1e6:.0f} us"
            " per payment"
        )
    print(f"  load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(
        f"  {len(durations)} transactions: longest {durations[-1] * 1000:.0f} ms,"
        f" median {statistics.median(durations) * 1000:.0f} ms"
    )
    print(
        f"  after: {after['pending']} pending, {after['expired']:,} expired,"
        f" {after['expired_events']:,} payment.expired events for {after['expired_payments']:,} payments,"
        f" {after['deliveries']:,} deliveries queued"
    )
    if "profile" in result:
        print(summarise(Path(result["profile"]), top=15))
        print(f"collapsed stacks: {result['profile']}")
    if after["pending"] or after["expired_events"] != total or after["expired_payments"] != total:
        print("  warning: not every payment was expired exactly once")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="payreq-expiry-") as tmp:
            return await run(args, f"sqlite:///{Path(tmp) / 'expiry.db'}")
    async with pgtemp.database("payreq_bench_expiry") as url:
        return await run(args, url)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000, help="overdue payments (default 100,000)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graph of the sweep")
    args = parser.parse_args()
    if args.payments < 1:
        parser.error("--payments must be at least 1")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    report(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
