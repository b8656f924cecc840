"""Helpers for the idempotency tests: the key store read straight from the database,
and an app with a few extra routes (a slow one, one that fails after writing, one with
two units of work) to exercise the middleware the way any future route would meet it.
Answers that carry a secret are tested on the real endpoints (test_replay.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, Response, Router, post

from payreq.app import create_app
from payreq.auth.dependencies import Subject, requires
from payreq.auth.subject import Scope
from payreq.config import Settings
from payreq.db import Database, Row
from payreq.kit.jsonbody import decode
from payreq.payment.schemas_a import PaymentRequestCreate, PaymentRequestView
from payreq.services import Services
from tests.conftest import BASE_URL, MovableClock
from tests.fixtures.factories import Merchant


class Gate:
    """Holds the slow route inside its transaction until the test opens it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()
        self.runs = 0


GATE_KEY = "test.gate"
CREATE = {"subject": requires(Scope.PAYMENTS_CREATE)}
BODY = {"body": PaymentRequestCreate}  # a write declares its body, or takes none


async def _create(request: Request[Any, Any, Any], subject: Any) -> tuple[Services, PaymentRequestView]:
    services: Services = request.app.state.services
    data = decode(await request.body(), PaymentRequestCreate)
    async with services.db.transaction() as conn:
        payment = await services.payments.create(conn, subject, data.draft())
    return services, PaymentRequestView.of(payment, base_url=services.settings.base_url)


@post("/slow", status_code=201, dependencies=CREATE, opt=BODY)
async def slow(request: Request[Any, Any, Any], subject: Subject) -> PaymentRequestView:
    services: Services = request.app.state.services
    gate: Gate = request.app.state[GATE_KEY]
    data = decode(await request.body(), PaymentRequestCreate)
    async with services.db.transaction() as conn:
        gate.runs += 1  # a replay is answered as the transaction begins, before this line
        payment = await services.payments.create(conn, subject, data.draft())
        gate.entered.set()
        await gate.open.wait()
    return PaymentRequestView.of(payment, base_url=services.settings.base_url)


@post("/boom", status_code=201, dependencies=CREATE, opt=BODY)
async def boom(request: Request[Any, Any, Any], subject: Subject) -> PaymentRequestView:
    """Commits a payment, then fails: a 500 after the unit of work ended."""
    _, view = await _create(request, subject)
    request.app.state["test.boom_ids"].append(view.id)
    raise RuntimeError("the handler failed after its unit of work")


@post("/two-units", status_code=201, dependencies=CREATE, opt=BODY)
async def two_units(request: Request[Any, Any, Any], subject: Subject) -> PaymentRequestView:
    services, view = await _create(request, subject)
    async with services.db.read() as conn:
        assert await conn.fetch_one("SELECT id FROM payments WHERE id = :id", {"id": uuid.UUID(view.id)})
    return view


@post("/slow-after", status_code=201, dependencies=CREATE, opt=BODY)
async def slow_after(request: Request[Any, Any, Any], subject: Subject) -> PaymentRequestView:
    """Works for a while after its unit of work, as an outbound call would."""
    _, view = await _create(request, subject)
    await asyncio.sleep(0.6)
    return view


@post("/located", status_code=201, dependencies=CREATE, opt=BODY)
async def located(request: Request[Any, Any, Any], subject: Subject) -> Response[bytes]:
    _, view = await _create(request, subject)
    return Response(
        msgspec.json.encode(view),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/payment/request/{view.id}", "X-Not-Kept": "1"},
    )


@pytest.fixture(scope="session")
def test_app(settings: Settings, db: Database, clock: MovableClock) -> Litestar:
    app = create_app(settings, db=db, clock=clock, run_worker=False)
    app.register(Router(path="/api/_test", route_handlers=[slow, boom, two_units, slow_after, located]))
    app.state[GATE_KEY] = Gate()
    app.state["test.boom_ids"] = []
    return app


@pytest.fixture
def gate(test_app: Litestar) -> Gate:
    fresh = Gate()
    test_app.state[GATE_KEY] = fresh
    return fresh


@pytest.fixture
async def test_http(test_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=test_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def body(**fields: Any) -> dict[str, Any]:
    return {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks", **fields}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


async def key_rows(services: Services, merchant: Merchant) -> list[Row]:
    async with services.db.read() as conn:
        return list(
            await conn.fetch_all(
                "SELECT idempotency_key, status, body, expires_at, created_at FROM idempotency_keys "
                "WHERE account_id = :account_id",
                {"account_id": uuid.UUID(merchant.credentials.account_id)},
            )
        )


async def payments_with_reference(services: Services, reference: str) -> int:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM payments WHERE reference_id = :reference", {"reference": reference}
        )
    assert row is not None
    return int(row["n"])
