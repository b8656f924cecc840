"""A real ``payreq serve`` process on a fresh database of each engine, for tests that
need a standard OAuth2 client library to talk real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fixtures.live import bootstrap, environment, live_database, payreq, serve


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    credentials: dict[str, str]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, live_engine: str) -> Iterator[LiveServer]:
    """``payreq serve --no-worker`` on a free port; stopped after the module's tests."""
    tmp_path = tmp_path_factory.mktemp("live")
    with live_database(live_engine, tmp_path / "x.db") as url:
        # these tests are about OAuth, not the limiter
        env = environment(url, PAYREQ_DEFAULT_RATE_LIMIT="1000000")
        payreq("migrate", env=env)
        credentials = bootstrap(env)
        with serve(env, tmp_path / "server.log") as server:
            yield LiveServer(base_url=server.url, credentials=credentials)
