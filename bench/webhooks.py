"""bench/webhooks.py: webhook deliveries per second from one worker, and the lag from
commit to delivery at a steady event rate.

    .venv/bin/python bench/webhooks.py                          # SQLite, about a minute
    .venv/bin/python bench/webhooks.py --database postgresql    # a temporary PostgreSQL database
    .venv/bin/python bench/webhooks.py --events 10000 --rate 100 --duration 20 --concurrency 64
    .venv/bin/python bench/webhooks.py --profile                # py-spy on the worker meanwhile

On a fresh database (migrated, one sandbox account whose default application sends
its webhooks to a local receiver), it measures:

1. throughput: ``--events`` payments are created (one payment.created event and its
   delivery each) while no worker runs; then one ``payreq worker`` starts, and the
   receiver counts deliveries per second between the first and the last arrival
   (target: 2,000 a second or more); with ``--profile``, py-spy records the worker
   meanwhile and the bench prints where its CPU went (as bench/pyspy.py does);
2. lag, worker process: with that worker running, payments are created one per
   transaction at ``--rate`` per second for ``--duration`` seconds; the receiver
   takes each arrival's time minus the event's ``timestamp`` (the moment of the change,
   inside its transaction: the commit follows within a millisecond). A separate
   worker finds new deliveries by polling (``PAYREQ_WEBHOOK_POLL_INTERVAL``, 0.25 s)
   (target: p99 500 ms or less at 200 events a second, the default ``--rate``);
3. lag, ``payreq serve`` with its embedded worker: the same rate of ``POST
   /payment/request`` over HTTP; the worker in the server is woken by the commit
   (target: p99 50 ms or less).

Events are made open loop: each at its time, without waiting for the one before.

The receiver is a bare ASGI app under uvicorn in its own process, answering 200 at
once. With two CPUs or more (and ``taskset``) the worker or server runs on CPU 0, the
receiver and the load on the others. Every child process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgtemp
from procs import Pinning, Processes, cpu_seconds, pinned
from pyspy import summarise
from stack import free_port, prepare_database

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
TARGETS = {"deliveries_per_second": 2000.0, "lag_worker_ms": 500.0, "lag_embedded_ms": 50.0}


# -- the receiver (its own process: python bench/webhooks.py --receiver PORT) ----------


def receiver_app() -> Callable[..., Awaitable[None]]:
    arrivals: list[tuple[float, float]] = []  # (arrival time, lag in ms)
    ids: set[str] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.time()
        answer = b"ok"
        if scope["method"] == "POST" and scope["path"] == "/hooks":
            event = json.loads(body)
            stamp = event["timestamp"].replace("Z", "+00:00")
            from datetime import datetime

            arrivals.append((now, (now - datetime.fromisoformat(stamp).timestamp()) * 1000))
            for name, value in scope["headers"]:
                if name == b"webhook-id":
                    ids.add(value.decode())
        elif scope["path"] == "/stats":
            answer = json.dumps({"count": len(arrivals), "distinct": len(ids), "arrivals": arrivals}).encode()
        elif scope["path"] == "/reset":
            arrivals.clear()
            ids.clear()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def run_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        receiver_app(),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# -- helpers ------------------------------------------------------------------------


def stats(receiver: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{receiver}/stats", timeout=10).json()
    return body


def reset(receiver: str) -> None:
    httpx.post(f"{receiver}/reset", timeout=10)


def wait_for(
    receiver: str, count: int, timeout: float, *, stalled: float = 30, cpu_of: int | None = None
) -> dict[str, Any]:
    """Until ``count`` distinct deliveries arrived; gives up after ``timeout`` seconds,
    or ``stalled`` seconds without a new one. With ``cpu_of`` (a pid), also the CPU
    milliseconds that process used per delivery, from the first arrivals seen to the last
    (its start-up excluded): ``cpu_ms_per_delivery``."""
    deadline = time.monotonic() + timeout
    seen, last_change = -1, time.monotonic()
    first: tuple[int, float] | None = None
    while True:
        current = stats(receiver)
        if cpu_of is not None and first is None and current["distinct"] > 0:
            first = current["distinct"], cpu_seconds(cpu_of)
        if current["distinct"] >= count:
            if cpu_of is not None and first is not None and count > first[0]:
                used = cpu_seconds(cpu_of) - first[1]
                current["cpu_ms_per_delivery"] = used * 1000 / (current["distinct"] - first[0])
            return current
        if current["distinct"] != seen:
            seen, last_change = current["distinct"], time.monotonic()
        now = time.monotonic()
        if now > deadline or now - last_change > stalled:
            raise SystemExit(
                f"only {current['distinct']} of {count} deliveries arrived (the worker's log is in the"
                " temporary directory; is the receiver's address allowed?)"
            )
        time.sleep(0.05)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentiles(lags: list[float]) -> dict[str, float]:
    ordered = sorted(lags)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50": pick(0.5),
        "p90": pick(0.9),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


async def services_for(env: dict[str, str]) -> Any:
    from payreq.config import Settings
    from payreq.db import connect
    from payreq.services import Services

    settings = Settings(database_url=env["PAYREQ_DATABASE_URL"], log_level="WARNING")
    db = connect(settings.database_url)
    await db.open()
    return Services.build(settings, db)


def subject_of(credentials: dict[str, str]) -> Any:
    from payreq.auth.subject import AuthSubject, CredentialKind, Tenant

    return AuthSubject(
        kind=CredentialKind.ACCESS_TOKEN,
        credential_id=uuid.uuid4(),
        tenant=Tenant(uuid.UUID(credentials["account_id"]), credentials["environment"]),
        scopes=frozenset({"*"}),
        application_id=None,
        rate_key="bench",
        rate_limit=None,
    )


DRAFT_FIELDS = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}


async def create_payments(services: Any, subject: Any, count: int, *, per_transaction: int) -> None:
    from payreq.payment.models import PaymentDraft

    draft = PaymentDraft(**DRAFT_FIELDS)  # type: ignore[arg-type]
    made = 0
    while made < count:
        async with services.db.transaction() as conn:
            for _ in range(min(per_transaction, count - made)):
                await services.payments.create(conn, subject, draft)
                made += 1


async def steady(rate: float, duration: float, make: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Start ``make`` ``rate`` times a second for ``duration`` seconds, each at its time
    whether or not the ones before have finished (open loop); wait for them all."""
    start, made = time.monotonic(), 0
    running: set[asyncio.Task[None]] = set()
    while (elapsed := time.monotonic() - start) < duration:
        due = int(elapsed * rate) + 1
        while made < due:
            task = asyncio.create_task(make())
            running.add(task)
            task.add_done_callback(running.discard)
            made += 1
        await asyncio.sleep(max(0.0, made / rate - (time.monotonic() - start)))
    await asyncio.gather(*running)
    return made


# -- the run ------------------------------------------------------------------------


async def bench(
    args: argparse.Namespace, workdir: Path, procs: Processes, database_url: str
) -> dict[str, Any]:
    pinning = Pinning.choose(enabled=not args.no_pin)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")},
        "PAYREQ_DATABASE_URL": database_url,
        "PAYREQ_LOG_LEVEL": "WARNING",
        "PAYREQ_WEBHOOK_CONCURRENCY": str(args.concurrency),
        "PAYREQ_EMBEDDED_WORKER": "false",
        "PAYREQ_DEFAULT_RATE_LIMIT": "1000000",
        # the receiver is on loopback, which webhooks may reach only when the operator says so
        "PAYREQ_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8",
    }
    credentials = prepare_database(env)
    port = free_port()
    receiver = f"http://{HOST}:{port}"
    procs.start(
        pinned([sys.executable, __file__, "--receiver", str(port)], pinning.client),
        env=env,
        stdout=workdir / "receiver.log",
        stderr=workdir / "receiver.log",
    )
    wait_http(f"{receiver}/stats")
    services = await services_for(env)
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_url = :u WHERE client_id = :c",
            {"u": f"{receiver}/hooks", "c": credentials["application_client_id"]},
        )
    subject = subject_of(credentials)
    results: dict[str, Any] = {
        "database": database_url.split(":")[0],
        "concurrency": args.concurrency,
        "load_before": load_average(),
    }

    # 1. throughput: a backlog, then one worker
    started = time.monotonic()
    await create_payments(services, subject, args.events, per_transaction=500)
    results["backlog_seconds"] = time.monotonic() - started
    worker = procs.start(
        pinned([sys.executable, "-m", "payreq", "worker"], pinning.server),
        env=env,
        stdout=workdir / "worker.log",
        stderr=workdir / "worker.log",
    )
    spy = None
    if args.profile:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        results["profile"] = str(HERE / "results" / f"profile-webhooks-{stamp}.txt")
        Path(results["profile"]).parent.mkdir(exist_ok=True)
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        spy = procs.start(
            [
                *(py_spy, "record", "--format", "raw", "--rate", "250", "--nonblocking"),
                *("--pid", str(worker.pid), "--output", results["profile"]),
            ],
            env=env,
            stderr=workdir / "py-spy.log",
        )
    arrived = wait_for(receiver, args.events, timeout=600, cpu_of=worker.pid)
    results["worker_cpu_ms_per_delivery"] = arrived.get("cpu_ms_per_delivery")
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        spy.wait(timeout=60)
    times = sorted(t for t, _ in arrived["arrivals"])
    results["deliveries_per_second"] = (len(times) - 1) / (times[-1] - times[0])
    results["delivered"] = arrived["distinct"]

    # 2. lag with a separate worker (it polls)
    reset(receiver)

    async def one_payment() -> None:
        await create_payments(services, subject, 1, per_transaction=1)

    made = await steady(args.rate, args.duration, one_payment)
    arrived = wait_for(receiver, made, timeout=60)
    results["lag_worker_ms"] = percentiles([lag for _, lag in arrived["arrivals"]])
    results["lag_worker_events"] = made
    procs.stop(worker)
    await services.db.close()

    # 3. lag with payreq serve and its embedded worker (woken by the commit)
    reset(receiver)
    serve_port = free_port()
    procs.start(
        pinned(
            [sys.executable, "-m", "payreq", "serve", "--host", HOST, "--port", str(serve_port)],
            pinning.server,
        ),
        env={**env, "PAYREQ_EMBEDDED_WORKER": "true", "PAYREQ_BASE_URL": f"http://{HOST}:{serve_port}"},
        stdout=workdir / "serve.log",
        stderr=workdir / "serve.log",
    )
    base = f"http://{HOST}:{serve_port}"
    wait_http(f"{base}/healthz")
    # open loop: a slow answer must not hold the next requests back (nor time them out)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        token = (
            await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def post_payment() -> None:
            answer = await client.post("/payment/request", json=DRAFT_FIELDS, headers=headers)
            answer.raise_for_status()

        made = await steady(args.rate, args.duration, post_payment)
    arrived = wait_for(receiver, made, timeout=60)
    results["lag_embedded_ms"] = percentiles([lag for _, lag in arrived["arrivals"]])
    results["lag_embedded_events"] = made
    results["pinning"] = pinning.describe()
    results["load_after"] = load_average()
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    def lag(row: dict[str, float]) -> str:
        return " ".join(f"{k} {row[k]:.0f}" for k in ("p50", "p90", "p99", "max"))

    def verdict(name: str) -> str:
        target, value = TARGETS[name], results[name]
        if name == "deliveries_per_second":
            return f"target >= {target:,.0f}/s: {'meets' if value >= target else 'misses'} it"
        return f"target p99 <= {target:.0f} ms: {'meets' if value['p99'] <= target else 'misses'} it"

    print(
        f"\nwebhooks bench: {results['database']}, PAYREQ_WEBHOOK_CONCURRENCY={results['concurrency']}, {results['pinning']}"
    )
    print(
        f"  throughput   {results['deliveries_per_second']:8.0f} deliveries/s  (one worker, {results['delivered']} queued;"
        f" {verdict('deliveries_per_second')})"
    )
    if results.get("worker_cpu_ms_per_delivery") is not None:
        print(
            f"  worker CPU   {results['worker_cpu_ms_per_delivery'] * 1000:8.0f} µs per delivery"
            "  (user + system, while it delivered the backlog)"
        )
    print(
        f"  lag, worker  {lag(results['lag_worker_ms'])} ms  "
        f"({results['lag_worker_events']} events at {args.rate:g}/s; a separate worker polls every 0.25 s;"
        f" {verdict('lag_worker_ms')})"
    )
    print(
        f"  lag, serve   {lag(results['lag_embedded_ms'])} ms  "
        f"({results['lag_embedded_events']} POST /payment/request at {args.rate:g}/s; the embedded worker is"
        f" woken by the commit; {verdict('lag_embedded_ms')})"
    )
    print(f"  load average {results['load_before']} before, {results['load_after']} after")
    if "profile" in results:
        print(
            f"the worker while it delivered the backlog (py-spy):\n{summarise(Path(results['profile']), top=20)}"
        )
        print(f"collapsed stacks: {results['profile']}")


async def with_database(args: argparse.Namespace, workdir: Path, procs: Processes) -> dict[str, Any]:
    if args.database == "sqlite":
        return await bench(args, workdir, procs, f"sqlite:///{workdir / 'bench.db'}")
    async with pgtemp.database() as url:
        try:
            return await bench(args, workdir, procs, url)
        finally:
            procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=5000, help="backlog for the throughput figure")
    parser.add_argument("--rate", type=float, default=200, help="events per second for the lag figures")
    parser.add_argument("--duration", type=float, default=15, help="seconds of steady events")
    parser.add_argument("--concurrency", type=int, default=32, help="PAYREQ_WEBHOOK_CONCURRENCY")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the worker during the throughput run"
    )
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return
    with tempfile.TemporaryDirectory(prefix="payreq-webhooks-") as tmp, Processes() as procs:
        results = asyncio.run(with_database(args, Path(tmp), procs))
    report(results, args)
    if args.json:
        print(json.dumps(results, indent=2))


def _terminate(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through Processes, which stops every child


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    main()
