"""A hypothesis state machine over the payment lifecycle: create, pay, cancel, expire,
the worker's sweep and the clock moving. After every step the API, the database and
the event log agree with the model, and no terminal status ever changes.

Hypothesis drives the machine in a worker thread; each rule runs its coroutine on the
session's event loop, where the app, the database and the clock live. Clock moves are
multiples of 40 s and lifetimes 60 or 100 s, so no deadline ever falls within seconds
of a check: the model and the server never disagree about a few milliseconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from payreq.audit.models import Actor
from payreq.payment.lifecycle import InvalidTransition, Status
from payreq.services import Services
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.payment.conftest import event_types, stored, tenant_of, ts

if TYPE_CHECKING:
    from tests.conftest import MovableClock

T = TypeVar("T")
TERMINAL = {"paid", "cancelled", "expired"}


@dataclass
class Model:
    expires_at: datetime
    status: str = "pending"  # as persisted, once the server had a reason to persist it
    history: list[str] = field(default_factory=list)

    def seen(self, now: datetime) -> str:
        """The status the API shows now (an overdue pending payment reads as expired)."""
        return "expired" if self.status == "pending" and self.expires_at <= now else self.status


async def test_lifecycle_state_machine_keeps_api_database_and_events_in_agreement(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    loop = asyncio.get_running_loop()
    tenant = tenant_of(merchant)
    headers = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    http = merchant.http
    start = clock.offset
    steps = [0]

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=60)

    async def settle(pid: str, target: Status) -> bool:
        try:
            async with services.db.transaction() as conn:
                await services.payments.settle(conn, tenant, uuid.UUID(pid), target, actor=Actor.cli("test"))
        except InvalidTransition:
            return False
        return True

    class Lifecycle(RuleBasedStateMachine):
        payments = Bundle("payments")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, Model] = {}

        @initialize()
        def reset_clock(self) -> None:
            clock.offset = start

        def overdue(self, pid: str) -> bool:
            return self.model[pid].expires_at <= clock()

        def expire_if_overdue(self, pid: str) -> None:
            """The server persists an expiry whenever it meets an overdue payment."""
            if self.model[pid].status == "pending" and self.overdue(pid):
                self.model[pid].status = "expired"

        @rule(target=payments, lifetime=st.sampled_from([60, 100]))
        def create(self, lifetime: int) -> str:
            answer = run(
                http.post(
                    "/payment/request",
                    json={
                        "amount": "700",
                        "currency": "EUR",
                        "redirect_url": "https://shop.example/r",
                        "expires_in": lifetime,
                    },
                    headers=headers,
                )
            )
            assert answer.status_code == 201, answer.text
            body = answer.json()
            assert body["status"] == "pending"
            self.model[body["id"]] = Model(expires_at=ts(body["expires_at"]))
            return str(body["id"])

        @rule(pid=payments)
        def pay(self, pid: str) -> None:
            could = self.model[pid].status == "pending" and not self.overdue(pid)
            self.expire_if_overdue(pid)
            assert run(settle(pid, Status.PAID)) is could
            if could:
                self.model[pid].status = "paid"

        @rule(pid=payments)
        def cancel(self, pid: str) -> None:
            could = self.model[pid].status == "pending" and not self.overdue(pid)
            self.expire_if_overdue(pid)
            answer = run(http.post(f"/payment/request/{pid}/cancel", headers=headers))
            assert answer.status_code == (200 if could else 409), answer.text
            if could:
                self.model[pid].status = "cancelled"
                assert answer.json()["status"] == "cancelled"
            else:
                assert answer.json()["error"]["code"] == "invalid_state"

        @rule(pid=payments)
        def expire(self, pid: str) -> None:
            could = self.model[pid].status == "pending" and self.overdue(pid)
            self.expire_if_overdue(pid)
            assert run(settle(pid, Status.EXPIRED)) is could

        @rule()
        def sweep(self) -> None:
            run(Worker(services).run_once())
            for pid in self.model:
                self.expire_if_overdue(pid)

        @rule(seconds=st.sampled_from([40, 80, 400]))
        def advance(self, seconds: int) -> None:
            clock.advance(seconds)

        @invariant()
        def api_database_and_events_agree(self) -> None:
            steps[0] += 1
            now = clock()
            for pid, model in self.model.items():
                seen = model.seen(now)
                self.expire_if_overdue(pid)  # reading an overdue payment persists it
                read = run(http.get(f"/payment/request/{pid}", headers=headers))
                assert read.status_code == 200, read.text
                assert read.json()["status"] == seen == model.status, (pid, read.json(), model)
                row = run(stored(services, pid))
                assert row["status"] == model.status
                for status, column in (
                    ("paid", "paid_at"),
                    ("cancelled", "cancelled_at"),
                    ("expired", "expired_at"),
                ):
                    assert (row[column] is not None) is (status == model.status)
                types = run(event_types(services, pid))
                expected = ["payment.created"] + (
                    [f"payment.{model.status}"] if model.status in TERMINAL else []
                )
                assert types == expected, (pid, types, model)
                # a terminal status, once reached, is the only one it ever has
                model.history.append(model.status)
                terminal = [s for s in model.history if s in TERMINAL]
                assert len(set(terminal)) <= 1, model.history
                if terminal:
                    assert model.history[-1] == terminal[0]

    await asyncio.to_thread(
        run_state_machine_as_test,
        Lifecycle,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert steps[0] >= 100, steps  # the machine really ran
