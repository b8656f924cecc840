"""Operations endpoints: liveness, readiness, the OpenAPI document, the docs page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import connect

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


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db = connect(url)
    await db.open()
    try:
        app = create_app(Settings(database_url=url, log_level="WARNING"), db=db, run_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.get("/readyz")
    finally:
        await db.close()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["schema"].startswith("at nothing")


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    db = connect(url, timeout=1.0)
    app = create_app(Settings(database_url=url, log_level="WARNING"), db=db, run_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "unreachable"


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
