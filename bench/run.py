"""payreq's benchmark: requests per second and latency of its hot paths, as ratios of
what raw Starlette serves on the same machine in the same run.

    .venv/bin/python bench/run.py [--duration 3] [--rounds 3] [--connections 64]
                                  [--limiter off,memory,redis] [--database sqlite,postgresql]
    make bench BENCH_ARGS="--rounds 5"

Starts payreq (``payreq serve --no-worker``, one process) on a fresh SQLite database
in a temporary directory and a bare Starlette app under the same uvicorn settings,
plus one payreq per rate-limiter configuration (off, memory, redis) on the same
database, and with ``--database postgresql`` one more payreq on a temporary PostgreSQL
database (its GET and keyed POST rows), all pinned to CPU 0; drives them from CPU 1 with wrk (or bench/loadgen.py
when wrk is not installed), in interleaved rounds; prints the medians. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

import bare
import limiters
import pgtemp
from generators import Generator, Sample, choose
from procs import Pinning, Processes, cpu_seconds, pinned
from report import Summary, save, summarise, table
from scenarios import (
    BARE,
    Scenario,
    all_scenarios,
    database_scenarios,
    limiter_scenario_name,
    limiter_scenarios,
)
from stack import (
    Server,
    free_port,
    one_seeded_payreq,
    prepare_database,
    readiness,
    seed,
    server_env,
    start_servers,
)

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load per scenario")
    parser.add_argument("--payments", type=int, default=1000, help="payment requests the GET scenario cycles")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and generator to CPUs")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    parser.add_argument(
        "--limiter",
        default=",".join(limiters.LIMITERS),
        metavar="LIST",
        help="rate-limiter configurations for the extra GET /payment/request/{id} rows, each its own"
        " server: any of off,memory,redis, or none (default off,memory,redis)",
    )
    parser.add_argument(
        "--redis-url",
        default=limiters.DEFAULT_REDIS_URL,
        help=f"the Redis of the redis row (default {limiters.DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        metavar="LIST",
        help="sqlite (the table, always) and/or postgresql: GET and keyed POST rows on a temporary"
        f" PostgreSQL database at {pgtemp.ADMIN_URL.rsplit('/', 1)[0]} (default sqlite)",
    )
    args = parser.parse_args(argv)
    try:
        args.limiter = limiters.parse(args.limiter)
    except ValueError as exc:
        parser.error(f"--limiter: {exc}")
    args.database = [name.strip() for name in args.database.split(",") if name.strip()]
    if not args.database or set(args.database) - {"sqlite", "postgresql"}:
        parser.error("--database: a list of sqlite and postgresql")
    for name in ("duration", "rounds", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(
        self,
        procs: Processes,
        generator: Generator,
        pinning: Pinning,
        args: argparse.Namespace,
        workdir: Path,
    ) -> None:
        self.procs = procs
        self.generator = generator
        self.pinning = pinning
        self.args = args
        self.workdir = workdir
        self.runs = 0

    def measure(self, scenario: Scenario, server: Server, *, duration: int) -> Sample:
        cmd = self.generator.command(scenario, connections=self.args.connections, duration=duration)
        self.runs += 1
        out = self.workdir / f"load-{self.runs}.out"
        env: Mapping[str, str] = {**os.environ, **scenario.env()}
        server_before, client_before = cpu_seconds(server.process.pid), _children_cpu()
        child = self.procs.start(pinned(cmd, self.pinning.client), env=env, stdout=out, stderr=out)
        try:
            child.wait(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the load generator did not stop: {' '.join(cmd)}") from None
        finally:
            self.procs.stop(child)
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} died under load:\n{server.log.read_text()[-2000:]}")
        sample = Sample.parse(out.read_text())
        server_cpu = cpu_seconds(server.process.pid) - server_before
        client_cpu = _children_cpu() - client_before
        window = sample.duration_s or duration
        return replace(sample, server_cpu=server_cpu / window, client_cpu=client_cpu / window)


def probe(scenario: Scenario) -> httpx.Response:
    """One request by hand before any load: a scenario that fails would measure its errors."""
    headers = {k: v for k, v in (("Authorization", scenario.authorization),) if v}
    if scenario.content_type:
        headers["Content-Type"] = scenario.content_type
    answer = httpx.request(scenario.method, scenario.url, content=scenario.body or None, headers=headers)
    if not answer.is_success:
        raise RuntimeError(f"{scenario.name} answered {answer.status_code}: {answer.text[:500]}")
    return answer


def check_limiter(
    limiter: str, server: Server, answer: httpx.Response, redis: limiters.RedisTarget | None
) -> None:
    """The server runs the limiter its row is named for: /readyz says so, the probe's
    answer carries RateLimit-* headers unless it is off, and the redis one left keys in Redis
    (payreq falls back to memory, silently but for a log line, when Redis fails)."""
    detail = readiness(server).get("rate_limiter", "")
    if not detail.startswith(limiters.READY_DETAIL[limiter]):
        raise RuntimeError(f"the limiter={limiter} server reports its rate limiter as {detail!r}")
    if ("RateLimit-Limit" in answer.headers) != (limiter != "off"):
        raise RuntimeError(f"the limiter={limiter} server answered with headers {dict(answer.headers)}")
    if limiter == "redis" and redis is not None and not redis.keys():
        raise RuntimeError(f"the limiter=redis server wrote no key under {redis.prefix}* in {redis.url}")


def degraded(server: Server) -> bool:
    """Whether the server logged that it lost Redis and limited in memory meanwhile."""
    return limiters.DEGRADED_LOG in server.log.read_text(errors="replace")


def redis_for(args: argparse.Namespace, notes: list[str]) -> limiters.RedisTarget | None:
    """This run's Redis (a unique key prefix), or None with a note if it does not answer."""
    if "redis" not in args.limiter:
        return None
    target = limiters.RedisTarget(args.redis_url, limiters.unique_prefix())
    reason = target.unreachable()
    if reason is None:
        return target
    notes.append(f"note: no limiter=redis row: Redis at {args.redis_url} is not reachable ({reason})")
    log(notes[-1])
    return None


def round_order(main: list[Scenario], limiter_rows: list[Scenario], shift: int) -> list[Scenario]:
    """One round: the reads (the bare ceiling, GET, then the limiter rows, their order
    rotated by ``shift`` so that no configuration always runs first or last), then the
    writes. Reads do not follow the writes' tail of commits and checkpoints that way."""
    reads = [s for s in main if s.method == "GET"]
    writes = [s for s in main if s.method != "GET"]
    k = shift % len(limiter_rows) if limiter_rows else 0
    return [*reads, *limiter_rows[k:], *limiter_rows[:k], *writes]


def collect(
    args: argparse.Namespace, pinning: Pinning, generator: Generator, notes: list[str]
) -> dict[str, list[Sample]]:
    """Set everything up, warm up, measure the interleaved rounds, tear everything down
    (servers first, then this run's Redis keys). Adds what the reader should know to ``notes``."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="payreq-bench-")))
        redis = redis_for(args, notes)
        if redis is not None:
            stack.enter_context(redis.cleaned_up(log))
        postgres_url = None
        if "postgresql" in args.database:
            reason = pgtemp.unreachable()
            if reason is None:
                postgres_url = stack.enter_context(pgtemp.database_sync())  # dropped after the servers stop
            else:
                notes.append(f"note: no PostgreSQL rows: {pgtemp.ADMIN_URL} is not reachable ({reason})")
                log(notes[-1])
        procs = stack.enter_context(Processes())
        port = free_port()
        env = server_env(os.environ, workdir, port)
        log(f"preparing {env['PAYREQ_DATABASE_URL']} ...")
        credentials = prepare_database(env)
        chosen = [name for name in args.limiter if name != "redis" or redis is not None]
        payreq, ceiling, by_limiter = start_servers(
            procs,
            env=env,
            port=port,
            workdir=workdir,
            pinning=pinning,
            limiters={name: limiters.limiter_env(env, name, redis) for name in chosen},
        )
        log(
            f"payreq on :{payreq.port}, bare on :{ceiling.port}"
            + "".join(f", limiter={name} on :{server.port}" for name, server in by_limiter.items())
            + f"; seeding {args.payments} payments ..."
        )
        seeded = seed(payreq, credentials, payments=args.payments, workdir=workdir)
        main = all_scenarios(
            bare_port=ceiling.port,
            bare_path=bare.PATH,
            port=payreq.port,
            access_token=seeded.access_token,
            client_id=seeded.client_id,
            client_secret=seeded.client_secret,
            get_paths=seeded.get_paths,
        )
        if postgres_url is not None:
            log(f"preparing PostgreSQL {postgres_url}, seeding {args.payments} payments ...")
            (workdir / "postgresql").mkdir()
            on_postgres, pg_seeded, _ = one_seeded_payreq(
                procs,
                workdir / "postgresql",
                pinning,
                name="payreq-postgresql",
                payments=args.payments,
                database_url=postgres_url,
            )
            pg_rows = database_scenarios(
                "postgresql",
                on_postgres.port,
                access_token=pg_seeded.access_token,
                get_paths=pg_seeded.get_paths,
            )
            main += pg_rows
        extra = limiter_scenarios(
            {name: server.port for name, server in by_limiter.items()},
            access_token=seeded.access_token,
            get_paths=seeded.get_paths,
        )
        scenarios = main + extra  # the table's order
        servers = {s.name: ceiling if s.name == BARE else payreq for s in main}
        if postgres_url is not None:
            servers |= {s.name: on_postgres for s in pg_rows}
        servers |= {limiter_scenario_name(name): server for name, server in by_limiter.items()}
        bench = Bench(procs, generator, pinning, args, workdir)
        for scenario in round_order(main, extra, 0):
            answer = probe(scenario)
            for name, server in by_limiter.items():
                if scenario.name == limiter_scenario_name(name):
                    check_limiter(name, server, answer, redis)
            if args.warmup > 0:
                bench.measure(scenario, servers[scenario.name], duration=args.warmup)
        samples: dict[str, list[Sample]] = {s.name: [] for s in scenarios}
        width = max(len(s.name) for s in scenarios)
        for round_no in range(1, args.rounds + 1):
            for scenario in round_order(main, extra, round_no - 1):
                sample = bench.measure(scenario, servers[scenario.name], duration=args.duration)
                samples[scenario.name].append(sample)
                log(f"round {round_no}/{args.rounds}  {scenario.name:<{width}} {sample.rps:>9,.0f} req/s")
        if "redis" in by_limiter and degraded(by_limiter["redis"]):
            notes.append(
                "warning: the limiter=redis server lost Redis during the run and limited in memory"
                " meanwhile (rate_limiter_degraded in its log); its row is not a Redis figure"
            )
        return samples


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def load_average() -> str:
    """``uptime``'s load averages (1, 5, 15 min): how busy the shared machine was."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def print_report(rows: list[Summary], meta: dict[str, Any], pinning: Pinning, notes: list[str]) -> None:
    print()
    print(f"payreq bench, {meta['started_at']}, {meta['machine']}")
    print(f"load generator: {meta['generator']}; {meta['connections']} connections on 127.0.0.1")
    print(f"{pinning.describe()}; SQLite synchronous={meta['sqlite_synchronous']}")
    if "postgresql" in meta["databases"]:
        print(
            "[postgresql] rows: one more payreq on a temporary PostgreSQL database on 127.0.0.1"
            " (dropped at the end); their 'vs bare' is against the same bare rounds"
        )
    print(
        f"load average before / after: {meta['load_before']} / {meta['load_after']}; server: {meta['server']}"
    )
    print(
        f"{meta['rounds']} interleaved rounds of {meta['duration_s']} s; medians;"
        " 'vs bare' is the median of the per-round ratios"
    )
    if any(r.vs_off is not None for r in rows):
        print(
            "'vs limiter off': GET /payment/request/{id} on a server with that rate limiter over the same"
            " GET on a server with the limiter off, per round, median"
        )
    print()
    print(table(rows))
    ceiling = next(r for r in rows if r.scenario == BARE)
    if ceiling.server_cpu < 0.8:
        print(
            f"\nwarning: the bare server used {ceiling.server_cpu:.0%} of its core, not ~100%:"
            " other processes compete for the CPUs, so these figures are noisy"
        )
    if any(r.client_cpu > 0.9 * pinning.client_cpu_count for r in rows):
        print("\nwarning: the load generator used all its CPU; it, not the server, may be the limit")
    if any(r.http_errors or r.errors for r in rows):
        print("\nwarning: some requests failed (errors column); their scenario's figures are not valid")
    for note in notes:
        print(f"\n{note}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = Pinning.choose(enabled=not args.no_pin)
    generator = choose(args.generator, client_cpus=pinning.client_cpu_count)
    started = datetime.now(UTC)
    notes: list[str] = []
    load_before = load_average()
    samples = collect(args, pinning, generator, notes)
    limiter_rows = [limiter_scenario_name(name) for name in args.limiter]
    off = limiter_scenario_name(limiters.REFERENCE)
    rows = summarise(samples, BARE, limiter_off=off if off in samples else None, limiter_rows=limiter_rows)
    meta: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} x {cpu_model()}, Python {platform.python_version()}",
        "generator": generator.name,
        "pinning": pinning.describe(),
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "sqlite_synchronous": os.environ.get("PAYREQ_SQLITE_SYNCHRONOUS", "FULL (default)"),
        "databases": ["sqlite", *(["postgresql"] if any("[postgresql]" in name for name in samples) else [])],
        "limiters": [name for name in args.limiter if limiter_scenario_name(name) in samples],
        "redis_url": args.redis_url if limiter_scenario_name("redis") in samples else None,
        "notes": notes,
        "load_before": load_before,
        "load_after": load_average(),
        "server": os.environ.get("PAYREQ_SERVER", "uvicorn"),
        "lean_routes": os.environ.get("PAYREQ_LEAN_ROUTES", "true"),
    }
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        print_report(rows, meta, pinning, notes)
    print(report.getvalue(), end="")
    if not args.no_save:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        path = HERE / "results" / f"{stamp}-{generator.name.split()[0]}.json"
        save(path, meta=meta, rows=rows, samples=samples)
        text = path.with_suffix(".txt")
        text.write_text(report.getvalue().lstrip("\n"))
        (HERE / "results" / "latest.txt").write_text(report.getvalue().lstrip("\n"))
        print(f"\nsaved {path.relative_to(HERE.parent)}, the table in {text.relative_to(HERE.parent)}")
    return 0


def _terminate(signum: int, _: FrameType | None) -> None:
    log(f"stopping on signal {signum}")
    raise SystemExit(128 + signum)  # unwinds through Processes, which stops every child


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        sys.exit(130)
    except RuntimeError as exc:
        log(f"bench failed: {exc}")
        sys.exit(1)
