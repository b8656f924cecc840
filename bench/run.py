"""payreq's benchmark: requests per second and latency of its hot paths, as ratios of
what raw Starlette serves on the same machine in the same run.

    .venv/bin/python bench/run.py [--duration 4] [--rounds 3] [--connections 64]
    make bench BENCH_ARGS="--rounds 5"

Starts payreq (``payreq serve --no-worker``, one process) on a fresh SQLite database
in a temporary directory and a bare Starlette app under the same uvicorn settings,
both pinned to CPU 0; drives them from CPU 1 with wrk (or bench/loadgen.py when wrk is
not installed), in interleaved rounds; prints the medians. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
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
from generators import Generator, Sample, choose
from procs import Pinning, Processes, cpu_seconds, pinned
from report import Summary, save, summarise, table
from scenarios import BARE, Scenario, all_scenarios
from stack import Server, free_port, prepare_database, seed, server_env, start_servers

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=4, help="seconds per measurement (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load per scenario")
    parser.add_argument("--payments", type=int, default=1000, help="payment requests the GET scenario cycles")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and generator to CPUs")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
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


def probe(scenario: Scenario) -> None:
    """One request by hand before any load: a scenario that fails would measure its errors."""
    headers = {k: v for k, v in (("Authorization", scenario.authorization),) if v}
    if scenario.content_type:
        headers["Content-Type"] = scenario.content_type
    answer = httpx.request(scenario.method, scenario.url, content=scenario.body or None, headers=headers)
    if not answer.is_success:
        raise RuntimeError(f"{scenario.name} answered {answer.status_code}: {answer.text[:500]}")


def collect(args: argparse.Namespace, pinning: Pinning, generator: Generator) -> dict[str, list[Sample]]:
    """Set everything up, warm up, measure the interleaved rounds, tear everything down."""
    with tempfile.TemporaryDirectory(prefix="payreq-bench-") as tmp, Processes() as procs:
        workdir = Path(tmp)
        port = free_port()
        env = server_env(os.environ, workdir, port)
        log(f"preparing {env['PAYREQ_DATABASE_URL']} ...")
        credentials = prepare_database(env)
        payreq, ceiling = start_servers(procs, env=env, port=port, workdir=workdir, pinning=pinning)
        log(f"payreq on :{payreq.port}, bare on :{ceiling.port}; seeding {args.payments} payments ...")
        seeded = seed(payreq, credentials, payments=args.payments, workdir=workdir)
        scenarios = all_scenarios(
            bare_port=ceiling.port,
            bare_path=bare.PATH,
            port=payreq.port,
            access_token=seeded.access_token,
            client_id=seeded.client_id,
            client_secret=seeded.client_secret,
            get_paths=seeded.get_paths,
        )
        servers = {s.name: ceiling if s.name == BARE else payreq for s in scenarios}
        bench = Bench(procs, generator, pinning, args, workdir)
        for scenario in scenarios:
            probe(scenario)
            if args.warmup > 0:
                bench.measure(scenario, servers[scenario.name], duration=args.warmup)
        samples: dict[str, list[Sample]] = {s.name: [] for s in scenarios}
        for round_no in range(1, args.rounds + 1):
            for scenario in scenarios:
                sample = bench.measure(scenario, servers[scenario.name], duration=args.duration)
                samples[scenario.name].append(sample)
                log(f"round {round_no}/{args.rounds}  {scenario.name:<30} {sample.rps:>9,.0f} req/s")
        return samples


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def print_report(rows: list[Summary], meta: dict[str, Any], pinning: Pinning) -> None:
    print()
    print(f"payreq bench, {meta['started_at']}, {meta['machine']}")
    print(f"load generator: {meta['generator']}; {meta['connections']} connections on 127.0.0.1")
    print(f"{pinning.describe()}; SQLite synchronous={meta['sqlite_synchronous']}")
    print(
        f"{meta['rounds']} interleaved rounds of {meta['duration_s']} s; medians;"
        " 'vs bare' is the median of the per-round ratios"
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = Pinning.choose(enabled=not args.no_pin)
    generator = choose(args.generator, client_cpus=pinning.client_cpu_count)
    started = datetime.now(UTC)
    samples = collect(args, pinning, generator)
    rows = summarise(samples, BARE)
    meta: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} x {cpu_model()}, Python {platform.python_version()}",
        "generator": generator.name,
        "pinning": pinning.describe(),
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "sqlite_synchronous": os.environ.get("PAYREQ_SQLITE_SYNCHRONOUS", "FULL (default)"),
    }
    print_report(rows, meta, pinning)
    if not args.no_save:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        path = HERE / "results" / f"{stamp}-{generator.name.split()[0]}.json"
        save(path, meta=meta, rows=rows, samples=samples)
        print(f"\nsaved {path.relative_to(HERE.parent)}")
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
