"""``GET /metrics`` (Prometheus text) and the worker's heartbeat in ``/readyz``."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from payreq.account import repository as accounts
from payreq.app import create_app
from payreq.config import Settings
from payreq.db import connect
from payreq.metrics import LATENCY_BOUNDS, HttpMetrics
from payreq.services import Services
from payreq.worker import heartbeat
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.fixtures.live import environment, payreq, serve

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


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return found


def _multiprocess_dir(pid: int) -> Path:
    variables = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    named = [v.split(b"=", 1)[1] for v in variables if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert len(named) == 1, "a server process was started without a multiprocess directory"
    return Path(named[0].decode())


def _total(scraper: httpx.Client, route: str) -> float:
    answer = scraper.get("/metrics")
    assert answer.status_code == 200
    total = 0.0
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "payreq_http_requests_total" and sample.labels["route"] == route:
                assert sample.labels == {"route": route, "method": "GET", "status": "200"}
                total += sample.value
    return total


def test_a_scrape_of_serve_with_several_workers_counts_every_process(tmp_path: Path) -> None:
    """``payreq serve --workers 2``: whichever process answers the scrape, it reports
    the requests both answered; a process that dies keeps its count; the private
    directory the counts are kept in is gone once the server stops."""
    env = environment(f"sqlite:///{tmp_path / 'workers.db'}", PAYREQ_RATE_LIMIT_ENABLED="false")
    payreq("migrate", env=env)
    requests = 60
    with serve(env, tmp_path / "serve.log", "--workers", "2") as server:
        children = _children(server.process.pid)
        assert len(children) == 2, server.output()
        directory = _multiprocess_dir(children[0])
        assert _multiprocess_dir(children[1]) == directory
        assert directory.stat().st_mode & 0o777 == 0o700
        for _ in range(requests):  # one connection each: the kernel spreads them over both
            answer = httpx.get(f"{server.url}/healthz", timeout=5, headers={"Connection": "close"})
            assert answer.status_code == 200
        # as Prometheus scrapes: one kept-alive connection, so always the same process
        with httpx.Client(base_url=server.url, timeout=5) as scraper:
            deadline = time.monotonic() + 10  # each process writes its counts once a second
            while _total(scraper, "/healthz") < requests and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [_total(scraper, "/healthz") for _ in range(5)] == [requests] * 5
        for _ in range(5):  # and on connections of their own, whichever process answers
            with httpx.Client(base_url=server.url, timeout=5, headers={"Connection": "close"}) as scraper:
                assert _total(scraper, "/healthz") == requests

        os.kill(children[0], signal.SIGKILL)  # uvicorn starts another in its place
        deadline = time.monotonic() + 20
        while len(set(_children(server.process.pid)) - {children[0]}) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(set(_children(server.process.pid)) - {children[0]}) == 2, server.output()
        for _ in range(5):
            with httpx.Client(base_url=server.url, timeout=5, headers={"Connection": "close"}) as scraper:
                assert _total(scraper, "/healthz") == requests
    assert not directory.exists()


async def test_without_the_database_a_scrape_leaves_out_the_gauges_it_reads_there() -> None:
    """The queue depth and heartbeat age are read from the database when scraped: with
    it unreachable they are absent (not a stale or zero value), and the counters answer."""
    url = "postgresql://nobody@127.0.0.1:1/none"
    db = connect(url, timeout=1.0)
    app = create_app(Settings(database_url=url, log_level="WARNING"), db=db, run_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert "payreq_http_requests" in names
    assert "payreq_webhook_queue_depth" not in names
    assert "payreq_worker_heartbeat_age_seconds" not in names
