"""``GET /metrics`` (Prometheus text) and the worker's heartbeat in ``/readyz``."""

from __future__ import annotations

import re

import httpx
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from payreq.account import repository as accounts
from payreq.metrics import LATENCY_BOUNDS, HttpMetrics
from payreq.services import Services
from payreq.worker import heartbeat
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant

GET_ROUTE = "/payment/request/{payment_id}"


async def _samples(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_payments_and_refusals_are_counted(
    http: httpx.AsyncClient, merchant: Merchant, services: Services
) -> None:
    before = await _samples(http)
    created = await merchant.create_payment()
    bearer = await merchant.headers()
    for _ in range(3):
        assert (await http.get(f"/payment/request/{created['id']}", headers=bearer)).status_code == 200
    assert (await http.get("/payment/request/not-a-uuid", headers=bearer)).status_code == 404
    assert (await http.get("/no/such/route")).status_code == 404
    async with services.db.transaction() as conn:
        await accounts.set_api_key_rate_limit(conn, merchant.credentials.client_id, 1)
    services.authenticator.forget_all()
    statuses = [
        (await http.get(f"/payment/request/{created['id']}", headers=bearer)).status_code for _ in range(3)
    ]
    assert 429 in statuses
    after = await _samples(http)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("payreq_http_requests_total", route=GET_ROUTE, method="GET", status="200") >= 3
    assert grew("payreq_http_requests_total", route=GET_ROUTE, method="GET", status="404") >= 1
    assert grew("payreq_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert grew("payreq_http_requests_total", route="/payment/request", method="POST", status="201") >= 1
    assert grew("payreq_http_request_duration_seconds_count", route=GET_ROUTE) >= 3
    assert grew("payreq_payments_total", status="pending") >= 1
    assert grew("payreq_rate_limit_refusals_total", limit="key") >= 1
    # raw paths never become labels: one series per route, whatever the ids
    assert not any(re.search(r"[0-9a-f]{8}-", dict(labels).get("route", "")) for _, labels in after)


async def test_worker_heartbeat_is_reported_by_readyz_and_metrics(
    http: httpx.AsyncClient, services: Services
) -> None:
    worker = Worker(services)
    await worker.run_once()
    ready = (await http.get("/readyz")).json()
    assert ready["checks"]["worker"].startswith("ok (")
    samples = await _samples(http)
    assert 0 <= _value(samples, "payreq_worker_heartbeat_age_seconds") < 10
    assert _value(samples, "payreq_webhook_queue_depth") >= 0
    async with services.db.transaction() as conn:  # it stops: its row goes
        await heartbeat.stopped(conn, worker.worker_id, now=services.clock())
    async with services.db.read() as conn:  # (other tests' workers share this database)
        own = await conn.fetch_one(
            "SELECT worker_id FROM worker_heartbeats WHERE worker_id = :id", {"id": worker.worker_id}
        )
    assert own is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/payment/request", GET_ROUTE, "unmatched"]),
            st.sampled_from(["GET", "POST"]),
            st.sampled_from(["200", "201", "404", "429"]),
            st.floats(min_value=0, max_value=12, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_the_request_series_expose_what_prometheus_clients_own_would(
    requests: list[tuple[str, str, str, float]],
) -> None:
    """``metrics.HttpMetrics`` keeps the per-request series in plain numbers; a scrape
    shows what prometheus-client's Counter and Histogram show for the same requests
    (their ``_created`` times aside), bucket bounds included."""
    ours = CollectorRegistry()
    ours.register(HttpMetrics())
    theirs = CollectorRegistry()
    counter = Counter(HttpMetrics.REQUESTS, "c", ["route", "method", "status"], registry=theirs)
    histogram = Histogram(HttpMetrics.LATENCY, "h", ["route"], buckets=LATENCY_BOUNDS, registry=theirs)
    collector = next(iter(ours._collector_to_names))
    assert isinstance(collector, HttpMetrics)
    for route, method, status, seconds in requests:
        collector.add(collector.series(route, method, status), seconds)  # as the edge does
        counter.labels(route, method, status).inc()
        histogram.labels(route).observe(seconds)

    def samples(registry: CollectorRegistry) -> list[tuple[str, str, tuple[tuple[str, str], ...], float]]:
        found = []
        for family in registry.collect():
            found += [
                (family.type, s.name, tuple(sorted(s.labels.items())), round(s.value, 9))
                for s in family.samples
                if not s.name.endswith("_created")
            ]
        return sorted(found)

    assert samples(ours) == samples(theirs)
