"""Every page and action sees only the signed-in account's data, and only the
selected environment's: another tenant's ids answer 404, as on the API."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from litestar import Litestar

from tests.dashboard.conftest import DashboardClient, join, unique_email


async def _application(owner: DashboardClient, name: str) -> str:
    made = await owner.post(
        "/dashboard/applications",
        {"name": name, "methods": "sandbox"},
        csrf_from="/dashboard/applications/new",
    )
    assert made.status_code == 303, made.text[:300]
    return str(made.headers["location"].rsplit("/", 1)[1])


async def _ids(owner: DashboardClient, client_id: str) -> dict[str, str]:
    await owner.post(
        f"/dashboard/applications/{client_id}/tokens",
        {"label": "secret poller", "scopes": "payments.get"},
        csrf_from=f"/dashboard/applications/{client_id}/tokens/new",
    )
    page = (await owner.get(f"/dashboard/applications/{client_id}")).text
    token_id = re.search(r"/tokens/([0-9a-f-]{36})/revoke", page).group(1)  # type: ignore[union-attr]
    await owner.post("/dashboard/api-keys", {"label": "secret key"}, csrf_from="/dashboard/api-keys")
    keys = (await owner.get("/dashboard/api-keys")).text
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/revoke", keys).group(1)  # type: ignore[union-attr]
    return {"client_id": client_id, "token_id": token_id, "key_id": key_id}


def _probes(ids: dict[str, str], member_id: str, invitation_id: str) -> list[tuple[str, str, dict[str, str]]]:
    c, t, k = ids["client_id"], ids["token_id"], ids["key_id"]
    return [
        ("GET", f"/dashboard/applications/{c}", {}),
        ("GET", f"/dashboard/applications/{c}/tokens/new", {}),
        ("POST", f"/dashboard/applications/{c}", {"name": "hijacked", "methods": "sandbox"}),
        ("POST", f"/dashboard/applications/{c}/webhook-secret", {}),
        ("POST", f"/dashboard/applications/{c}/test-event", {}),
        ("POST", f"/dashboard/applications/{c}/tokens", {"label": "hijack", "scopes": "*"}),
        ("POST", f"/dashboard/applications/{c}/tokens/{t}/revoke", {}),
        ("POST", f"/dashboard/applications/{c}/archive", {}),
        ("POST", f"/dashboard/api-keys/{k}/roll", {"overlap": "none"}),
        ("POST", f"/dashboard/api-keys/{k}/revoke", {}),
        ("POST", f"/dashboard/team/members/{member_id}/role", {"role": "admin"}),
        ("POST", f"/dashboard/team/members/{member_id}/remove", {}),
        ("POST", f"/dashboard/team/invitations/{invitation_id}/revoke", {}),
    ]


async def test_another_account_sees_and_touches_nothing(
    signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    victim = await signed_in("owner")
    ids = await _ids(victim, await _application(victim, "Victim shop"))
    member = await join(dashboard_app, victim, "developer")
    team = (await victim.get("/dashboard/team")).text
    member_id = re.findall(r"/dashboard/team/members/([0-9a-f-]{36})/remove", team)[0]
    invited = await victim.post(
        "/dashboard/team/invitations",
        {"email": unique_email(), "role": "viewer"},
        csrf_from="/dashboard/team",
    )
    invitation_id = re.search(r"/dashboard/team/invitations/([0-9a-f-]{36})/revoke", invited.text).group(1)  # type: ignore[union-attr]

    intruder = await signed_in("owner")
    for page in ("/dashboard/applications", "/dashboard/api-keys", "/dashboard/team"):
        text = (await intruder.get(page)).text
        assert "Victim shop" not in text and "secret key" not in text and member.email not in text
    for method, path, form in _probes(ids, member_id, invitation_id):
        answer = await (intruder.get(path) if method == "GET" else intruder.post(path, form))
        assert answer.status_code == 404, (method, path, answer.status_code)
    # nothing changed for the victim
    page = (await victim.get(f"/dashboard/applications/{ids['client_id']}")).text
    assert "Victim shop" in page and "secret poller" in page and "hijack" not in page
    assert "secret key" in (await victim.get("/dashboard/api-keys")).text
    assert member.email in (await victim.get("/dashboard/team")).text
    assert (await member.get("/dashboard")).status_code == 200


async def test_the_other_environment_is_another_world(
    signed_in: Callable[..., Awaitable[DashboardClient]],
) -> None:
    owner = await signed_in("owner")
    ids = await _ids(owner, await _application(owner, "Sandbox shop"))
    switched = await owner.post(
        "/dashboard/environment", {"environment": "production", "next": "/dashboard/applications"}
    )
    assert switched.headers["location"] == "/dashboard/applications"
    listing = (await owner.get("/dashboard/applications")).text
    assert "Sandbox shop" not in listing and "Default application" in listing
    assert "secret key" not in (await owner.get("/dashboard/api-keys")).text
    for method, path, form in _probes(
        ids, "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"
    )[:10]:
        answer = await (owner.get(path) if method == "GET" else owner.post(path, form))
        assert answer.status_code == 404, (method, path, answer.status_code)
    # a page about one item keeps the switch on that area, not on the other world's item
    back = await owner.post(
        "/dashboard/environment",
        {"environment": "sandbox", "next": f"/dashboard/applications/{ids['client_id']}"},
    )
    assert back.headers["location"] == "/dashboard/applications"
    assert "Sandbox shop" in (await owner.get(f"/dashboard/applications/{ids['client_id']}")).text
