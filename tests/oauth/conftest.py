"""A real ``payreq serve`` process on a fresh SQLite database, for tests that need a
standard OAuth2 client library to talk real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PAYREQ = Path(sys.executable).parent / "payreq"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    credentials: dict[str, str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(database_url: str, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYREQ_")}
    env.update(
        PAYREQ_DATABASE_URL=database_url,
        PAYREQ_BASE_URL=base_url,
        PAYREQ_LOG_LEVEL="WARNING",
        PAYREQ_EMBEDDED_WORKER="false",
        PAYREQ_DEFAULT_RATE_LIMIT="1000000",  # these tests are about OAuth, not the limiter
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [str(PAYREQ), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"payreq {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``payreq serve --no-worker`` on a free port; killed after the module's tests."""
    tmp_path = tmp_path_factory.mktemp("live")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _environment(f"sqlite:///{tmp_path / 'x.db'}", base_url)
    _run(["migrate"], env, tmp_path)
    credentials = json.loads(_run(["bootstrap", "--json"], env, tmp_path).strip().splitlines()[-1])

    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(PAYREQ), "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"payreq serve exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"payreq serve did not answer /healthz in {START_TIMEOUT}s:\n{log_path.read_text()}"
                )
            time.sleep(0.1)
        yield LiveServer(base_url=base_url, credentials=credentials)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
