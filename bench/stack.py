"""The system under test: payreq on a fresh SQLite database and the bare Starlette app,
each one uvicorn process on 127.0.0.1, and the data the scenarios need."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

import bare
from procs import Pinning, Processes, pinned
from scenarios import HOST, PAYMENT_BODY, basic

HERE = Path(__file__).resolve().parent
UNLIMITED = 1_000_000_000
"""Requests per second for the bench's API key, and failed authentications per client
address: the bench measures the server, not its limiter's refusals (no 429)."""


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class Seeded:
    client_id: str
    client_secret: str
    access_token: str
    get_paths: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(base: Mapping[str, str], workdir: Path, port: int) -> dict[str, str]:
    """The caller's environment (so PAYREQ_* settings still apply) on a fresh database."""
    return {
        **base,
        "PAYREQ_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "PAYREQ_BASE_URL": f"http://{HOST}:{port}",
        "PAYREQ_EMBEDDED_WORKER": "false",
        "PAYREQ_DEFAULT_RATE_LIMIT": str(UNLIMITED),
        "PAYREQ_AUTH_FAILURE_LIMIT": str(UNLIMITED),
    }


def payreq_cli(*args: str, env: Mapping[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "payreq", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"payreq {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def prepare_database(env: Mapping[str, str]) -> dict[str, str]:
    """Migrate, bootstrap one sandbox account, lift its API key's and its account's rate limits."""
    payreq_cli("migrate", env=env)
    credentials: dict[str, str] = json.loads(payreq_cli("bootstrap", "--json", env=env))
    payreq_cli("admin", "rate-limit", credentials["client_id"], str(UNLIMITED), env=env)
    payreq_cli("admin", "rate-limit", "--account", credentials["account_id"], str(UNLIMITED), env=env)
    return credentials


def start_payreq(
    procs: Processes, name: str, *, env: Mapping[str, str], port: int, workdir: Path, pinning: Pinning
) -> Server:
    """``payreq serve --no-worker`` on ``port``; not waited for (see ``wait_ready``)."""
    log = workdir / f"{name.replace('=', '-')}.log"
    cmd = [sys.executable, "-m", "payreq", "serve", "--host", HOST, "--port", str(port), "--no-worker"]
    env = {**env, "PAYREQ_BASE_URL": f"http://{HOST}:{port}"}
    return Server(name, port, procs.start(pinned(cmd, pinning.server), env=env, stdout=log, stderr=log), log)


def start_servers(
    procs: Processes,
    *,
    env: Mapping[str, str],
    port: int,
    workdir: Path,
    pinning: Pinning,
    limiters: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[Server, Server, dict[str, Server]]:
    """payreq (``payreq serve --no-worker``), the bare app served the same way, and one
    more payreq per entry of ``limiters`` (name: its environment); all started at once."""
    payreq = start_payreq(procs, "payreq", env=env, port=port, workdir=workdir, pinning=pinning)
    bare_log = workdir / "bare.log"
    bare_port = free_port()
    bare_cmd = [
        *(sys.executable, "-m", "uvicorn", "bare:app", "--app-dir", str(HERE)),
        *("--host", HOST, "--port", str(bare_port), "--loop", "uvloop", "--http", "httptools"),
        *("--no-access-log", "--no-server-header", "--log-level", "warning"),
    ]
    ceiling = Server(
        "bare",
        bare_port,
        procs.start(pinned(bare_cmd, pinning.server), env=env, stdout=bare_log, stderr=bare_log),
        bare_log,
    )
    others = {
        name: start_payreq(
            procs,
            f"payreq-limiter={name}",
            env=limiter_env,
            port=free_port(),
            workdir=workdir,
            pinning=pinning,
        )
        for name, limiter_env in (limiters or {}).items()
    }
    for server in (payreq, *others.values()):
        wait_ready(server, "/readyz")
    wait_ready(ceiling, bare.PATH)
    return payreq, ceiling, others


def readiness(server: Server) -> dict[str, str]:
    """The ``checks`` of the server's /readyz (database, schema, rate_limiter)."""
    answer = httpx.get(f"http://{HOST}:{server.port}/readyz", timeout=5.0)
    checks: dict[str, str] = answer.json()["checks"]
    return checks


def wait_ready(server: Server, path: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited on start:\n{server.log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready at {url} after {timeout:.0f} s")


def seed(server: Server, credentials: Mapping[str, str], *, payments: int, workdir: Path) -> Seeded:
    """An access token, and ``payments`` payment requests for the GET scenario to read."""
    client_id, client_secret = credentials["client_id"], credentials["client_secret"]
    with httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=10.0) as client:
        answer = client.post(
            "/oauth/token",
            content="grant_type=client_credentials",
            headers={
                "Authorization": basic(client_id, client_secret),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer.raise_for_status()
        token = answer.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        paths = []
        for _ in range(max(1, payments)):
            created = client.post("/payment/request", content=PAYMENT_BODY, headers=headers)
            if created.status_code != 201:
                raise RuntimeError(f"seeding a payment answered {created.status_code}: {created.text}")
            paths.append(f"/payment/request/{created.json()['id']}")
    get_paths = workdir / "get-paths.txt"
    get_paths.write_text("\n".join(paths) + "\n")
    return Seeded(client_id, client_secret, token, get_paths)


def one_seeded_payreq(
    procs: Processes,
    workdir: Path,
    pinning: Pinning,
    *,
    name: str = "payreq",
    payments: int = 1000,
    database_url: str | None = None,
) -> tuple[Server, Seeded, dict[str, str]]:
    """One ``payreq serve`` on a fresh database (SQLite in ``workdir``, or the empty
    database of ``database_url``), ready and seeded (bench/pyspy.py, bench/servers.py,
    the PostgreSQL rows of bench/run.py); also the environment it was started with."""
    port = free_port()
    env = server_env(os.environ, workdir, port)
    if database_url is not None:
        env["PAYREQ_DATABASE_URL"] = database_url
    credentials = prepare_database(env)
    server = start_payreq(procs, name, env=env, port=port, workdir=workdir, pinning=pinning)
    wait_ready(server, "/readyz")
    return server, seed(server, credentials, payments=payments, workdir=workdir), env
