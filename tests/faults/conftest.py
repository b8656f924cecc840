"""Live servers for the fault tests: a ``payreq serve`` process this test may kill,
and a private PostgreSQL cluster it may stop (the machine's shared one is left alone)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.live import PAYREQ, environment, free_port


@dataclass
class Process:
    """A ``payreq serve`` that the test starts, kills and starts again."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [PAYREQ, "serve", "--port", str(self.port), "--no-worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"server did not start: {self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=15)
        self.process = None


@contextmanager
def payreq_server(env: dict[str, str], log: Path) -> Iterator[Process]:
    server = Process(env=env, log=log)
    try:
        yield server
    finally:
        server.kill(signal.SIGKILL)


def server_env(database_url: str) -> dict[str, str]:
    return environment(
        database_url,
        PAYREQ_RATE_LIMIT_ENABLED="false",
        PAYREQ_SQLITE_SYNCHRONOUS="FULL",
        PAYREQ_DATABASE_TIMEOUT="5",
    )


def run_payreq(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PAYREQ, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def bootstrap(env: dict[str, str]) -> dict[str, Any]:
    run_payreq(env, "migrate")
    result: dict[str, Any] = json.loads(run_payreq(env, "bootstrap", "--json"))
    return result


def create_body(reference: str) -> dict[str, Any]:
    return {
        "amount": "1234",
        "currency": "EUR",
        "redirect_url": "https://shop.example/back",
        "reference_id": reference,
        "metadata": {"order": reference},
    }


# -- a private PostgreSQL cluster ----------------------------------------------------


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    assert found, "no PostgreSQL binaries under /usr/lib/postgresql/*/bin"
    return found[-1].parent


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int
    as_user: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        command = [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=on"
        self.pg_ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "-t", "30", "stop")


@contextmanager
def private_postgres() -> Iterator[Cluster]:
    """``initdb`` + ``pg_ctl`` in a temporary directory on a free port; as the
    ``postgres`` user when the tests run as root (initdb refuses root)."""
    import tempfile

    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="payreq-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    initdb = [
        *as_user,
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
    ]
    done = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    cluster = Cluster(bin=bin_dir, data=data, port=free_port(), as_user=as_user)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def new_reference() -> str:
    return f"crash-{uuid.uuid4().hex[:12]}"
