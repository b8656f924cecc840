"""The application page's webhook actions when they are refused: a sixth secret
rotation within 24 hours, and (per application) too many test events or
redeliveries. The page says why, with the documented status, and nothing is sent."""

from __future__ import annotations

from html import unescape

from tests.dashboard.conftest import DashboardClient


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
