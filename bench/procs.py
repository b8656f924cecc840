"""Child processes of one bench run: started in their own session, pinned to CPUs
when ``taskset`` exists, and always stopped, even on Ctrl-C or an error."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the servers and the load generator get (None: not pinned)."""

    server: str | None
    client: str | None

    @classmethod
    def choose(cls, *, enabled: bool) -> Pinning:
        """Servers on CPU 0, the load generator on the others (the perf.md setup)."""
        cpus = sorted(os.sched_getaffinity(0))
        if not enabled or len(cpus) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(str(cpus[0]), ",".join(str(c) for c in cpus[1:]))

    @property
    def client_cpu_count(self) -> int:
        return len(self.client.split(",")) if self.client else len(os.sched_getaffinity(0))

    def describe(self) -> str:
        if self.server is None:
            return "not pinned"
        return f"servers on CPU {self.server}, load generator on CPU {self.client}"


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus else list(cmd)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Processes:
    """``with Processes() as procs: procs.start(...)``; every child is stopped on exit."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def start(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str],
        stdout: int | Path = subprocess.DEVNULL,
        stderr: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in a new session, so that a terminal's Ctrl-C reaches only us
        and we stop it ourselves; ``stdout``/``stderr`` paths are log files."""
        with contextlib.ExitStack() as files:
            out = files.enter_context(stdout.open("ab")) if isinstance(stdout, Path) else stdout
            err = files.enter_context(stderr.open("ab")) if stderr else subprocess.DEVNULL
            child = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=err, start_new_session=True)
        self._children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
        """SIGTERM to the child's own process group, SIGKILL after ``grace`` seconds."""
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self._children)):
            self.stop(child)
