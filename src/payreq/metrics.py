"""Prometheus metrics (``GET /metrics``), through prometheus-client, in one registry of
payreq's own (no process collectors of the default one, nothing registered twice when
tests build many apps).

Route labels are route templates (``/payment/request/{id}``), never raw paths, so the
number of series stays bounded whatever clients send. Counts of committed things
(payments, webhook attempts) are added after their transaction commits.

The webhook queue depth is read from the database when scraped, so that it is right
whichever process runs the worker. Counters of a separate ``payreq worker`` process live
in that process; it serves them with ``payreq worker --metrics-port``.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]  # Litestar adds the charset of text/*

LATENCY_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    """The two series every request adds to: requests by route template, method and
    status (``payreq_http_requests``), and their latency by route
    (``payreq_http_request_duration_seconds``). They are kept in plain numbers, which
    only the event loop changes, and read by the registry when scraped: through
    prometheus-client's own counter and histogram, each request took three locks
    (with the bucket search, 2-4 us of a 46 us poll in process). What a scrape shows
    is what those two would show."""

    REQUESTS = "payreq_http_requests"
    LATENCY = "payreq_http_request_duration_seconds"

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        self.bounds = bounds
        go_float = cast("Callable[[float], str]", floatToGoString)  # as prometheus-client writes ``le``
        self._le = tuple(go_float(bound) for bound in (*bounds, math.inf))
        self._counts: dict[tuple[str, str, str], list[float]] = {}
        """Labels: [count, created]."""
        self._latency: dict[str, list[float]] = {}
        """Route: [one count per bound, then +Inf (not cumulative), sum, created]."""

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

    def collect(self) -> Iterator[Metric]:
        requests = Metric(
            self.REQUESTS, "HTTP requests answered, by route template, method and status.", "counter"
        )
        for (route, method, status), (count, created) in list(self._counts.items()):
            labels = {"route": route, "method": method, "status": status}
            requests.add_sample(f"{self.REQUESTS}_total", labels, count)
            requests.add_sample(f"{self.REQUESTS}_created", labels, created)
        yield requests
        latency = Metric(
            self.LATENCY,
            "Time from the request's arrival at payreq to its answer, by route template.",
            "histogram",
        )
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
queue_depth = Gauge(
    "payreq_webhook_queue_depth",
    "Webhook deliveries due now and not yet claimed (read from the database when scraped).",
    registry=REGISTRY,
)
worker_heartbeat_age = Gauge(
    "payreq_worker_heartbeat_age_seconds",
    "Seconds since any worker last reported (read from the database when scraped); -1 if none ever did.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
