"""One real ``payreq serve`` (SQLite, its own worker, a sandbox account) for the SDK's
contract tests, started by the SDK's own ``payreq.testing.LocalServer``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from payreq.testing import LocalServer


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server
