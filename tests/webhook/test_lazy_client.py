"""A server that sends no webhook does not carry the HTTP client: aiohttp is loaded for
the first delivery or test event (about 5 MB of RSS; bench/memory.py), not at start-up."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from payreq.app import create_app
from payreq.worker.runner import Worker
from payreq.webhook import delivery, test_event
print("aiohttp" in sys.modules)
"""


def test_the_application_and_the_worker_start_without_the_webhook_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False", done.stderr
