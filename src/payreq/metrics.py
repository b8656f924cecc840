"""Prometheus metrics (``GET /metrics``), through prometheus-client, in registries of
payreq's own (no process collectors of the default one, nothing registered twice when
tests build many apps).

Route labels are route templates (``/payment/request/{id}``), never raw paths, so the
number of series stays bounded whatever clients send. Counts of committed things
(payments, webhook attempts) are added after their transaction commits.

The webhook queue depth and the workers' heartbeat age are read from the database when
``/metrics`` is scraped (``scraped``), so that they are right whichever process runs
the worker; nothing keeps them in between. A separate ``payreq worker`` process serves
what it measures itself (``WORKER_REGISTRY``: payments it expired, webhook attempts and
their lag) with ``payreq worker --metrics-port``.

``payreq serve --workers N`` runs N server processes, each counting what it answers. It
runs them in prometheus-client's multiprocess mode: the parent gives them a private
``PROMETHEUS_MULTIPROC_DIR`` (created empty, removed when it stops), each process's
counters and histograms are kept in its files there, and a scrape answered by any one
of them sums every process's (``MultiProcessCollector``), those of processes that have
exited included, so the counters never go back. The per-request series
(``HttpMetrics``) are written to those files once a second (``publish``) and at exit,
not on every request: another process's requests appear in a scrape within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS_DIR: str | None = (
    os.environ.get(MULTIPROCESS_ENV) if getattr(values.ValueClass, "_multiprocess", False) else None
)
"""Where this process's counters are kept with its siblings' (``serve --workers N``);
None in a process of its own. prometheus-client chooses its value class when first
imported, so only a directory named before that counts."""
PUBLISH_EVERY = 1.0
"""Seconds between writes of a server process's per-request series to its files."""

REGISTRY = CollectorRegistry(auto_describe=True)
"""What a server process measures (``GET /metrics``)."""
WORKER_REGISTRY = CollectorRegistry(auto_describe=True)
"""What a ``payreq worker`` process measures (``--metrics-port``)."""
CONTENT_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]  # Litestar adds the charset of text/*

LATENCY_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    """The two series every request adds to: requests by route template, method and
    status (``payreq_http_requests``), and their latency by route
    (``payreq_http_request_duration_seconds``). They are kept in plain numbers, which
    only the event loop changes, and read by the registry when scraped: through
    prometheus-client's own counter and histogram, each request took three locks
    (with the bucket search, 2-4 us of a 46 us poll in process). What a scrape shows
    is what those two would show. In multiprocess mode ``publish`` copies the numbers
    into this process's files, as those two would have written them."""

    REQUESTS = "payreq_http_requests"
    LATENCY = "payreq_http_request_duration_seconds"
    REQUESTS_HELP = "HTTP requests answered, by route template, method and status."
    LATENCY_HELP = "Time from the request's arrival at payreq to its answer, by route template."

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        self.bounds = bounds
        go_float = cast("Callable[[float], str]", floatToGoString)  # as prometheus-client writes ``le``
        self._le = tuple(go_float(bound) for bound in (*bounds, math.inf))
        self._counts: dict[tuple[str, str, str], list[float]] = {}
        """Labels: [count, created]."""
        self._latency: dict[str, list[float]] = {}
        """Route: [one count per bound, then +Inf (not cumulative), sum, created]."""
        self._files: list[tuple[list[float], list[Any], list[float]]] = []
        """Multiprocess mode: per series, its cells, the file value of each cell but
        ``created`` (prometheus-client's ``values.ValueClass``) and what was last written."""
        self._filed: set[tuple[str, ...]] = set()

    def series(self, route: str, method: str, status: str) -> tuple[list[float], list[float]]:
        """The cells a request of these labels adds to (``add``)."""
        count = self._counts.get((route, method, status))
        if count is None:
            count = self._counts[route, method, status] = [0.0, time.time()]
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = [0.0] * (len(self.bounds) + 2) + [time.time()]
        return count, latency

    def add(self, series: tuple[list[float], list[float]], seconds: float) -> None:
        """One request of ``series`` (``series()``'s, kept by the caller) that took ``seconds``."""
        count, latency = series
        count[0] += 1
        latency[bisect_left(self.bounds, seconds)] += 1
        latency[-2] += seconds

    def publish(self) -> None:
        """Multiprocess mode: write the cells that changed since the last call to this
        process's files, where any sibling's scrape reads them (nothing otherwise)."""
        if MULTIPROCESS_DIR is None:
            return
        value = values.ValueClass
        for key, cells in list(self._counts.items()):
            if ("c", *key) not in self._filed:
                self._filed.add(("c", *key))
                labels = ["route", "method", "status"]
                total = value(
                    "counter", self.REQUESTS, f"{self.REQUESTS}_total", labels, list(key), self.REQUESTS_HELP
                )
                self._files.append((cells, [total], [0.0]))
        for route, cells in list(self._latency.items()):
            if ("h", route) not in self._filed:
                self._filed.add(("h", route))
                name, labels, help_text = self.LATENCY, ["route", "le"], self.LATENCY_HELP
                filed = [
                    value("histogram", name, f"{name}_bucket", labels, [route, le], help_text)
                    for le in self._le
                ]
                filed.append(value("histogram", name, f"{name}_sum", ["route"], [route], help_text))
                self._files.append((cells, filed, [0.0] * len(filed)))
        for cells, filed, written in self._files:
            for i, cell in enumerate(filed):  # ``created`` (the last cell) has no file value
                if cells[i] != written[i]:
                    cell.set(cells[i])
                    written[i] = cells[i]

    def collect(self) -> Iterator[Metric]:
        requests = Metric(self.REQUESTS, self.REQUESTS_HELP, "counter")
        for (route, method, status), (count, created) in list(self._counts.items()):
            labels = {"route": route, "method": method, "status": status}
            requests.add_sample(f"{self.REQUESTS}_total", labels, count)
            requests.add_sample(f"{self.REQUESTS}_created", labels, created)
        yield requests
        latency = Metric(self.LATENCY, self.LATENCY_HELP, "histogram")
        for route, cells in list(self._latency.items()):
            total = 0.0
            for le, cell in zip(self._le, cells, strict=False):
                total += cell
                latency.add_sample(f"{self.LATENCY}_bucket", {"route": route, "le": le}, total)
            latency.add_sample(f"{self.LATENCY}_count", {"route": route}, total)
            latency.add_sample(f"{self.LATENCY}_sum", {"route": route}, cells[-2])
            latency.add_sample(f"{self.LATENCY}_created", {"route": route}, cells[-1])
        yield latency


http = HttpMetrics()
REGISTRY.register(http)
payments = Counter(
    "payreq_payments",
    "Payment requests entering a status (pending = created; paid, expired, cancelled = settled), once committed.",
    ["status"],
    registry=REGISTRY,
)
rate_limited = Counter(
    "payreq_rate_limit_refusals",
    "Requests refused with 429, by the limit that refused them.",
    ["limit"],
    registry=REGISTRY,
)
webhook_attempts = Counter(
    "payreq_webhook_attempts",
    "Webhook delivery attempts recorded, by outcome (delivered, failed, given_up).",
    ["outcome"],
    registry=REGISTRY,
)
webhook_lag = Histogram(
    "payreq_webhook_lag_seconds",
    "From an event's commit to its delivery's attempt being recorded.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
for _measured_by_workers in (payments, webhook_attempts, webhook_lag):  # the expiry sweep, deliveries
    WORKER_REGISTRY.register(_measured_by_workers)


def scraped(queue_depth: int, heartbeat_age: float | None) -> list[Metric]:
    """The gauges read from the database when ``/metrics`` is scraped."""
    depth = GaugeMetricFamily(
        "payreq_webhook_queue_depth",
        "Webhook deliveries due now and not yet claimed (read from the database when scraped).",
        value=queue_depth,
    )
    age = GaugeMetricFamily(
        "payreq_worker_heartbeat_age_seconds",
        "Seconds since any worker last reported (read from the database when scraped); -1 if none ever did.",
        value=-1 if heartbeat_age is None else heartbeat_age,
    )
    return [depth, age]


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def exposition(extra: list[Metric] | None = None) -> bytes:
    """A server's scrape: what this process measures, or in multiprocess mode what all
    of ``serve --workers N``'s processes measured; then ``extra`` (``scraped``)."""
    if MULTIPROCESS_DIR is None:
        text = generate_latest(REGISTRY)
    else:
        http.publish()
        merged = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(merged, path=MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
        text = generate_latest(merged)
    if extra:
        more = CollectorRegistry(auto_describe=False)
        more.register(_Families(extra))
        text += generate_latest(more)
    return text


async def publish_until(stop: asyncio.Event) -> None:
    """Multiprocess mode: publish this process's per-request series every
    ``PUBLISH_EVERY`` seconds until ``stop``, then once more and mark the process dead
    (prometheus-client's bookkeeping for its live gauges)."""
    if MULTIPROCESS_DIR is None:
        return
    try:
        while not stop.is_set():
            http.publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=PUBLISH_EVERY)
    finally:
        http.publish()
        mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
