"""The server's log over a full run (JSON lines, INFO): every line emitted while a
request ran carries its request id, route and (once authenticated) account; no secret
or token shown to a client ever appears in it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from payreq.logs import REQUEST
from tests.fixtures.factories import Merchant
from tests.fixtures.live import bootstrap, environment, payreq, serve

SECRET_PREFIXES = ("prq_cs_", "prq_at_", "prq_ct_", "whsec_")


async def test_a_full_run_logs_json_with_request_context_and_no_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    env = environment(url, PAYREQ_LOG_LEVEL="INFO", PAYREQ_LOG_JSON="true")
    payreq("migrate", env=env)
    credentials = bootstrap(env)
    secrets = [v for k, v in credentials.items() if k in ("client_secret", "client_token", "webhook_secret")]
    secrets.append(credentials["dashboard_password"])
    with serve(env, tmp_path / "serve.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            basic = (credentials["client_id"], credentials["client_secret"])
            token = (
                await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=basic)
            ).json()
            secrets.append(token["access_token"])
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            app_id = credentials["application_client_id"]
            created = await client.post(
                "/api/payment-applications",
                json={
                    "name": "Logged shop",
                    "currencies": ["EUR"],
                    "defaultRedirectUrl": "https://s.example/",
                },
                headers=bearer,
            )
            assert created.status_code == 201, created.text
            minted = await client.post(
                f"/api/payment-applications/{app_id}/tokens",
                json={"label": "logged", "scopes": ["*"]},
                headers=bearer,
            )
            assert minted.status_code == 201, minted.text
            secrets.append(minted.json()["token"])
            rotated = await client.post(f"/api/payment-applications/{app_id}/webhook-secret", headers=bearer)
            assert rotated.status_code == 200, rotated.text
            rotated_secrets = [
                v for v in rotated.json().values() if isinstance(v, str) and v.startswith("whsec_")
            ]
            assert rotated_secrets, rotated.text
            secrets += rotated_secrets
            payment = await client.post(
                "/payment/request",
                json={"amount": "1000", "currency": "EUR", "redirect_url": "https://s.example/"},
                headers={**bearer, "Idempotency-Key": "log-1"},
            )
            assert payment.status_code == 201
            await client.get(f"/payment/request/{payment.json()['id']}", headers=bearer)
            await client.get("/payment/request/x", headers={"Authorization": "Bearer prq_at_sbx_wrong"})
            await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "wrong"))
            await client.post("/payment/request", content=b"{", headers=bearer)
    text = server.output()
    lines = [json.loads(line) for line in text.splitlines() if line]  # every line is JSON
    created_lines = [line for line in lines if line.get("event") == "application_created"]
    assert created_lines, text[-3000:]
    for line in created_lines:
        assert line["request_id"].startswith("req_")
        assert line["route"] == "/api/payment-applications"
        assert line["account_id"] == credentials["account_id"]
    minted_lines = [line for line in lines if line.get("event") == "client_token_created"]
    assert minted_lines, text[-3000:]
    for line in minted_lines:  # the route's template, never its path (which may hold a capability)
        assert line["route"] == "/api/payment-applications/{client_id}/tokens"
    assert not [line for line in lines if app_id in line.get("route", "")]
    for secret in secrets:
        assert secret not in text, "a secret reached the log"
    for prefix in SECRET_PREFIXES:
        assert prefix not in text, f"something shaped like a secret ({prefix}...) reached the log"


def test_every_line_of_several_server_processes_is_json(tmp_path: Path) -> None:
    """uvicorn's own lines (here: a request that is not HTTP), the supervisor's and the
    workers', are rendered by payreq's JSON formatter too, never in uvicorn's plain one."""
    env = environment(f"sqlite:///{tmp_path / 'json.db'}", PAYREQ_LOG_JSON="true", PAYREQ_LOG_LEVEL="INFO")
    env["PAYREQ_RATE_LIMIT_ENABLED"] = "false"  # two processes without Redis
    payreq("migrate", env=env)
    with serve(env, tmp_path / "serve.log", "--workers", "2") as server:
        parts = urlsplit(server.url)
        for _ in range(4):  # each process that takes one logs a warning
            with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
                conn.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                conn.recv(1024)
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    text = server.output()
    lines = [json.loads(line) for line in text.splitlines() if line]
    assert any(line.get("event") == "serving" for line in lines), text[-2000:]
    uvicorn = [line for line in lines if line.get("logger") == "uvicorn.error"]
    assert uvicorn and all(line["level"] == "warning" and line["timestamp"] for line in uvicorn), text[-2000:]


async def test_one_requests_log_context_never_reaches_the_next(merchant: Merchant) -> None:
    """Requests served one after another in one context (an ASGI client in the same
    task, as here) each start a log context of their own: an unauthenticated request
    after an authenticated one carries no account."""
    created = await merchant.create_payment()
    answer = await merchant.http.get(f"/payment/request/{created['id']}", headers=await merchant.headers())
    assert answer.status_code == 200
    first = REQUEST.get()
    assert first is not None
    assert first["account_id"] == merchant.credentials.account_id
    assert first["request_id"] == answer.headers["x-request-id"]
    assert first["route"] == "/payment/request/{payment_id}"  # as Litestar names it
    refused = await merchant.http.get(
        "/payment/request/x", headers={"Authorization": "Bearer prq_at_sbx_wrong"}
    )
    assert refused.status_code == 401
    second = REQUEST.get()
    assert second is not None and "account_id" not in second
    assert second["request_id"] == refused.headers["x-request-id"]
