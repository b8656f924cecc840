"""Start-up of a long-running process: what it made is frozen out of the collector's
sight (``payreq serve`` in each server process, ``payreq worker``). Each check runs in a
child process, so that this test process's own objects are never frozen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SERVE = """
import asyncio, gc, json, sys
from litestar.testing import TestClient
from payreq.app import create_server_app
before = gc.get_freeze_count()
with TestClient(create_server_app()) as client:
    answer = client.get("/readyz")
    frozen = gc.get_freeze_count()
print(json.dumps({"before": before, "frozen": frozen, "ready": answer.status_code}))
"""


def _child(code: str, tmp_path: Path) -> dict[str, int]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PAYREQ_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PAYREQ_EMBEDDED_WORKER": "false",
    }
    subprocess.run(
        [sys.executable, "-m", "payreq", "migrate"], env=env, check=True, capture_output=True, timeout=60
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_server_process_freezes_what_its_start_up_made(tmp_path: Path) -> None:
    result = _child(SERVE, tmp_path)
    assert result["before"] == 0
    assert result["frozen"] > 50_000  # the modules, the app and its routes
    assert result["ready"] == 200


def test_the_application_of_tests_and_embedders_freezes_nothing(tmp_path: Path) -> None:
    result = _child(
        SERVE.replace("create_server_app()", "create_app()").replace(
            "import create_server_app", "import create_app"
        ),
        tmp_path,
    )
    assert result["frozen"] == 0
