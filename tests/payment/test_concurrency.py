"""Races settle once (ARCHITECTURE rule 5): whatever runs at the same time, a payment
makes exactly one terminal move and writes exactly one terminal event.

On PostgreSQL the competitors run in separate pooled connections and truly overlap
(one test proves it by watching a request wait on the row lock); on SQLite units of
work queue on one connection, so the same assertions check the serial case.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from payreq.audit.models import Actor
from payreq.kit.clock import utc_now
from payreq.payment.lifecycle import InvalidTransition, Status
from payreq.services import Services
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.payment.conftest import (
    TERMINAL_EVENTS,
    error_of,
    event_types,
    stored,
    tenant_of,
    ts,
)

if TYPE_CHECKING:
    from tests.conftest import MovableClock

T = TypeVar("T")


async def wait_for_lock_waiter(services: Services, backend: str, task: asyncio.Future[Any]) -> None:
    """Until ``task`` is blocked: on PostgreSQL, until a session of this database waits
    on a lock; on SQLite, a moment (the task queues on the connection's lock)."""
    if backend == "sqlite":
        await asyncio.sleep(0.05)
        assert not task.done()
        return
    for _ in range(500):
        async with services.db.read() as conn:
            row = await conn.fetch_one(
                "SELECT COUNT(*) AS n FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        if row is not None and row["n"] > 0:
            assert not task.done()
            return
        assert not task.done(), "the competitor finished without waiting for the row lock"
        await asyncio.sleep(0.01)
    raise AssertionError("no session ever waited on the payment row")


async def jittered(work: Awaitable[T]) -> T:
    """``work`` after a random pause of up to 4 ms, so that no competitor always starts first."""
    await asyncio.sleep(random.uniform(0, 0.004))
    return await work


async def test_twenty_concurrent_cancels_have_exactly_one_winner(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment()
    headers = await merchant.headers()
    url = f"/payment/request/{created['id']}/cancel"

    answers = await asyncio.gather(*(merchant.http.post(url, headers=headers) for _ in range(20)))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] + [409] * 19, codes
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    for answer in answers:
        if answer.status_code == 409:
            assert error_of(answer, 409, "invalid_state")["code"] == "invalid_state"
    assert await event_types(services, created["id"]) == ["payment.created", "payment.cancelled"]
    read = await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)
    assert read.json() == winner
    assert read.json()["status"] == "cancelled"


async def test_cancel_waiting_on_an_uncommitted_payment_gets_409(
    merchant: Merchant, services: Services, backend: str
) -> None:
    created = await merchant.create_payment()
    headers = await merchant.headers()

    async with services.db.transaction() as conn:
        await services.payments.settle(
            conn, tenant_of(merchant), uuid.UUID(created["id"]), Status.PAID, actor=Actor.cli("test")
        )
        cancel = asyncio.ensure_future(
            merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
        )
        await wait_for_lock_waiter(services, backend, cancel)
    answer = await cancel

    assert error_of(answer, 409, "invalid_state")["code"] == "invalid_state"
    read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
    assert read["status"] == "paid"
    assert read["cancelled_at"] is None
    assert await event_types(services, created["id"]) == ["payment.created", "payment.paid"]


async def test_concurrent_reads_and_sweeps_of_an_overdue_request_record_one_expiry(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    created = await merchant.create_payment(expires_in=60)
    headers = await merchant.headers()
    clock.advance(61)
    url = f"/payment/request/{created['id']}"

    reads = [asyncio.ensure_future(merchant.http.get(url, headers=headers)) for _ in range(10)]
    sweeps = [asyncio.ensure_future(Worker(services).run_once()) for _ in range(3)]
    await asyncio.gather(*reads, *sweeps)

    for answer in (read.result() for read in reads):
        assert answer.status_code == 200
        assert answer.json()["status"] == "expired"
        assert answer.json()["expired_at"] == created["expires_at"]
    assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]
    assert (await stored(services, created["id"]))["status"] == "expired"


@pytest.mark.parametrize("timing", ["before_deadline", "after_deadline", "at_deadline"])
async def test_pay_cancel_and_expire_race_settles_once(
    merchant: Merchant, services: Services, clock: MovableClock, timing: str
) -> None:
    headers = await merchant.headers()
    tenant = tenant_of(merchant)
    winners: dict[str, int] = {}

    for _ in range(10):
        clock.offset = timedelta()
        created = await merchant.create_payment(expires_in=60)
        pid = created["id"]
        deadline = ts(created["expires_at"])
        if timing == "after_deadline":
            clock.advance(61)
        elif timing == "at_deadline":
            # the deadline passes a few milliseconds from now, while the competitors run
            clock.offset = deadline - utc_now() - timedelta(milliseconds=random.uniform(0, 6))

        async def pay_it(pid: str = pid) -> bool:
            try:
                async with services.db.transaction() as conn:
                    await services.payments.settle(
                        conn, tenant, uuid.UUID(pid), Status.PAID, actor=Actor.cli("test")
                    )
            except InvalidTransition:
                return False
            return True

        async def cancel_it(pid: str = pid) -> bool:
            answer = await merchant.http.post(f"/payment/request/{pid}/cancel", headers=headers)
            assert answer.status_code in (200, 409), answer.text
            return answer.status_code == 200

        async def read_it(pid: str = pid) -> str:
            answer = await merchant.http.get(f"/payment/request/{pid}", headers=headers)
            assert answer.status_code == 200, answer.text
            return str(answer.json()["status"])

        paid, cancelled, swept, seen = await asyncio.gather(
            jittered(pay_it()),
            jittered(cancel_it()),
            jittered(Worker(services).run_once()),
            jittered(read_it()),
        )
        del swept  # the sweep counts every overdue row in the database, not only this one

        raced = await event_types(services, pid)
        assert len([t for t in raced if t in TERMINAL_EVENTS]) <= 1, raced
        # if pay and cancel both lost, they found the payment overdue; if nothing in the
        # race persisted that, the next read does
        read = (await merchant.http.get(f"/payment/request/{pid}", headers=headers)).json()

        types = await event_types(services, pid)
        terminal = [t for t in types if t in TERMINAL_EVENTS]
        assert types[0] == "payment.created"
        assert len(terminal) == 1, types
        assert len(types) == 2, types
        winner = terminal[0].removeprefix("payment.")
        winners[winner] = winners.get(winner, 0) + 1
        assert paid is (winner == "paid")
        assert cancelled is (winner == "cancelled")
        assert seen in ("pending", winner)
        if timing == "before_deadline":
            assert winner in ("paid", "cancelled")
        if timing == "after_deadline":
            assert winner == "expired"

        assert read["status"] == winner
        reached = {"paid": "paid_at", "cancelled": "cancelled_at", "expired": "expired_at"}
        for status, column in reached.items():
            assert (read[column] is not None) is (status == winner), (winner, read)
        if winner == "expired":
            assert read["expired_at"] == created["expires_at"]
        assert (await stored(services, pid))["status"] == winner
        again = await merchant.http.get(f"/payment/request/{pid}", headers=headers)
        assert again.json() == read
        assert await event_types(services, pid) == types

    assert sum(winners.values()) == 10


async def test_losing_expiry_does_not_report_success_for_a_payment_paid_meanwhile(
    merchant: Merchant, services: Services, clock: MovableClock, backend: str
) -> None:
    """settle(EXPIRED) promises 409 to every loser; here the payer commits first while
    the expiry waits on the row, and the expiry must not return the paid payment."""
    created = await merchant.create_payment(expires_in=60)
    tenant = tenant_of(merchant)
    pid = uuid.UUID(created["id"])

    async def expire_it() -> Status:
        async with services.db.transaction() as conn:
            return (
                await services.payments.settle(conn, tenant, pid, Status.EXPIRED, actor=Actor.worker())
            ).status

    async with services.db.transaction() as conn:
        await services.payments.settle(conn, tenant, pid, Status.PAID, actor=Actor.cli("test"))
        clock.advance(61)  # the deadline passes while the payment is not yet committed
        expiry: asyncio.Task[Status] = asyncio.ensure_future(expire_it())
        await wait_for_lock_waiter(services, backend, expiry)

    with pytest.raises(InvalidTransition):
        await expiry
    assert await event_types(services, created["id"]) == ["payment.created", "payment.paid"]
    assert (await stored(services, created["id"]))["status"] == "paid"
