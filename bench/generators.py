"""The two load generators behind one interface: ``wrk`` when it is on PATH (with
bench/request.lua), otherwise bench/loadgen.py. Both read a scenario from the same
``BENCH_*`` environment variables and print one ``BENCH_RESULT {json}`` line."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from procs import Pinning, Processes, pinned
from scenarios import Scenario

HERE = Path(__file__).resolve().parent
MARKER = "BENCH_RESULT "
TIMEOUT_S = 5


@dataclass(frozen=True)
class Sample:
    """One scenario measured once."""

    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    http_errors: int
    """Answers with status >= 400 (wrk's "Non-2xx or 3xx responses")."""
    errors: int
    """Connect, read or write errors and timeouts."""
    server_cpu: float = 0.0
    """Share of one CPU the server used while measured (1.0 = a full core)."""
    client_cpu: float = 0.0
    """The same for the load generator: near its core count, it may be the bottleneck."""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @classmethod
    def parse(cls, output: str) -> Sample:
        for line in reversed(output.splitlines()):
            if line.startswith(MARKER):
                data = json.loads(line[len(MARKER) :])
                return cls(
                    requests=int(data["requests"]),
                    duration_s=float(data["duration_s"]),
                    p50_ms=float(data["p50_us"]) / 1000,
                    p99_ms=float(data["p99_us"]) / 1000,
                    http_errors=int(data["http_errors"]),
                    errors=int(data["errors"]),
                )
        raise RuntimeError(f"the load generator printed no result:\n{output[-2000:]}")


class Generator(Protocol):
    @property
    def name(self) -> str: ...

    def command(self, scenario: Scenario, *, connections: int, duration: int) -> list[str]: ...


@dataclass(frozen=True)
class Wrk:
    threads: int = 1
    name: str = "wrk"

    def command(self, scenario: Scenario, *, connections: int, duration: int) -> list[str]:
        threads = max(1, min(self.threads, connections))
        return [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            f"--timeout={TIMEOUT_S}s",
            "-s",
            str(HERE / "request.lua"),
            scenario.url,
        ]


@dataclass(frozen=True)
class PythonLoad:
    processes: int = 1
    name: str = "python (bench/loadgen.py, asyncio sockets)"

    def command(self, scenario: Scenario, *, connections: int, duration: int) -> list[str]:
        return [
            sys.executable,
            str(HERE / "loadgen.py"),
            f"--connections={connections}",
            f"--duration={duration}",
            f"--processes={self.processes}",
            scenario.url,
        ]


def choose(preference: str, *, client_cpus: int) -> Generator:
    """``auto``: wrk if it is installed, the Python generator otherwise."""
    if preference == "wrk" or (preference == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk); try --generator python")
        return Wrk(threads=client_cpus)
    return PythonLoad(processes=client_cpus)


def run_once(
    procs: Processes,
    generator: Generator,
    scenario: Scenario,
    *,
    pinning: Pinning,
    out: Path,
    connections: int = 64,
    duration: int = 3,
) -> Sample:
    """One measurement, the generator on the client CPUs, its output in ``out``."""
    cmd = generator.command(scenario, connections=connections, duration=duration)
    return run_command(procs, cmd, scenario, pinning=pinning, out=out, duration=duration)


def run_command(
    procs: Processes, cmd: list[str], scenario: Scenario, *, pinning: Pinning, out: Path, duration: float
) -> Sample:
    """Run a load generator's command on the client CPUs with the scenario's
    environment, stop it after at most ``duration`` + 60 s, and read its result."""
    child = procs.start(
        pinned(cmd, pinning.client), env={**os.environ, **scenario.env()}, stdout=out, stderr=out
    )
    try:
        child.wait(timeout=duration + 60)
    finally:
        procs.stop(child)
    return Sample.parse(out.read_text())
