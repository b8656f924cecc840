"""The README's promise: from a fresh clone, `make run` serves, and the curl
walk-through it shows works as written."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.live import free_port

WALKTHROUGH = re.compile(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", re.S)


def walkthrough(readme: Path) -> str:
    match = WALKTHROUGH.search(readme.read_text())
    assert match, "README.md has no walk-through block"
    return match.group(1)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make run exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"make run did not become ready in {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_make_run_from_a_fresh_clone_answers_the_readme_walkthrough(repo_root: Path, tmp_path: Path) -> None:
    for tool in ("git", "make", "curl", "jq"):
        assert shutil.which(tool), f"{tool} is needed for this test"
    clone = tmp_path / "payreq"
    subprocess.run(["git", "clone", "--quiet", str(repo_root), str(clone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYREQ_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    # the same packages as a reader's install, without writing their bytecode caches
    # (Python compiles what it imports anyway): this test took 154 s with them, 86 s without
    env["PIP_NO_COMPILE"] = "1"
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log, seconds=600)
        printed = log.read_text()
        credentials = (clone / "var" / "demo-credentials.json").read_text()
        assert '"client_secret"' in credentials
        assert "client_secret" in printed and "prq_cs_sbx_" in printed, (
            "make run did not print the credentials"
        )
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough(clone / "README.md")],
            cwd=clone,
            env={**env, "BASE": f"http://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert re.search(r'"status": "pending"', out), out
        assert re.search(r'"amount": "10000"', out), out
        assert re.search(r'"status": "cancelled"', out), out
        assert re.search(r'"type": "invalid_state"', out), out
        assert re.search(r'"count": 1', out), out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
