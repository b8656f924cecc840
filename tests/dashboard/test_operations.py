"""The part-2 pages show only the signed-in account's data in the selected
environment, and act only on it: another account's payment, event or application is
not found (404) on every page and action, the export and the audit log hold none of
it, and the production environment shows none of the sandbox's."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable

from litestar import Litestar

from payreq.auth.roles import Role
from payreq.auth.subject import dashboard_subject
from payreq.payment.models import PaymentDraft
from payreq.services import Services
from payreq.webhook.repository import events_for_payment
from tests.dashboard.conftest import DashboardClient
from tests.dashboard.statement_data import bank_payments, camt053
from tests.dashboard.test_roles import _actor


async def _payment(app: Litestar, owner: DashboardClient, reference: str) -> tuple[str, str]:
    services: Services = app.state.services
    actor = await _actor(services, owner.email, Role.OWNER)
    async with services.db.transaction() as conn:
        payment = await services.payments.create(
            conn,
            dashboard_subject(actor, "sandbox"),
            PaymentDraft(
                amount=2500, currency="EUR", redirect_url="https://shop.example/done", reference_id=reference
            ),
        )
        events = await events_for_payment(conn, payment.id)
    return str(payment.id), str(events[0]["id"])


async def test_another_account_sees_and_touches_nothing(
    signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    mine = await signed_in("owner")
    theirs = await signed_in("owner")
    payment_id, event_id = await _payment(dashboard_app, mine, "MINE-1")
    apps = (await mine.get("/dashboard/webhooks")).text
    client_id = apps.split('data-client-id="')[1].split('"')[0]
    detail = await mine.get(f"/dashboard/payments/{payment_id}")
    assert detail.status_code == 200
    # a pending payment shows what its payer is asked to do, per method it offers
    assert "What the payer is asked to do: Sandbox payment: no money moves" in detail.text
    for path in (f"/dashboard/payments/{payment_id}",):
        assert (await theirs.get(path)).status_code == 404
    for path in (
        f"/dashboard/payments/{payment_id}/cancel",
        f"/dashboard/payments/{payment_id}/events/{event_id}/redeliver",
        f"/dashboard/webhooks/events/{event_id}/redeliver",
        f"/dashboard/webhooks/{client_id}/enable",
    ):
        assert (await theirs.post(path, {})).status_code == 404, path
    listing = (await theirs.get("/dashboard/payments?q=MINE-1")).text
    assert payment_id not in listing and "No payments match" in listing
    exported = (await theirs.get("/dashboard/payments/export")).text
    assert payment_id not in exported and len(list(csv.reader(io.StringIO(exported)))) == 1
    assert "MINE-1" not in (await theirs.get("/dashboard/overview")).text
    log = (await theirs.get("/dashboard/audit-log")).text
    assert mine.email not in log and payment_id not in log
    # the payment was left pending by every refused action
    assert "pending</span>" in (await mine.get(f"/dashboard/payments/{payment_id}")).text
    export = await mine.get("/dashboard/payments/export")
    assert payment_id in export.text and export.headers["content-type"] == "text/csv; charset=utf-8"


async def test_another_account_neither_reads_nor_resolves_a_statement_nor_pays_with_one(
    signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    mine = await signed_in("owner")
    theirs = await signed_in("owner")
    import_id, body, late = await _late_statement(dashboard_app, mine)
    assert (await theirs.get(f"/dashboard/statements/{import_id}")).status_code == 404
    refused = await theirs.post(f"/dashboard/statements/{import_id}/lines/2/resolve", {"action": "accept"})
    assert refused.status_code == 404
    assert import_id not in (await theirs.get("/dashboard/statements")).text
    # their own upload of my file names none of my payments: nothing matches
    theirs_import = await theirs.upload(
        "/dashboard/statements", {"file": ("camt.xml", body, "application/xml")}
    )
    page = (await theirs.get(theirs_import.headers["location"])).text
    assert page.count('data-outcome="unmatched"') == 3 and "/dashboard/payments/" not in page
    assert "cancelled</span>" in (await mine.get(f"/dashboard/payments/{late}")).text
    assert 'value="accept"' in (await mine.get(f"/dashboard/statements/{import_id}")).text


async def _late_statement(app: Litestar, owner: DashboardClient) -> tuple[str, bytes, str]:
    """An import of the camt.053 fixture whose line 2 is late; its id, the file, the
    late line's (cancelled) payment."""
    (_, ref1), (second, ref2) = await bank_payments(app, owner, 12500, 9999)
    await owner.post(f"/dashboard/payments/{second}/cancel", {})
    body = camt053(ref1, ref2)
    done = await owner.upload("/dashboard/statements", {"file": ("camt.xml", body, "application/xml")})
    assert done.status_code == 303, done.text
    return done.headers["location"].rsplit("/", 1)[1], body, second


async def test_production_shows_none_of_the_sandbox(
    signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    payment_id, event_id = await _payment(dashboard_app, owner, "SBX-1")
    switched = await owner.post(
        "/dashboard/environment", {"environment": "production", "next": "/dashboard/payments"}
    )
    assert switched.status_code == 303
    assert (await owner.get(f"/dashboard/payments/{payment_id}")).status_code == 404
    assert payment_id not in (await owner.get("/dashboard/payments")).text
    assert payment_id not in (await owner.get("/dashboard/payments/export")).text
    assert (await owner.post(f"/dashboard/webhooks/events/{event_id}/redeliver", {})).status_code == 404
    assert "No payment was paid" in (await owner.get("/dashboard/overview")).text
    audit = (await owner.get("/dashboard/audit-log?kind=payment")).text
    assert "No entries match" in audit
    await owner.post("/dashboard/environment", {"environment": "sandbox", "next": "/dashboard"})
    assert payment_id in (await owner.get("/dashboard/payments")).text


async def test_production_shows_none_of_the_sandbox_statements(
    signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    import_id, _, _ = await _late_statement(dashboard_app, owner)
    await owner.post("/dashboard/environment", {"environment": "production", "next": "/dashboard"})
    assert (await owner.get(f"/dashboard/statements/{import_id}")).status_code == 404
    listing = (await owner.get("/dashboard/statements")).text
    assert import_id not in listing and "No statements imported in this environment yet." in listing
    resolved = await owner.post(f"/dashboard/statements/{import_id}/lines/2/resolve", {"action": "accept"})
    assert resolved.status_code == 404
    await owner.post("/dashboard/environment", {"environment": "sandbox", "next": "/dashboard"})
    assert 'value="accept"' in (await owner.get(f"/dashboard/statements/{import_id}")).text


async def test_bad_filters_are_shown_beside_their_field(
    signed_in: Callable[..., Awaitable[DashboardClient]],
) -> None:
    owner = await signed_in("owner")
    answer = await owner.get("/dashboard/payments?amountFrom=ten&currency=EUR")
    assert answer.status_code == 422
    assert (
        'id="f-amountFrom-error"' in answer.text
        and "amountFrom must be an amount in major units" in answer.text
    )
    assert 'value="EUR"' in answer.text  # what was typed stays
    assert (await owner.get("/dashboard/payments?createdFrom=yesterday")).status_code == 422
    assert (await owner.get("/dashboard/webhooks?outcome=lost")).status_code == 422
    assert (await owner.get("/dashboard/audit-log?from=soon")).status_code == 422
    export = await owner.get("/dashboard/payments/export?amountTo=-1")
    assert export.status_code == 422 and "text/html" in export.headers["content-type"]
