"""Where payreq's server spends its CPU on one hot path: py-spy on the server process
while wrk (or bench/loadgen.py) drives that path.

    .venv/bin/python bench/pyspy.py get|post|keyed|token [--duration 15] [--rate 250]
    .venv/bin/python bench/pyspy.py keyed --database postgresql   # on a temporary database

Starts one ``payreq serve --no-worker`` on a fresh SQLite database (as ``bench/run.py``
does), seeds it, then records the server with ``py-spy record --format raw`` for
``--duration`` seconds under 64 connections. Prints the share of samples (inclusive)
spent under a few groups of frames (framework, middleware, database, payreq's own
code, idle) and the hottest functions by own time; the collapsed stacks are kept in
``bench/results/profile-<path>-<time>.txt`` (git-ignored), ready for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pgtemp
from generators import choose
from procs import Pinning, Processes, pinned
from scenarios import all_scenarios
from stack import one_seeded_payreq

HERE = Path(__file__).resolve().parent
PATHS = {
    "get": "GET /payment/request/{id}",
    "post": "POST /payment/request",
    "keyed": "POST /payment/request Idempotency-Key",
    "token": "POST /oauth/token",
}

# own time (the sampled leaf frame) by where its code lives; first match wins
GROUPS = [
    ("litestar (routing, DI, responses, its middleware)", "litestar/"),
    ("uvicorn / httptools (HTTP parsing, sending)", "uvicorn/"),
    ("granian", "granian"),
    (
        "payreq edge (request id, idempotency, lean routes)",
        ("payreq/edge.py", "payreq/http.py", "idempotency/middleware.py"),
    ),
    ("payreq database layer (sqlite3 / asyncpg calls)", ("payreq/db/", "asyncpg/", "sqlite3/")),
    ("payreq auth + rate limiter", ("payreq/auth/", "payreq/ratelimit/")),
    ("redis client (redis-py, hiredis; PAYREQ_REDIS_URL set)", ("redis/", "hiredis")),
    ("payreq payment / oauth / other", "payreq/"),
    ("msgspec", "msgspec"),
    ("structlog / logging", ("structlog/", "logging/")),
    ("prometheus_client", "prometheus_client/"),
    ("asyncio / event loop / contextlib", ("asyncio/", "runners.py", "contextlib.py", "uvloop")),
]


def _group(frame: str) -> str:
    if frame.startswith("Runner.run (") or not frame.strip():
        return "idle (the event loop waiting, in uvloop's C code)"
    for label, needles in GROUPS:
        for needle in (needles,) if isinstance(needles, str) else needles:
            if needle in frame:
                return label
    return "other (stdlib: uuid, datetime, hashlib ...)"


def summarise(raw: Path, top: int = 25) -> str:
    """Own time per group of code and per function, from py-spy's raw (collapsed)
    output: ``frame;frame;... count`` per line, root first; the leaf is where the
    sample was taken. py-spy shows an asyncio task's stack from the coroutine that
    was resumed, so inclusive shares of the framework are not reliable; own time is."""
    total = 0
    groups: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    under_redis = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1]
        own[leaf] += count
        groups[_group(leaf)] += count
        if "redis/" in stack:
            under_redis += count
    if not total:
        return "no samples"
    lines = [f"{total} samples; own time by where the code lives:"]
    for label, count in groups.most_common():
        lines.append(f"  {count / total:6.1%}  {label}")
    if under_redis:  # the socket calls and event-loop work the client does count here too
        lines.append(f"  {under_redis / total:6.1%}  inclusive: any sample with redis-py on its stack")
    lines.append("hottest functions by own time:")
    for frame, count in own.most_common(top):
        lines.append(f"  {count / total:6.1%}  {frame[:150]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tag", default="", help="added to the output file's name (before/after)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: the server on a temporary PostgreSQL database (bench/pgtemp.py)",
    )
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    pinning = Pinning.choose(enabled=True)
    generator = choose("auto", client_cpus=pinning.client_cpu_count)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results" / f"profile-{args.path}{'-' + args.tag if args.tag else ''}-{stamp}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(pgtemp.database_sync()) if args.database == "postgresql" else None
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="payreq-profile-"))
        procs = stack.enter_context(Processes())
        workdir = Path(tmp)
        server, seeded, _ = one_seeded_payreq(procs, workdir, pinning, database_url=database_url)
        port = server.port
        scenarios = all_scenarios(
            bare_port=0,
            bare_path="/",
            port=port,
            access_token=seeded.access_token,
            client_id=seeded.client_id,
            client_secret=seeded.client_secret,
            get_paths=seeded.get_paths,
        )
        scenario = next(s for s in scenarios if s.name == PATHS[args.path])
        cmd = generator.command(scenario, connections=args.connections, duration=args.duration + 2)
        load_out = workdir / "load.out"
        load = procs.start(pinned(cmd, pinning.client), env={**os.environ, **scenario.env()}, stdout=load_out)
        spy = subprocess.run(
            [
                *(pyspy, "record", "--pid", str(server.process.pid), "--duration", str(args.duration)),
                *("--rate", str(args.rate), "--format", "raw", "--nonblocking", "--output", str(out)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        load.wait(timeout=args.duration + 60)
        if spy.returncode != 0:
            print(spy.stderr, file=sys.stderr)
            return 1
        print(f"{scenario.name}: {load_out.read_text().strip().splitlines()[-1]}")
    print(summarise(out))
    print(f"collapsed stacks: {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
