"""Contract B against a real ``payreq serve`` process on a database of its own (SQLite
file or PostgreSQL database), logging at DEBUG: the README's walk-through works as
written, and a client token's secret reaches no log line and no byte of the database
(SQLite: its files; PostgreSQL: a ``pg_dump`` of it)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from payreq.db.base import sqlite_path
from payreq.kit.crypto import digest
from tests.faults.conftest import postgres_bin
from tests.fixtures.live import PAYREQ, environment, live_database, payreq, serve

WALKTHROUGH_B = re.compile(
    r"<!-- walkthrough-b:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough-b:end -->", re.S
)


@dataclass
class LiveServer:
    base: str
    cwd: Path
    database_url: str
    log: Path
    env: dict[str, str]

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    def stored_bytes(self) -> bytes:
        """Every byte the database holds: SQLite's files, or PostgreSQL's data dumped."""
        if self.database_url.startswith("sqlite:"):
            database = Path(sqlite_path(self.database_url))
            files = [p for p in (database, Path(f"{database}-wal")) if p.exists()]
            return b"".join(p.read_bytes() for p in files)
        dump = str(postgres_bin() / "pg_dump")
        done = subprocess.run(
            [dump, "--data-only", self.database_url], capture_output=True, timeout=60, check=True
        )
        return done.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, live_engine: str) -> Iterator[LiveServer]:
    cwd = tmp_path_factory.mktemp("live")
    (cwd / "var").mkdir()
    with live_database(live_engine, cwd / "var" / "payreq.db") as url:
        env = environment(url, PAYREQ_LOG_LEVEL="DEBUG")
        payreq("migrate", env=env, cwd=cwd)
        (cwd / "var" / "demo-credentials.json").write_text(payreq("bootstrap", "--json", env=env, cwd=cwd))
        log = cwd / "server.log"
        with serve(env, log, cwd=cwd) as server:
            yield LiveServer(server.url, cwd, url, log, {**env, "PAYREQ_BASE_URL": server.url})


def test_the_readme_walkthrough_of_contract_b_works_as_written(live: LiveServer, repo_root: Path) -> None:
    match = WALKTHROUGH_B.search((repo_root / "README.md").read_text())
    assert match, "README.md has no contract B walk-through block"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", match.group(1)],
        cwd=live.cwd,
        env={**live.env, "BASE": live.base},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r'"secret": "whsec_\.\.\."', out), out
    assert re.search(r'"status": "pending"', out), out
    assert re.search(r'"amount": 10000', out), out
    assert re.search(r'"redirectUrl": "https://shop.example/thanks"', out), out
    assert re.search(r'"method": "sandbox"', out), out
    assert '"Insufficient permissions"' in out, out
    assert re.search(r'"count": 1', out), out
    assert re.search(r'"label": "checkout server"', out), out
    assert re.search(r"^204$", out, re.M), out
    assert '"Unauthenticated"' in out, out


def test_a_client_tokens_secret_reaches_no_log_line_and_no_database_byte(live: LiveServer) -> None:
    # an account of its own, so that the walk-through's requests spend no budget of its keys
    credentials = json.loads(
        subprocess.run(
            [PAYREQ, "bootstrap", "--json"],
            cwd=live.cwd,
            env=live.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    with httpx.Client(base_url=live.base) as http:
        form = {"grant_type": "client_credentials"}
        auth = (credentials["client_id"], credentials["client_secret"])
        access = {
            "Authorization": f"Bearer {http.post('/oauth/token', data=form, auth=auth).json()['access_token']}"
        }
        client_id = credentials["application_client_id"]
        created = http.post(
            f"/api/payment-applications/{client_id}/tokens",
            json={"label": "leak check", "scopes": ["payments.create", "payments.get"]},
            headers=access,
        )
        assert created.status_code == 201, created.text
        secret = created.json()["token"]
        mine = {"Authorization": f"Bearer {secret}"}
        body = {"amount": 500, "currencyCode": "EUR", "reference": "leak", "referenceLabel": "Leak"}
        payment = http.post(
            "/api/payment/checkout",
            json={**body, "clientId": client_id, "redirectUrl": "https://shop.example/r"},
            headers=mine,
        )
        assert payment.status_code == 201, payment.text
        assert http.get(f"/api/payment/{payment.json()['id']}", headers=mine).status_code == 200
        assert http.get("/api/payments", headers=mine).status_code == 403  # refused, with the token
        assert http.post("/api/payment/checkout", content=b"{", headers=mine).status_code == 400
        listed = http.get(f"/api/payment-applications/{client_id}/tokens", headers=access)
        assert secret not in listed.text
        token_id = created.json()["id"]
        revoked = http.delete(f"/api/payment-applications/{client_id}/tokens/{token_id}", headers=access)
        assert revoked.status_code == 204
        assert http.get(f"/api/payment/{payment.json()['id']}", headers=mine).status_code == 401

    time.sleep(0.2)  # let the server flush its log lines
    logged = live.logged()
    assert "client_token_created" in logged and token_id in logged  # DEBUG logging reached the file...
    assert "client_token_revoked" in logged
    assert secret not in logged  # ...and never the secret
    assert secret.split("_")[-1] not in logged

    raw = live.stored_bytes()
    assert digest(secret).encode() in raw  # the token's row is in these bytes...
    assert secret.encode() not in raw  # ...its secret is not
    assert secret.split("_")[-1].encode() not in raw
