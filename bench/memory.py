"""bench/memory.py: the resident memory of one ``payreq serve`` under 200,000 requests.

    .venv/bin/python bench/memory.py                      # 200,000 requests, 2-4 minutes
    .venv/bin/python bench/memory.py --requests 50000 --get-share 0.5

One ``payreq serve --no-worker`` (uvicorn, pinned to CPU 0 as bench/run.py does) on a
fresh SQLite database, seeded with 1000 payment requests, takes slices of load from
the other CPU (wrk, or bench/loadgen.py): ``GET /payment/request/{id}`` polls cycling
over the seeded ids, then ``POST /payment/request`` with a fresh Idempotency-Key each,
``--get-share`` of the time on the GET (default 0.75: polling dominates), until
``--requests`` have been answered. A thread reads the server's RSS
(``/proc/<pid>/status``, VmRSS) every 0.2 s meanwhile. It prints the RSS after the
seeding, at the half and at the end, the peak, and the growth over the last half
(target: under 120 MB at the end and no growth in the last half). Every child
process is stopped at the end, also on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generators import choose, run_once
from procs import Pinning, Processes
from scenarios import get_payment, post_payment
from stack import one_seeded_payreq

TARGET_MB = 120.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sampler:
    """RSS every ``interval`` seconds, with the number of requests answered so far."""

    pid: int
    interval: float = 0.2
    answered: int = 0
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (time, requests, MB)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.answered, rss_mb(self.pid)))
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000, help="requests in all (default 200,000)")
    parser.add_argument("--get-share", type=float, default=0.75, help="share of the load's time on the GET")
    parser.add_argument("--slice", type=int, default=4, help="seconds per slice of GET + POST (default 4)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the samples as JSON")
    args = parser.parse_args()
    if not 0 <= args.get_share <= 1 or args.slice < 2 or args.requests < 2:
        parser.error("--get-share is between 0 and 1, --slice at least 2 s, --requests at least 2")
    pinning = Pinning.choose(enabled=not args.no_pin)
    generator = choose(args.generator, client_cpus=pinning.client_cpu_count)
    get_seconds = max(1, round(args.slice * args.get_share)) if args.get_share else 0
    post_seconds = args.slice - get_seconds if args.get_share < 1 else 0
    with tempfile.TemporaryDirectory(prefix="payreq-memory-") as tmp, Processes() as procs:
        workdir = Path(tmp)
        server, seeded, _ = one_seeded_payreq(procs, workdir, pinning)
        pid = server.process.pid
        get = get_payment("GET", server.port, access_token=seeded.access_token, get_paths=seeded.get_paths)
        post = post_payment("POST", server.port, access_token=seeded.access_token, idempotency=True)
        seeded_mb = rss_mb(pid)
        counts = {"GET": 0, "POST": 0}
        errors = 0
        started = time.monotonic()
        with Sampler(pid) as sampler:
            runs = 0
            while sampler.answered < args.requests:
                for scenario, seconds in ((get, get_seconds), (post, post_seconds)):
                    if seconds == 0:
                        continue
                    runs += 1
                    sample = run_once(
                        procs,
                        generator,
                        scenario,
                        pinning=pinning,
                        out=workdir / f"load-{runs}.out",
                        connections=args.connections,
                        duration=seconds,
                    )
                    if server.process.poll() is not None:
                        raise SystemExit(f"payreq died under load:\n{server.log.read_text()[-2000:]}")
                    counts[scenario.name] += sample.requests
                    errors += sample.http_errors + sample.errors
                    sampler.answered += sample.requests
                    print(
                        f"{sampler.answered:>8,} requests  RSS {rss_mb(pid):6.1f} MB  "
                        f"({scenario.name} {sample.rps:,.0f} req/s)",
                        file=sys.stderr,
                        flush=True,
                    )
        elapsed = time.monotonic() - started
        final_mb = rss_mb(pid)
    samples = sampler.samples
    total = sampler.answered
    half = next(mb for _, answered, mb in samples if answered >= total / 2)
    second_half = [mb for _, answered, mb in samples if answered >= total / 2]
    peak = max(mb for *_, mb in samples)
    growth = final_mb - half
    print(f"\nmemory bench: one payreq serve --no-worker, SQLite, {generator.name}, {pinning.describe()}")
    print(
        f"  {total:,} requests in {elapsed:.0f} s ({counts['GET']:,} GET /payment/request/{{id}},"
        f" {counts['POST']:,} POST /payment/request with Idempotency-Key), {errors} errors"
    )
    print(f"  RSS after seeding {seeded_mb:.1f} MB, at the half {half:.1f} MB, at the end {final_mb:.1f} MB")
    print(
        f"  peak {peak:.1f} MB; last half: growth {growth:+.1f} MB"
        f" (min {min(second_half):.1f}, max {max(second_half):.1f} MB)"
    )
    verdict = "meets" if final_mb < TARGET_MB and growth <= 1.0 else "misses"
    print(
        f"  target: < {TARGET_MB:.0f} MB after 200,000 requests and no growth in the last half: {verdict} it"
        " (growth up to 1 MB counts as none: allocator noise)"
    )
    if errors:
        print("  warning: some requests failed; the run is not valid")
    if args.json:
        print(json.dumps({"samples": samples, "final_mb": final_mb, "half_mb": half, "counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
