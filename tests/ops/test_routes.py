"""Operations endpoints: liveness, readiness, the OpenAPI document, the docs page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import DatabaseUnavailable, connect
from payreq.db.migrate import downgrade, head_revision, upgrade
from tests.fixtures.backends import migrated_database
from tests.fixtures.live import environment, free_port, payreq, serve

# every route of contract A and the statuses it must document
DOCUMENTED = {
    ("/oauth/token", "post"): {"200", "400", "403"},
    ("/oauth/revoke", "post"): {"200", "400", "403"},
    ("/payment/request", "post"): {"201", "400", "401", "403", "404", "413", "422", "429", "500", "503"},
    ("/payment/request", "get"): {"200", "400", "401", "403", "422", "429", "500", "503"},
    ("/payment/request/{payment_id}", "get"): {"200", "401", "403", "404", "429", "500", "503"},
    ("/payment/request/{payment_id}/cancel", "post"): {
        "200",
        "401",
        "403",
        "404",
        "409",
        "429",
        "500",
        "503",
    },
}


async def test_healthz_answers_ok(http_once: httpx.AsyncClient) -> None:
    answer = await http_once.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


async def test_readyz_reports_database_and_schema(http: httpx.AsyncClient) -> None:
    answer = await http.get("/readyz")
    assert answer.status_code == 200
    body = answer.json()
    worker = body["checks"].pop("worker")  # the shared database's workers: tests/ops/test_metrics.py
    assert worker.startswith(("ok (", "stale: ", "none: "))
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "rate_limiter": "ok (memory, one process)"},
    }


async def _readyz(url: str, **settings: object) -> httpx.Response:
    db = connect(url, timeout=2.0)
    with contextlib.suppress(DatabaseUnavailable):  # as a server whose database went away
        await db.open()
    app = create_app(Settings(database_url=url, log_level="WARNING", **settings), db=db, run_worker=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get("/readyz")
    finally:
        await db.close()


@pytest.fixture
async def own_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated database of the test's own, whose revision it may change."""
    async for url in migrated_database(backend, tmp_path):
        yield url


async def _stamp(url: str, revision: str) -> None:
    db = connect(url)
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("UPDATE alembic_version SET version_num = :r", {"r": revision})
    finally:
        await db.close()


async def test_readyz_is_ready_when_the_schema_is_ahead_of_the_code(own_database: str) -> None:
    """A rolling upgrade (docs/deploy.md): the new release's migrate ran first, so the
    database is at a revision the old servers do not know. They keep serving."""
    await _stamp(own_database, "9999_newer_release")
    answer = await _readyz(own_database)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == "ahead"
    assert body["checks"]["worker"].startswith("none: ")


async def test_readyz_is_503_when_the_schema_is_behind_the_code(own_database: str) -> None:
    head = head_revision()
    await asyncio.to_thread(downgrade, own_database, "-1")
    answer = await _readyz(own_database)
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "schema": "behind", "rate_limiter": "ok (memory, one process)"},
    }
    assert head not in answer.text  # revisions are logged, not shown


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    answer = await _readyz(f"sqlite:///{tmp_path / 'empty.db'}")
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "schema": "not migrated", "rate_limiter": "ok (memory, one process)"},
    }


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    answer = await _readyz("postgresql://nobody:hunter2@127.0.0.1:1/none")
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not_ready",
        "checks": {"database": "unreachable", "rate_limiter": "ok (memory, one process)"},
    }


async def test_readyz_names_no_host_or_error_text_when_redis_fails(tmp_path: Path) -> None:
    """The limiter's failure (whose exception names Redis's address) is logged, not
    shown: the answer says only what state each component is in."""
    url = f"sqlite:///{tmp_path / 'redis-down.db'}"
    await asyncio.to_thread(upgrade, url)
    answer = await _readyz(url, redis_url="redis://127.0.0.1:1/0")
    assert answer.status_code == 200
    body = answer.json()
    assert body["checks"]["rate_limiter"] == "degraded: redis unreachable; limiting per process"
    assert body["checks"]["redis"] == "unreachable"
    assert "127.0.0.1" not in answer.text
    assert "Error" not in answer.text


def test_a_served_readyz_logs_what_failed_and_answers_only_states(tmp_path: Path) -> None:
    """A real server whose Redis is down: the answer carries no address or exception;
    the log says which component failed and why."""
    env = environment(f"sqlite:///{tmp_path / 'ready.db'}")
    payreq("migrate", env=env)
    redis_port = free_port()  # nothing listens there
    env.update(PAYREQ_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", PAYREQ_LOG_JSON="true")
    with serve(env, tmp_path / "serve.log") as server:
        answers = [httpx.get(f"{server.url}/readyz", timeout=5) for _ in range(3)]
        output = server.output()
    for answer in answers:
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "ready",
            "checks": {
                "database": "ok",
                "schema": "ok",
                "rate_limiter": "degraded: redis unreachable; limiting per process",
                "redis": "unreachable",
                "worker": "none: no worker has reported (payreq worker, or serve without --no-worker)",
            },
        }
        assert str(redis_port) not in answer.text
    lines = [json.loads(line) for line in output.splitlines() if '"readiness_check"' in line]
    assert [(line["component"], line["state"]) for line in lines] == [("rate_limiter", "degraded")]
    assert f"127.0.0.1:{redis_port}" in lines[0]["reason"]  # once, not on every probe


async def test_openapi_documents_every_status_of_every_operation(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    for (path, method), statuses in DOCUMENTED.items():
        operation = document["paths"][path][method]
        assert statuses <= set(operation["responses"]), (path, method, sorted(operation["responses"]))
        assert operation.get("description"), (path, method)


async def test_openapi_error_answers_use_the_envelope(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    operation = document["paths"]["/payment/request"]["post"]
    for status in ("400", "401", "422", "500"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}
    token_errors = document["paths"]["/oauth/token"]["post"]["responses"]["403"]
    assert token_errors["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OAuthErrorBody"
    }


async def test_openapi_describes_request_bodies(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    create = document["paths"]["/payment/request"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert create == {"$ref": "#/components/schemas/PaymentRequestCreate"}
    schema = document["components"]["schemas"]["PaymentRequestCreate"]
    assert set(schema["required"]) == {"amount", "currency", "redirect_url"}
    token = document["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token


@pytest.mark.parametrize("path", ["/docs"])
async def test_docs_page_needs_no_external_asset(http_once: httpx.AsyncClient, path: str) -> None:
    answer = await http_once.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "/payment/request/{payment_id}/cancel" in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "an external asset is referenced"
    assert "default-src 'none'" in answer.headers["content-security-policy"]


async def test_openapi_documents_the_idempotency_key_on_writes_only(http_once: httpx.AsyncClient) -> None:
    paths = (await http_once.get("/openapi.json")).json()["paths"]

    def names(path: str, method: str) -> set[str]:
        return {p["name"] for p in paths[path][method].get("parameters", [])}

    assert "Idempotency-Key" in names("/payment/request", "post")
    assert "Idempotency-Key" in names("/payment/request/{payment_id}/cancel", "post")
    assert "Idempotency-Key" in names("/api/payment/checkout", "post")
    assert "Idempotency-Key" not in names("/payment/request/{payment_id}", "get")
    assert "Idempotency-Key" not in names("/oauth/token", "post")
    cancel = paths["/payment/request/{payment_id}/cancel"]["post"]["responses"]
    assert {"400", "409", "422"} <= set(cancel)
