"""schemathesis against ``/openapi.json`` of a live ``payreq serve`` on each engine (issue 7), bounded
in time: every documented operation, with an access token of scope ``*``, checked
with not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance. Zero failures; each failure it ever found is also a
regular test below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import bootstrap, payreq_server, server_env
from tests.faults.crash import Store
from tests.faults.crash import store as store

ST = str(Path(sys.executable).with_name("st"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_SECONDS = 240  # a hard bound; --max-examples keeps a run near a minute
# Per operation. The contract (validation, status codes, bodies, content types) is the
# same code on both engines, so SQLite explores it in full; PostgreSQL runs the whole
# coverage phase and every operation again with fewer random cases (about 1,600 instead
# of 2,900, half the time). What only PostgreSQL refuses (NUL characters, numbers out
# of range) is tested value by value on both engines in test_bounded_input.py: with
# both guards against a NUL removed, 50 examples found it no better than 10 (neither
# did); with the OAuth 400 documented wrongly again, 10 found both operations.
MAX_EXAMPLES = {"sqlite": 50, "postgres": 10}


def schemathesis(url: str, token: str, cwd: Path, examples: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            ST,
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(examples),
            "--seed",
            "20261122",
            "--request-timeout",
            "10",
            "--no-color",
            "--report-dir",
            str(cwd / "report"),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS,
    )


@pytest.mark.slow
async def test_schemathesis_finds_no_failure_on_a_live_server(store: Store, tmp_path: Path) -> None:
    env = server_env(store.url)
    credentials = bootstrap(env)
    with payreq_server(env, tmp_path / "server.log") as server:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url) as client:
            issued = await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
        token = issued.json()["access_token"]
        engine = "sqlite" if store.url.startswith("sqlite") else "postgres"
        runs = [schemathesis(server.url, token, tmp_path, MAX_EXAMPLES[engine])]
    for run in runs:
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:] + server.log.read_text()[-2000:]
        assert "failures" not in run.stdout.splitlines()[-1], run.stdout[-3000:]


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_oauth_400_is_documented_in_the_shape_it_is_answered(
    http: httpx.AsyncClient, path: str
) -> None:
    """Found by schemathesis (ST108): openapi.py documented the envelope for the 400
    that /oauth/* answers in the RFC 6749 shape (fixed in openapi.py, 6217d50)."""
    answer = await http.post(path, content=b"", headers={"Content-Type": "text/plain"})
    document = (await http.get("/openapi.json")).json()

    assert answer.status_code == 400
    assert isinstance(answer.json()["error"], str)  # RFC 6749 §5.2
    documented = document["paths"][path]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert documented == {"$ref": "#/components/schemas/OAuthErrorBody"}
