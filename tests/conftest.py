"""Shared fixtures. The same API and data-layer tests run on SQLite and PostgreSQL:
``backend`` is a session-wide parameter, each backend gets one freshly migrated
database, and each test makes its own merchant, so tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database, connect
from payreq.kit.clock import utc_now
from payreq.services import Services
from tests.fixtures.backends import migrated_database
from tests.fixtures.factories import Merchant, new_merchant

BASE_URL = "http://testserver"


class MovableClock:
    """Real time plus an offset that a test may move forward; reset after each test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self):  # type: ignore[no-untyped-def]
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: MovableClock) -> None:
    clock.offset = timedelta()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_engine(request: pytest.FixtureRequest) -> str:
    """The engine under a live ``payreq serve`` (browser, schemathesis, walk-throughs,
    OAuth client library): each such module runs once per engine."""
    return str(request.param)


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async for url in migrated_database(backend, tmp_path_factory.mktemp(backend)):
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        base_url=BASE_URL,
        embedded_worker=False,
        log_level="WARNING",
        database_timeout=5.0,
        # tests send bursts with one key; the limiter's own tests set their limits
        default_rate_limit=1_000_000,
        account_rate_limit=1_000_000,
        checkout_form_rate_limit=1_000_000,
        checkout_payment_rate_limit=1_000_000,
        signup_address_limit=1_000_000,
        auth_failure_limit=1_000_000,
        # as `make run` does: the suite's webhook receivers listen on loopback
        webhook_allow_private="127.0.0.0/8,::1/128",
    )


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = connect(settings.database_url, timeout=settings.database_timeout, pool_size=30)
    await database.open()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database, clock: MovableClock) -> Litestar:
    return create_app(settings, db=db, clock=clock, run_worker=False)


@pytest.fixture(scope="session")
def services(app: Litestar) -> Services:
    found: Services = app.state.services
    return found


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def merchant(services: Services, http: httpx.AsyncClient) -> Merchant:
    return await new_merchant(services, http)


@pytest.fixture
def make_merchant(services: Services, http: httpx.AsyncClient) -> Callable[..., Awaitable[Merchant]]:
    async def make(environment: str = "sandbox") -> Merchant:
        return await new_merchant(services, http, environment=environment)

    return make


@pytest.fixture(scope="session")
async def app_once(tmp_path_factory: pytest.TempPathFactory, clock: MovableClock) -> AsyncIterator[Litestar]:
    """An app for tests that never touch the database (OpenAPI, docs, headers, 404,
    405, OPTIONS): it is not parametrized by ``backend``, so those tests run once and
    the count tells the truth. It stands on its own SQLite file, which they never read."""
    async for url in migrated_database("sqlite", tmp_path_factory.mktemp("once")):
        once = Settings(database_url=url, base_url=BASE_URL, embedded_worker=False, log_level="WARNING")
        database = connect(url, timeout=5.0)
        await database.open()
        yield create_app(once, db=database, clock=clock, run_worker=False)
        await database.close()


@pytest.fixture
async def http_once(app_once: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_once)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
