"""The team: invitations by link and by email (a real local SMTP server), roles,
removal that ends sessions at once, the last owner kept."""

from __future__ import annotations

import asyncio
import re
from email.header import decode_header, make_header
from typing import Any

from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from tests.conftest import MovableClock
from tests.dashboard.conftest import (
    PASSWORD,
    DashboardClient,
    SignedIn,
    join,
    new_client,
    sign_up,
    unique_email,
)
from tests.dashboard.smtp import Mailbox, smtp_server
from tests.fixtures.live import environment, payreq


async def test_an_invited_developer_joins_by_link_and_cannot_see_the_team(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    developer = await join(dashboard_app, owner, "developer")
    home = await developer.get("/dashboard")
    assert home.status_code == 200 and developer.email in home.text and "Corner Bookshop" in home.text
    assert 'href="/dashboard/team"' not in home.text
    refused = await developer.get("/dashboard/team")
    assert refused.status_code == 403 and "Your role does not allow this" in refused.text
    team = await owner.get("/dashboard/team")
    assert developer.email in team.text


async def invitation_link(owner: DashboardClient, email: str) -> str:
    """The path of a new invitation of ``email`` as a viewer, from ``owner``'s team page."""
    invited = await owner.post(
        "/dashboard/team/invitations", {"email": email, "role": "viewer"}, csrf_from="/dashboard/team"
    )
    token = re.search(r"/dashboard/invitations/([A-Za-z0-9]+)", invited.text).group(1)  # type: ignore[union-attr]
    return f"/dashboard/invitations/{token}"


async def test_an_invitation_link_works_once(signed_in: SignedIn, dashboard_app: Litestar) -> None:
    owner = await signed_in("owner")
    email = unique_email("dev")
    path = await invitation_link(owner, email)
    first = DashboardClient(new_client(dashboard_app))
    weak = await first.post(path, {"password": "short"}, csrf_from=path)
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    assert (await first.post(path, {"password": PASSWORD}, csrf_from=path)).status_code == 303
    again = await DashboardClient(new_client(dashboard_app)).get(path)
    assert again.status_code == 404 and "not valid any more" in again.text


async def test_an_invitation_to_a_disabled_account_is_refused_until_it_is_enabled(
    signed_in: SignedIn, dashboard_app: Litestar, db: Database, settings: Settings
) -> None:
    """A disabled account takes no new member: its invitation links answer as spent
    ones do (the operator's ``disable-account``), and work again once it is enabled."""
    owner = await signed_in("owner")
    email = unique_email("dev")
    path = await invitation_link(owner, email)
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT account_id FROM users WHERE email = :e", {"e": owner.email})
    assert row is not None
    env = environment(settings.database_url)
    await asyncio.to_thread(payreq, "admin", "disable-account", str(row["account_id"]), env=env)
    joiner = DashboardClient(new_client(dashboard_app))
    page = await joiner.get(path)
    assert page.status_code == 404 and "not valid any more" in page.text
    refused = await joiner.post(path, {"password": PASSWORD}, csrf_from="/dashboard/login")
    assert refused.status_code == 404
    async with db.read() as conn:
        assert await conn.fetch_one("SELECT id FROM users WHERE email = :e", {"e": email}) is None

    await asyncio.to_thread(payreq, "admin", "enable-account", str(row["account_id"]), env=env)
    assert (await joiner.post(path, {"password": PASSWORD}, csrf_from=path)).status_code == 303


async def test_removing_a_member_ends_their_sessions_at_once(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    developer = await join(dashboard_app, owner, "developer")
    assert (await developer.get("/dashboard")).status_code == 200
    team = await owner.get("/dashboard/team")
    member_id = re.search(r"/dashboard/team/members/([0-9a-f-]{36})/remove", team.text).group(1)  # type: ignore[union-attr]
    removed = await owner.post(f"/dashboard/team/members/{member_id}/remove", {}, csrf_from="/dashboard/team")
    assert removed.status_code == 303
    after = await developer.get("/dashboard")
    assert after.status_code == 303 and after.headers["location"].startswith("/dashboard/login")


async def test_an_admin_cannot_touch_an_owner_and_the_last_owner_stays(
    signed_in: SignedIn, dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    admin = await join(dashboard_app, owner, "admin")
    team = await admin.get("/dashboard/team")
    assert team.status_code == 200
    # the admin's page offers no control over the owner, and posting anyway is refused
    rows = await admin.get("/dashboard/team")
    assert "Make owner" not in rows.text
    invite_owner = await admin.post(
        "/dashboard/team/invitations", {"email": unique_email(), "role": "owner"}, csrf_from="/dashboard/team"
    )
    assert invite_owner.status_code == 403


async def test_an_invitation_is_emailed_through_smtp(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    with smtp_server() as box:
        app = create_app(
            settings.model_copy(update={"signup": "open", "smtp_url": box.url}),
            db=db,
            clock=clock,
            run_worker=False,
        )
        owner = await sign_up(app)
        email = unique_email("dev")
        invited = await owner.post(
            "/dashboard/team/invitations", {"email": email, "role": "developer"}, csrf_from="/dashboard/team"
        )
        assert invited.status_code == 200 and "We emailed this link" in invited.text
        message = await _wait_for(box, email)
        assert message["Subject"] == "You are invited to Corner Bookshop on payreq"
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        link = re.search(r"http://testserver(/dashboard/invitations/[A-Za-z0-9]+)", body)
        assert link, body
        member = DashboardClient(new_client(app), email=email)
        joined = await member.post(link.group(1), {"password": PASSWORD}, csrf_from=link.group(1))
        assert joined.status_code == 303
        refused = await member.get("/dashboard/team")
        assert refused.status_code == 403


async def test_an_invitation_mail_shows_an_old_account_name_as_the_pages_do(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    """An account name stored before the display-text rule (written straight into the
    row here) may hold a bidi override or a line break: the mail's subject and body show
    each as U+FFFD, as the dashboard's ``visible`` filter does, never the character (a
    line break would end the subject header, or fail the send)."""
    with smtp_server() as box:
        app = create_app(
            settings.model_copy(update={"signup": "open", "smtp_url": box.url}),
            db=db,
            clock=clock,
            run_worker=False,
        )
        owner = await sign_up(app)
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE accounts SET name = :name WHERE id = (SELECT account_id FROM users WHERE email = :e)",
                {"name": "Corner\u202ekoob\nBcc: x@example.com", "e": owner.email},
            )
        email = unique_email("dev")
        invited = await owner.post(
            "/dashboard/team/invitations", {"email": email, "role": "developer"}, csrf_from="/dashboard/team"
        )
        assert invited.status_code == 200 and "We emailed this link" in invited.text
        message: Any = await _wait_for(box, email)
        subject = str(make_header(decode_header(message["Subject"])))
        assert subject == "You are invited to Corner\ufffdkoob\ufffdBcc: x@example.com on payreq"
        assert message["Bcc"] is None
        body = message.get_payload(decode=True).decode()
        assert f"{owner.email} invited you to join Corner\ufffdkoob\ufffdBcc: x@example.com on payreq" in body
        assert "\u202e" not in body and "koob\nBcc" not in body


async def _wait_for(box: Mailbox, address: str) -> object:
    for _ in range(100):
        found = box.to(address)
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {address}: {[m['To'] for m in box.messages]}")


async def test_the_owner_closes_the_account_and_its_credentials_stop(signed_in: SignedIn) -> None:
    owner = await signed_in("owner")
    created = await owner.post("/dashboard/api-keys", {"label": "k"}, csrf_from="/dashboard/api-keys")
    assert created.status_code == 303
    keys = (await owner.get("/dashboard/api-keys")).text
    client_id = re.search(
        r'id="once-client-id" class="secret-value" type="text" value="([^"]+)"', keys
    ).group(1)  # type: ignore[union-attr]
    secret = re.search(r'id="once-secret" class="secret-value" type="text" value="([^"]+)"', keys).group(1)  # type: ignore[union-attr]
    form = {"grant_type": "client_credentials"}
    assert (await owner.http.post("/oauth/token", data=form, auth=(client_id, secret))).status_code == 200
    wrong = await owner.post("/dashboard/team/close", {"confirm_name": "Corner"}, csrf_from="/dashboard/team")
    assert wrong.status_code == 422 and "name exactly to confirm" in wrong.text
    closed = await owner.post(
        "/dashboard/team/close", {"confirm_name": "Corner Bookshop"}, csrf_from="/dashboard/team"
    )
    assert closed.status_code == 303
    assert (await owner.http.post("/oauth/token", data=form, auth=(client_id, secret))).status_code == 403
    assert (await owner.get("/dashboard")).status_code == 303
    again = await owner.post(
        "/dashboard/login", {"email": owner.email, "password": PASSWORD}, csrf_from="/dashboard/login"
    )
    assert again.status_code == 400
