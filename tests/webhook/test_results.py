"""How one batch of results is written: several attempts of one endpoint, in order."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from payreq.kit.clock import instant
from payreq.services import Services
from payreq.webhook import repository
from payreq.webhook.delivery import Dispatcher, Result
from payreq.webhook.sender import Outcome
from tests.fixtures.factories import Merchant
from tests.webhook.conftest import FAST

OK = Outcome(200, 3, None, None)
FAILED = Outcome(500, 3, None, None)


async def _batch(
    services: Services, merchant: Merchant, outcomes: list[Outcome], *, failing_since: datetime | None = None
) -> datetime | None:
    """Claim one delivery per outcome, write the outcomes as one batch (in order); the
    endpoint's ``webhook_failing_since`` afterwards (``failing_since``: before)."""
    for _ in outcomes:
        await merchant.create_payment()
    now = services.clock()
    async with services.db.transaction() as conn:
        rows = await repository.claim(
            conn, now=now, until=now + timedelta(seconds=60), token=uuid.uuid4(), limit=len(outcomes)
        )
    assert len(rows) == len(outcomes)
    if failing_since is not None:
        async with services.db.transaction() as conn:
            await conn.execute(
                "UPDATE applications SET webhook_failing_since = :at WHERE id = :id",
                {"at": failing_since, "id": rows[0]["application_id"]},
            )
    dispatcher = Dispatcher(services.db, config=FAST, clock=services.clock)
    dispatcher._results = [
        Result(row, now, row["webhook_url"], outcome, headers={})
        for row, outcome in zip(rows, outcomes, strict=True)
    ]
    await dispatcher._flush()
    assert dispatcher.stats.delivered == outcomes.count(OK)
    async with services.db.read() as conn:
        attempts = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id IN ("
            + ", ".join(f"'{row['id']}'" for row in rows)
            + ")"
        )
        app = await conn.fetch_one(
            "SELECT webhook_failing_since FROM applications WHERE id = :id", {"id": rows[0]["application_id"]}
        )
    assert attempts is not None and attempts["n"] == len(outcomes)
    assert app is not None
    return instant(app["webhook_failing_since"]) if app["webhook_failing_since"] is not None else None


async def test_a_failure_between_two_successes_in_one_batch_leaves_the_endpoint_healthy(
    services: Services, hooked: Merchant
) -> None:
    assert await _batch(services, hooked, [OK, FAILED, OK]) is None


async def test_a_failure_after_successes_in_one_batch_marks_the_endpoint_failing(
    services: Services, hooked: Merchant
) -> None:
    assert await _batch(services, hooked, [OK, OK, FAILED]) is not None


async def test_a_success_after_a_failure_in_one_batch_clears_it(services: Services, hooked: Merchant) -> None:
    assert await _batch(services, hooked, [FAILED, OK, OK]) is None


async def test_a_success_then_a_failure_in_one_batch_restarts_an_old_failing_streak(
    services: Services, hooked: Merchant
) -> None:
    """The endpoint had been failing for two days; a success ends that streak, and the
    failure after it in the same batch starts a new one, now (not two days ago, which
    would bring the endpoint closer to being disabled)."""
    before = services.clock()
    since = await _batch(services, hooked, [OK, FAILED], failing_since=before - timedelta(days=2))
    assert since is not None and since >= before
