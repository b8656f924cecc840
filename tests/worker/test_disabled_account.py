"""The worker and an account the operator disabled (`payreq admin disable-account`, run
as the operator runs it): its due deliveries wait, neither claimed, attempted nor given
up, while the worker goes on with everyone else's; its payments still expire on time
(their events wait too); once `enable-account` runs, the same worker sends them all,
and the time they waited does not count toward disabling a failing endpoint."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from payreq.config import Settings
from payreq.services import Services
from payreq.webhook import repository as webhook_repository
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.fixtures.live import environment, payreq
from tests.payment.conftest import stored
from tests.webhook.conftest import FAST, delivering, eventually, set_webhook_url
from tests.webhook.receiver import Answer, Receiver

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.conftest import MovableClock


def sent_for(receiver: Receiver, path: str) -> list[tuple[str, str]]:
    """(type, payment id) of what reached ``path``, in order."""
    bodies = [json.loads(r.body) for r in receiver.received if r.path == path]
    return [(b["type"], b["data"]["id"]) for b in bodies]


async def deliveries(services: Services, account_id: str) -> list[tuple[str, int, bool, int]]:
    """(status, attempts, leased, attempt rows) of each delivery of the account's events."""
    async with services.db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT d.status, d.attempts, d.claimed_until IS NOT NULL AS leased,
                   (SELECT count(*) FROM webhook_attempts t WHERE t.delivery_id = d.id) AS tries
            FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
            WHERE e.account_id = :account ORDER BY e.created_at
            """,
            {"account": uuid.UUID(account_id)},
        )
    return [(r["status"], r["attempts"], bool(r["leased"]), r["tries"]) for r in rows]


async def test_a_disabled_accounts_deliveries_wait_unattempted_and_go_out_once_enabled(
    services: Services,
    settings: Settings,
    hooked: Merchant,
    make_merchant: Callable[[], Awaitable[Merchant]],
    receiver: Receiver,
    clock: MovableClock,
) -> None:
    env = environment(settings.database_url)
    account = hooked.credentials.account_id
    assert (await set_webhook_url(hooked, receiver.url("/disabled"))).status_code == 200
    other = await make_merchant()
    assert (await set_webhook_url(other, receiver.url("/other"))).status_code == 200
    waiting = await hooked.create_payment(expires_in=60)

    out = await asyncio.to_thread(payreq, "admin", "disable-account", account, env=env)
    assert out.strip() == f"account {account}: disabled"

    clock.advance(61)  # the disabled account's payment passes its deadline: the sweep expires it
    await Worker(services).run_once()
    assert (await stored(services, waiting["id"]))["status"] == "expired"
    theirs = await other.create_payment()

    async with delivering(services) as dispatcher:
        await eventually(lambda: sent_for(receiver, "/other") == [("payment.created", theirs["id"])])
        await asyncio.sleep(0.5)  # ten more polls of the claim
        assert sent_for(receiver, "/disabled") == []
        # never claimed (so no hot loop on them), never attempted, not given up
        assert await deliveries(services, account) == [("pending", 0, False, 0)] * 2
        async with services.db.read() as conn:
            assert not await webhook_repository.any_due(conn, now=services.clock())
            assert await webhook_repository.queue_depth(conn, now=services.clock()) == 0
        assert dispatcher.stats.given_up == 0

        out = await asyncio.to_thread(payreq, "admin", "enable-account", account, env=env)
        assert out.strip() == f"account {account}: enabled"
        await eventually(lambda: len(sent_for(receiver, "/disabled")) == 2)

    assert sorted(sent_for(receiver, "/disabled")) == [  # sent side by side: in any order
        ("payment.created", waiting["id"]),
        ("payment.expired", waiting["id"]),
    ]
    assert await deliveries(services, account) == [("delivered", 1, False, 1)] * 2
    assert dispatcher.stats.given_up == 0


async def test_the_time_a_disabled_account_waited_does_not_count_toward_disabling_its_endpoint(
    services: Services, settings: Settings, hooked: Merchant, receiver: Receiver, clock: MovableClock
) -> None:
    env = environment(settings.database_url)
    account = hooked.credentials.account_id
    receiver.default = Answer(status=500)
    await hooked.create_payment()
    async with delivering(services):
        await eventually(lambda: len(receiver.received) >= 1)  # failing from now on
    await asyncio.to_thread(payreq, "admin", "disable-account", account, env=env)
    clock.advance(FAST.disable_after + 60)  # disabled longer than an endpoint may fail
    await asyncio.to_thread(payreq, "admin", "enable-account", account, env=env)

    tried = len(receiver.received)
    async with delivering(services) as dispatcher:
        await eventually(lambda: len(receiver.received) > tried)  # still failing, once more
    async with services.db.read() as conn:
        app = await conn.fetch_one(
            "SELECT webhook_failing_since, webhook_disabled_at FROM applications WHERE client_id = :c",
            {"c": hooked.credentials.application_client_id},
        )
    assert app is not None and app["webhook_disabled_at"] is None
    assert app["webhook_failing_since"] >= services.clock() - timedelta(seconds=30)  # a new streak
    assert dispatcher.stats.endpoints_disabled == 0
