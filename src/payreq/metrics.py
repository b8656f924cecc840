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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]  # Litestar adds the charset of text/*

requests = Counter(
    "payreq_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
latency = Histogram(
    "payreq_http_request_duration_seconds",
    "Time from the request's arrival at payreq to its answer, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
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
