"""bench/latency.py: the p99 latency at half the measured maximum rate.

    .venv/bin/python bench/latency.py                     # about a minute
    .venv/bin/python bench/latency.py --duration 20 --share 0.5

One ``payreq serve --no-worker`` (uvicorn, pinned to CPU 0 as bench/run.py does) on a
fresh SQLite database, seeded with 1000 payment requests. For ``GET
/payment/request/{id}`` and for ``POST /payment/request`` with a fresh Idempotency-Key
each, it measures

1. the maximum rate: a closed loop (wrk, or bench/loadgen.py), 64 connections,
   ``--duration`` seconds;
2. the latency at ``--share`` (0.5) of that rate: bench/loadgen.py as an open loop,
   the requests due on a fixed schedule and each one's latency counted from when it was
   due, so that a slow answer that holds the others back is counted, not hidden
   (``wrk`` measures a closed loop, where it is).

Targets (issue 15): p99 at half the maximum rate <= 10 ms on the GET, <= 25 ms on the
POST. Every child process is stopped at the end, also on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generators import Sample, choose, run_command, run_once
from procs import Pinning, Processes
from scenarios import Scenario, get_payment, post_payment
from stack import one_seeded_payreq

HERE = Path(__file__).resolve().parent
TARGETS_MS = {"GET": 10.0, "POST": 25.0}


def open_loop(
    procs: Processes, scenario: Scenario, *, rate: float, duration: int, pinning: Pinning, out: Path
) -> Sample:
    cmd = [
        sys.executable,
        str(HERE / "loadgen.py"),
        "--connections=64",
        f"--duration={duration}",
        "--processes=1",
        f"--rate={rate:.0f}",
        scenario.url,
    ]
    return run_command(procs, cmd, scenario, pinning=pinning, out=out, duration=duration)


def unsent(out: Path) -> int:
    """Requests that were due but found no free connection before the end (overload)."""
    line = next(line for line in reversed(out.read_text().splitlines()) if line.startswith("BENCH_RESULT "))
    return int(json.loads(line.removeprefix("BENCH_RESULT ")).get("unsent", 0))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measurement (default 10)")
    parser.add_argument("--share", type=float, default=0.5, help="share of the maximum rate (default 0.5)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    if not 0 < args.share <= 1 or args.duration < 2:
        parser.error("--share is above 0 and at most 1, --duration at least 2 s")
    pinning = Pinning.choose(enabled=not args.no_pin)
    generator = choose(args.generator, client_cpus=pinning.client_cpu_count)
    rows = []
    with tempfile.TemporaryDirectory(prefix="payreq-latency-") as tmp, Processes() as procs:
        workdir = Path(tmp)
        server, seeded, _ = one_seeded_payreq(procs, workdir, pinning)
        scenarios = {
            "GET": get_payment(
                "GET", server.port, access_token=seeded.access_token, get_paths=seeded.get_paths
            ),
            "POST": post_payment("POST", server.port, access_token=seeded.access_token, idempotency=True),
        }
        for name, scenario in scenarios.items():
            peak = run_once(
                procs,
                generator,
                scenario,
                pinning=pinning,
                out=workdir / f"{name}-max.out",
                duration=args.duration,
            )
            rate = peak.rps * args.share
            held = open_loop(
                procs,
                scenario,
                rate=rate,
                duration=args.duration,
                pinning=pinning,
                out=workdir / f"{name}.out",
            )
            if server.process.poll() is not None:
                raise SystemExit(f"payreq died under load:\n{server.log.read_text()[-2000:]}")
            rows.append((name, peak, rate, held, unsent(workdir / f"{name}.out")))
            print(
                f"{name}: max {peak.rps:,.0f} req/s; at {rate:,.0f} req/s p99 {held.p99_ms:.1f} ms",
                file=sys.stderr,
            )
    print(
        f"\nlatency bench: one payreq serve --no-worker, SQLite, max by {generator.name}, {pinning.describe()}"
    )
    print(
        f"open loop at {args.share:.0%} of the maximum, {args.duration} s each, latency from when a request was due"
    )
    print(
        f"{'scenario':<44} {'max req/s':>10} {'at req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'target':>7}"
        "  verdict"
    )
    for name, peak, _, held, late in rows:
        label = "GET /payment/request/{id}" if name == "GET" else "POST /payment/request Idempotency-Key"
        target = TARGETS_MS[name]
        bad = held.http_errors + held.errors
        verdict = (
            f"invalid ({held.http_errors} 4xx/5xx, {held.errors} errors)"
            if bad
            else ("meets" if held.p99_ms <= target else "misses")
        )
        if late:
            verdict += f" ({late} requests never sent: the rate was not held)"
        print(
            f"{label:<44} {peak.rps:>10,.0f} {held.rps:>9,.0f} {held.p50_ms:>7.1f} {held.p99_ms:>7.1f}"
            f" {target:>6.0f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
