"""Races settle once, 200 times over (issue 7): pay, cancel and expire fired together
at a payment settle it exactly once, with exactly one terminal event, and every
competitor's answer agrees with the winner. On PostgreSQL the competitors hold their
own pooled connections and truly overlap; on SQLite they queue on one connection in
whatever order the event loop picks.

A third of the trials race before the deadline (pay or cancel must win), a third
with the deadline passing while they run (anyone may win), a third after it (expiry
must win, though pay and cancel are the ones to notice)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from payreq.audit.models import Actor
from payreq.kit.clock import utc_now
from payreq.payment.lifecycle import InvalidTransition, Status
from payreq.services import Services
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.payment.conftest import TERMINAL_EVENTS, event_types, stored, tenant_of, ts

if TYPE_CHECKING:
    from tests.conftest import MovableClock

TRIALS = 200
TIMINGS = ("before_deadline", "at_deadline", "after_deadline")


async def test_pay_cancel_and_expire_race_settles_exactly_once_in_200_trials(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    tenant = tenant_of(merchant)
    headers = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    rng = random.Random(7)
    winners: Counter[tuple[str, str]] = Counter()

    async def pay(pid: uuid.UUID) -> bool:
        try:
            async with services.db.transaction() as conn:
                await services.payments.settle(conn, tenant, pid, Status.PAID, actor=Actor.cli("test"))
        except InvalidTransition:
            return False
        return True

    async def expire(pid: uuid.UUID) -> bool:
        try:
            async with services.db.transaction() as conn:
                await services.payments.settle(conn, tenant, pid, Status.EXPIRED, actor=Actor.cli("test"))
        except InvalidTransition:
            return False
        return True

    async def cancel(pid: uuid.UUID) -> bool:
        answer = await merchant.http.post(f"/payment/request/{pid}/cancel", headers=headers)
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "invalid_state"
        return answer.status_code == 200

    async def sweep() -> int:
        return await Worker(services).run_once()

    async def jittered(work: asyncio.Future[object] | object) -> object:
        await asyncio.sleep(rng.uniform(0, 0.003))
        return await work  # type: ignore[misc]

    for trial in range(TRIALS):
        timing = TIMINGS[trial % 3]
        clock.offset = timedelta()
        created = await merchant.create_payment(expires_in=60)
        pid = uuid.UUID(created["id"])
        deadline = ts(created["expires_at"])
        if timing == "after_deadline":
            clock.advance(61)
        elif timing == "at_deadline":
            clock.offset = deadline - utc_now() - timedelta(milliseconds=rng.uniform(0, 5))

        competitors = [pay(pid), cancel(pid), expire(pid)]
        if trial % 2:
            competitors.append(sweep())  # the worker too, on half the trials
        order = list(range(len(competitors)))
        rng.shuffle(order)
        results = await asyncio.gather(*(jittered(competitors[i]) for i in order))
        outcome = dict(zip(order, results, strict=True))
        paid, cancelled, expired = bool(outcome[0]), bool(outcome[1]), bool(outcome[2])

        types = await event_types(services, str(pid))
        terminal = [t for t in types if t in TERMINAL_EVENTS]
        if not terminal:
            # pay and cancel both lost to a deadline that passed, and expire ran before
            # it: the next read persists the expiry (as the worker would)
            assert not (paid or cancelled or expired), (trial, timing, types)
            read = await merchant.http.get(f"/payment/request/{pid}", headers=headers)
            assert read.json()["status"] == "expired"
            types = await event_types(services, str(pid))
            terminal = [t for t in types if t in TERMINAL_EVENTS]
        assert types[0] == "payment.created"
        assert len(terminal) == 1, (trial, timing, types)
        assert len(types) == 2, (trial, timing, types)
        winner = terminal[0].removeprefix("payment.")
        winners[(timing, winner)] += 1

        assert paid is (winner == "paid"), (trial, timing, winner)
        assert cancelled is (winner == "cancelled"), (trial, timing, winner)
        assert not expired or winner == "expired", (trial, timing, winner)
        if timing == "before_deadline":
            assert winner in ("paid", "cancelled")
        if timing == "after_deadline":
            assert winner == "expired"
        row = await stored(services, str(pid))
        assert row["status"] == winner
        for status, column in (("paid", "paid_at"), ("cancelled", "cancelled_at"), ("expired", "expired_at")):
            assert (row[column] is not None) is (status == winner), (winner, dict(row))

        # a terminal status never changes afterwards, whoever asks
        assert not await pay(pid)
        assert not await cancel(pid)
        assert not await expire(pid)
        assert await event_types(services, str(pid)) == types

    assert sum(winners.values()) == TRIALS
    # every kind of winner showed up, so the race was a race
    assert {winner for _, winner in winners} == {"paid", "cancelled", "expired"}, winners
