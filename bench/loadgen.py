"""A load generator in Python, for machines without wrk.

Closed loop like ``wrk``: each keep-alive HTTP/1.1 connection sends one request,
reads the whole response, records its latency and sends the next. With ``--rate`` it is
an open loop instead: requests are due on a fixed schedule, each goes out on a free
connection, and its latency counts from when it was due (so a slow answer that holds
the connections back is counted, not hidden); ``unsent`` counts those still waiting
at the end. Raw asyncio
protocols on uvloop (no HTTP client library), one event loop per process, so that on
a free core it outruns the server it measures. Configured by the ``BENCH_*``
environment variables (bench/scenarios.py); prints one ``BENCH_RESULT {json}`` line.

    python bench/loadgen.py --connections 64 --duration 5 --processes 1 http://127.0.0.1:8000/path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import multiprocessing
import os
import sys
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import uvloop

KEY_MARK = b"@IDEMPOTENCY_KEY@"
"""Stands for each request's own Idempotency-Key (``BENCH_IDEMPOTENCY_PREFIX``) in the templates."""
MAX_ERRORS = 10_000
"""Stop reconnecting after this many broken connections (a server that hangs up on every request)."""


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    requests: list[bytes]
    connections: int
    duration: float
    timeout: float
    offset: int = 0
    keyed: bool = False
    """The requests carry ``KEY_MARK``, replaced by a fresh key each time."""
    rate: float = 0.0
    """Open loop: this many requests a second, on a schedule (0: closed loop, like wrk)."""


@dataclass
class Outcome:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    http_errors: int = 0
    errors: int = 0
    elapsed: float = 0.0
    unsent: int = 0


def build_requests(url: str, env: dict[str, str]) -> list[bytes]:
    """The raw requests of one scenario, as wrk would send them (bench/request.lua)."""
    parts = urlsplit(url)
    method = env.get("BENCH_METHOD") or "GET"
    body = (env.get("BENCH_BODY") or "").encode()
    headers = [f"Host: {parts.netloc}"]
    if env.get("BENCH_CONTENT_TYPE"):
        headers.append(f"Content-Type: {env['BENCH_CONTENT_TYPE']}")
    if env.get("BENCH_AUTHORIZATION"):
        headers.append(f"Authorization: {env['BENCH_AUTHORIZATION']}")
    if env.get("BENCH_IDEMPOTENCY_PREFIX"):
        headers.append(f"Idempotency-Key: {env['BENCH_IDEMPOTENCY_PREFIX']}-{KEY_MARK.decode()}")
    if body:
        headers.append(f"Content-Length: {len(body)}")
    paths_file = env.get("BENCH_PATHS")
    if paths_file:
        with open(paths_file) as lines:
            paths = [line.strip() for line in lines if line.strip()]
    else:
        paths = [parts.path or "/"]
    head = "\r\n".join(headers)
    return [f"{method} {path} HTTP/1.1\r\n{head}\r\n\r\n".encode() + body for path in paths]


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        if b"chunked" in lowered:
            raise RuntimeError("chunked responses are not supported by the bench's load generator")
        return 0
    start += len(b"\r\ncontent-length:")
    end = lowered.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else None])


class _Run:
    """One process's share of the connections and what they measured."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self.outcome = Outcome()
        self.deadline = math.inf
        self.next_index = job.offset
        self.sent = 0
        self.open: set[_Connection] = set()
        # open loop: connections with nothing in flight, the longest idle first (each is
        # used in turn: one left idle for seconds would be closed by the server's keep-alive)
        self.idle: deque[_Connection] = deque()
        self.backlog: deque[float] = deque()  # open loop: scheduled times no connection was free for
        self.all_closed = asyncio.Event()
        self.connecting: set[asyncio.Task[None]] = set()

    def next_request(self) -> bytes:
        requests = self.job.requests
        self.next_index = (self.next_index + 1) % len(requests)
        if self.job.keyed:
            self.sent += 1
            return requests[self.next_index].replace(KEY_MARK, b"%d-%d" % (self.job.offset, self.sent))
        return requests[self.next_index]

    async def connect(self) -> None:
        await self.loop.create_connection(lambda: _Connection(self), self.job.host, self.job.port)

    def reconnect(self) -> None:
        task = self.loop.create_task(self.connect())
        self.connecting.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[None]) -> None:
        self.connecting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.outcome.errors += 1


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.busy = False  # a request in flight

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass
        self.run.open.add(self)
        if self.run.deadline != math.inf:  # a reconnection during the measurement
            self.next()

    def send(self, scheduled: float | None = None) -> None:
        """Send the next request; in the open loop its latency counts from ``scheduled``
        (when it was due, not when a connection came free: no coordinated omission)."""
        assert self.transport is not None
        self.sent_at = time.perf_counter() if scheduled is None else scheduled
        self.busy = True
        self.transport.write(self.run.next_request())

    def next(self) -> None:
        """After an answer: the next request at once (closed loop), or the oldest one
        due (open loop), else wait for the schedule."""
        run = self.run
        if not run.job.rate:
            self.send()
        elif run.backlog:
            self.send(run.backlog.popleft())
        else:
            run.idle.append(self)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.status = int(buffer[9:12])
            self.need = end + 4 + _content_length(buffer[:end])
        if len(buffer) < self.need:
            self.buffer = buffer
            return
        now = time.perf_counter()
        self.buffer = buffer[self.need :]
        self.need = -1
        self.busy = False
        run = self.run
        if now > run.deadline:
            assert self.transport is not None
            self.transport.close()
            return
        run.outcome.latencies.append(now - self.sent_at)
        if self.status >= 400:
            run.outcome.http_errors += 1
        self.next()

    def connection_lost(self, exc: Exception | None) -> None:
        run = self.run
        run.open.discard(self)
        if not run.open:
            run.all_closed.set()
        if time.perf_counter() < run.deadline:
            run.outcome.errors += 1
            if run.outcome.errors < MAX_ERRORS:
                run.reconnect()


async def _measure(job: Job) -> Outcome:
    loop = asyncio.get_running_loop()
    run = _Run(job, loop)
    await asyncio.gather(*(run.connect() for _ in range(job.connections)))
    start = time.perf_counter()
    run.deadline = start + job.duration
    if job.rate:
        run.idle = deque(run.open)
        await _schedule(run, start)
        run.outcome.unsent = len(run.backlog)  # due, but no connection came free in time
        for conn in run.idle:
            if conn.transport is not None:
                conn.transport.close()
    else:
        for conn in list(run.open):
            conn.send()
        await asyncio.sleep(job.duration)
    end = time.perf_counter()
    # requests still unanswered after the timeout count as errors, as in wrk
    run.outcome.errors += sum(1 for c in run.open if c.busy and end - c.sent_at > job.timeout)
    run.all_closed.clear()
    if run.open:  # the requests in flight at the deadline are answered, not counted
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.all_closed.wait(), job.timeout)
    for conn in list(run.open):
        if conn.transport is not None:
            conn.transport.abort()
    run.outcome.elapsed = end - start
    return run.outcome


async def _schedule(run: _Run, start: float) -> None:
    """The open loop: request n is due at ``start + n / rate``; each goes out on a free
    connection, or waits in the backlog for the first one to come free."""
    interval, n = 1.0 / run.job.rate, 0
    while True:
        now = time.perf_counter()
        if now >= run.deadline:
            return
        while start + n * interval <= now:
            due = start + n * interval
            n += 1
            if run.idle:
                run.idle.popleft().send(due)
            else:
                run.backlog.append(due)
        await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))


def _process(job: Job) -> tuple[bytes, int, int, float, int]:
    gc.disable()
    loop = uvloop.new_event_loop()
    try:
        outcome = loop.run_until_complete(_measure(job))
    finally:
        loop.close()
    return outcome.latencies.tobytes(), outcome.http_errors, outcome.errors, outcome.elapsed, outcome.unsent


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def run(
    url: str, *, env: dict[str, str], connections: int, duration: float, processes: int, rate: float = 0.0
) -> dict[str, float]:
    parts = urlsplit(url)
    requests = build_requests(url, env)
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    jobs = [
        Job(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            requests,
            share,
            duration,
            5.0,
            offset=i * 997,
            keyed=bool(env.get("BENCH_IDEMPOTENCY_PREFIX")),
            rate=rate / processes,
        )
        for i, share in enumerate(shares)
    ]
    if processes == 1:
        results = [_process(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_process, jobs)
    latencies: list[float] = []
    for raw, *_ in results:
        latencies.extend(array("d", raw))
    latencies.sort()
    elapsed = max(r[3] for r in results)
    return {
        "requests": len(latencies),
        "duration_s": elapsed,
        "p50_us": _percentile(latencies, 0.50) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
        "mean_us": (sum(latencies) / len(latencies) * 1e6) if latencies else 0.0,
        "max_us": (latencies[-1] * 1e6) if latencies else 0.0,
        "http_errors": sum(r[1] for r in results),
        "errors": sum(r[2] for r in results),
        "unsent": sum(r[4] for r in results),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests per second on a schedule (0: closed loop)",
    )
    args = parser.parse_args(argv)
    result = run(
        args.url,
        env=dict(os.environ),
        connections=args.connections,
        duration=args.duration,
        processes=args.processes,
        rate=args.rate,
    )
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
