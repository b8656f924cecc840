"""CPU per request of payreq's hot paths, with no server and no load generator: the
ASGI application called directly, in this process, pinned to one CPU.

    .venv/bin/python bench/inprocess.py [--requests 4000] [--concurrency 32] [--only get,post]
    .venv/bin/python bench/inprocess.py --database postgresql   # a temporary database (bench/pgtemp.py)
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/inprocess.py   # older code

Far less noisy than wrk on a busy machine (it counts CPU time, not wall time), so it is
the measure to compare two versions of the code by, interleaved; it leaves out what
the HTTP server costs (uvicorn's parsing and writes, about 30 µs a request). It makes a
fresh SQLite (or PostgreSQL) database as ``bench/run.py`` does (migrate,
bootstrap, lifted limits), starts the app's lifespan without the embedded webhook
worker (as ``bench/run.py``'s servers, ``--no-worker``: its sweeps and deliveries of
the events the run writes would count as the requests' CPU), seeds 1000 payments, then runs
each path ``--requests`` times from ``--concurrency`` tasks and prints the CPU
microseconds per request (``time.process_time``: every thread, so the writer thread's
COMMITs count) and the wall microseconds. Every answer's status is checked.

``--statements`` also counts the statements each request sends to the database, a
figure no noise moves: on PostgreSQL each is a round trip (BEGIN and COMMIT included);
on SQLite a call into the library (a group's COMMIT, shared, is left out).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pgtemp
from scenarios import PAYMENT_BODY
from stack import prepare_database, server_env

Asgi = Callable[..., Any]
PATHS = ("get", "post", "keyed", "token")


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.body = b""


def scope_of(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(
    app: Asgi, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> Answer:
    answer = Answer()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope_of(method, path, headers), receive, send)
    return answer


async def lifespan(app: Asgi) -> Callable[[], Any]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set_result(None)
        elif message["type"] == "lifespan.shutdown.complete":
            done.set_result(None)
        elif message["type"].endswith(".failed"):
            raise RuntimeError(message)

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, queue.get, send)
    )
    await started

    async def stop() -> None:
        await queue.put({"type": "lifespan.shutdown"})
        await done
        await task

    return stop


class Statements:
    """Counts the statements payreq's database layer sends (``--statements``): it wraps
    the one method of each engine's connection that every statement goes through."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        from payreq.db import postgres, sqlite

        def counted(method: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                return method(*args, **kwargs)

            return wrapper

        sqlite.SQLiteConnection._run = counted(sqlite.SQLiteConnection._run)  # type: ignore[method-assign]
        postgres.PostgresConnection._attempt = counted(postgres.PostgresConnection._attempt)  # type: ignore[method-assign]
        postgres.PostgresConnection._commit = counted(postgres.PostgresConnection._commit)  # type: ignore[method-assign]


STATEMENTS = Statements()


async def measure(
    label: str, requests: int, concurrency: int, one: Callable[[int], Any], expect: int
) -> tuple[float, float, float]:
    counter = iter(range(requests))
    statuses: dict[int, int] = {}

    async def loop() -> None:
        for i in counter:
            await asyncio.sleep(0)  # the tasks take turns, as a server's connections do
            answer = await one(i)
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if answer.status != expect:
                raise RuntimeError(f"{label}: {answer.status} {answer.body[:300]!r}")

    sent = STATEMENTS.count
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / requests * 1e6, wall / requests * 1e6, (STATEMENTS.count - sent) / requests


async def main(args: argparse.Namespace, workdir: Path, database_url: str) -> None:
    env = {
        **server_env(os.environ, workdir, 8000),  # as bench/run.py's servers, on this database
        "PAYREQ_DATABASE_URL": database_url,
        "PAYREQ_LOG_LEVEL": "warning",
    }
    credentials = prepare_database(env)
    os.environ.update(env)
    from payreq.app import create_app  # after the environment: settings read it

    app = create_app(freeze=True, run_worker=False)  # as bench/run.py's `serve --no-worker`
    stop = await lifespan(app)
    try:
        basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode())
        token_headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", b"Basic " + basic),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ]
        form = b"grant_type=client_credentials"
        token = await call(app, "POST", "/oauth/token", token_headers, form)
        bearer = b"Bearer " + json.loads(token.body)["access_token"].encode()
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", bearer),
            (b"content-type", b"application/json"),
        ]
        body = PAYMENT_BODY.encode()
        ids = []
        for _ in range(1000):
            created = await call(app, "POST", "/payment/request", headers, body)
            ids.append(json.loads(created.body)["id"])
        runs: dict[str, tuple[Callable[[int], Any], int]] = {
            "get": (lambda i: call(app, "GET", f"/payment/request/{ids[i % len(ids)]}", headers), 200),
            "post": (lambda i: call(app, "POST", "/payment/request", headers, body), 201),
            "keyed": (
                lambda i: call(
                    app,
                    "POST",
                    "/payment/request",
                    [*headers, (b"idempotency-key", prefix + str(i).encode())],
                    body,
                ),
                201,
            ),
            "token": (lambda i: call(app, "POST", "/oauth/token", token_headers, form), 200),
        }
        only = [p for p in args.only.split(",") if p]
        results: dict[str, list[tuple[float, float, float]]] = {p: [] for p in only}
        for round_ in range(args.rounds):
            for path in only:
                one, expect = runs[path]
                # keyed: keys new to the warm-up, then new again to the measure (the same
                # key twice is a replay, a cheaper answer than a creation)
                prefix = f"{round_}-warm-".encode() + os.urandom(4).hex().encode()
                await measure(path, max(100, args.requests // 10), args.concurrency, one, expect)  # warm-up
                prefix = f"{round_}-".encode() + os.urandom(4).hex().encode()
                results[path].append(await measure(path, args.requests, args.concurrency, one, expect))
        for path in only:
            cpu = statistics.median(r[0] for r in results[path])
            wall = statistics.median(r[1] for r in results[path])
            spread = ", ".join(f"{r[0]:.1f}" for r in results[path])
            sent = f"  {results[path][-1][2]:.2f} statements/request" if args.statements else ""
            print(f"{path:6} {cpu:7.1f} µs CPU/request  {wall:7.1f} µs wall  (rounds: {spread}){sent}")
    finally:
        await stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(PATHS))
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-pin", action="store_true", help="do not pin this process to CPU 0")
    parser.add_argument(
        "--statements", action="store_true", help="also count the statements sent per request"
    )
    options = parser.parse_args()
    if options.statements:
        STATEMENTS.install()
    if not options.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    with tempfile.TemporaryDirectory(prefix="payreq-inprocess-") as tmp, contextlib.ExitStack() as stack:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if options.database == "postgresql":
            url = stack.enter_context(pgtemp.database_sync("payreq_inprocess"))
        runner(main(options, Path(tmp), url))
    sys.exit(0)
