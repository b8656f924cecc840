"""The application page's webhook actions when they are refused: a sixth secret
rotation within 24 hours, and (per application) too many test events or
redeliveries. The page says why, with the documented status, and nothing is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from litestar import Litestar

from payreq.services import Services
from tests.dashboard.conftest import DashboardClient
from tests.dashboard.test_operations import _payment
from tests.webhook.receiver import Receiver


async def _application(owner: DashboardClient, name: str = "Hooked shop") -> str:
    made = await owner.post(
        "/dashboard/applications",
        {"name": name, "methods": "sandbox"},
        csrf_from="/dashboard/applications/new",
    )
    assert made.status_code == 303, made.text[:300]
    return str(made.headers["location"].rsplit("/", 1)[1])


async def test_a_sixth_rotation_within_24_hours_is_refused_on_the_page(owner: DashboardClient) -> None:
    client_id = await _application(owner)
    page = f"/dashboard/applications/{client_id}"
    for _ in range(5):
        rotated = await owner.post(f"{page}/webhook-secret", csrf_from=page)
        assert rotated.status_code == 303, rotated.text[:300]
    refused = await owner.post(f"{page}/webhook-secret", csrf_from=page)
    assert refused.status_code == 409
    text = unescape(refused.text)
    assert (
        '<p class="form-error" role="alert">The webhook secret was rotated 5 times in the last 24 hours'
        in text
    )
    assert "New webhook secret" not in text


async def _hooked_application(app: Litestar, owner: DashboardClient, receiver: Receiver) -> str:
    """The owner's default sandbox application, sending to ``receiver``."""
    apps = (await owner.get("/dashboard/webhooks")).text
    client_id = apps.split('data-client-id="')[1].split('"')[0]
    services: Services = app.state.services
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_url = :u WHERE client_id = :c",
            {"u": receiver.url(), "c": client_id},
        )
    return client_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    live = Receiver().start()
    yield live
    live.stop()


async def test_test_events_are_limited_per_application_with_a_clear_message(
    owner: DashboardClient, dashboard_app: Litestar, receiver: Receiver
) -> None:
    client_id = await _hooked_application(dashboard_app, owner, receiver)
    page = f"/dashboard/applications/{client_id}"
    for _ in range(5):
        sent = await owner.post(f"{page}/test-event", csrf_from=page)
        assert sent.status_code == 200, sent.text[:300]
    refused = await owner.post(f"{page}/test-event", csrf_from=page)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    text = unescape(refused.text)
    assert (
        '<p class="form-error" role="alert">More than 5 test events per minute for this application; retry after'
        in text
    )
    assert len(receiver.received) == 5  # the refused one was never sent


async def test_redeliveries_from_both_pages_share_one_budget_per_application(
    owner: DashboardClient, dashboard_app: Litestar, receiver: Receiver
) -> None:
    await _hooked_application(dashboard_app, owner, receiver)
    payment_id, event_id = await _payment(dashboard_app, owner, "LIMIT-1")
    from_payment = f"/dashboard/payments/{payment_id}/events/{event_id}/redeliver"
    from_log = f"/dashboard/webhooks/events/{event_id}/redeliver"
    for i in range(30):
        path = from_payment if i % 2 else from_log
        sent = await owner.post(path, csrf_from="/dashboard/webhooks")
        assert sent.status_code == 303, (i, sent.text[:300])
    for path in (from_payment, from_log):
        refused = await owner.post(path, csrf_from="/dashboard/webhooks")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "More than 30 redeliveries per minute for this application; retry after" in unescape(
            refused.text
        )


async def test_a_sixth_resend_within_a_minute_is_refused_on_the_page(owner: DashboardClient) -> None:
    form = {"since": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "confirm": "yes"}
    for _ in range(5):
        sent = await owner.post("/dashboard/webhooks/resend", form, csrf_from="/dashboard/webhooks")
        assert sent.status_code == 303, sent.text[:300]
    refused = await owner.post("/dashboard/webhooks/resend", form, csrf_from="/dashboard/webhooks")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "More than 5 replays per minute for this account; retry after" in unescape(refused.text)
