"""Sign-up confirms the address first (audit finding F4), through the real pages on both
engines: the form answers the same "check your inbox" page for a new and a registered
address and makes nothing; the new address is mailed a link that makes the account
once, within 24 hours; the registered one is mailed a note. A pending sign-up reserves
nothing (an invitation or another sign-up of the address goes ahead), the form is
throttled per client address and per email address, and a server without mail has
its operator print the link (``payreq admin signup-link``)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message

import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from tests.conftest import BASE_URL, MovableClock
from tests.dashboard.conftest import (
    DashboardClient,
    join,
    mailed_link,
    new_client,
    request_sign_up,
    sign_up,
    signup_link,
    unique_email,
)
from tests.dashboard.smtp import Mailbox, smtp_server
from tests.dashboard.test_access import sign_in
from tests.fixtures.live import PAYREQ, environment

CONFIRM = "/dashboard/signup/confirm/"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def _app(settings: Settings, db: Database, clock: MovableClock, **changes: object) -> Litestar:
    return create_app(
        settings.model_copy(update={"signup": "open", **changes}), db=db, clock=clock, run_worker=False
    )


@pytest.fixture
def mailing_app(settings: Settings, db: Database, clock: MovableClock, mailbox: Mailbox) -> Litestar:
    return _app(settings, db, clock, smtp_url=mailbox.url)


def _body(message: Message) -> str:
    return message.get_payload(decode=True).decode()  # type: ignore[union-attr]


async def _mails(box: Mailbox, address: str, count: int) -> list[Message]:
    for _ in range(100):
        if len(box.to(address)) >= count:
            break
        await asyncio.sleep(0.05)
    return box.to(address)


def _path(url: str) -> str:
    return url.removeprefix(BASE_URL)


async def _users_with(app: Litestar, email: str) -> int:
    async with app.state.services.db.read() as conn:
        row = await conn.fetch_one("SELECT COUNT(*) AS n FROM users WHERE email = :email", {"email": email})
    return int(row["n"])


async def test_the_form_answers_the_same_for_a_new_and_a_registered_address(
    mailing_app: Litestar, mailbox: Mailbox
) -> None:
    registered = await sign_up(mailing_app)
    new = unique_email("new")
    visitor = DashboardClient(new_client(mailing_app, "10.9.0.1"))
    answers = []
    for address in (registered.email, new):
        visitor.email = address
        answers.append(
            await request_sign_up(visitor, account_name="Squatter Ltd", password="hostile passphrase")
        )
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].text == answers[1].text  # byte for byte: nothing tells them apart
    assert "Check your inbox" in answers[0].text and registered.email not in answers[0].text
    assert [k for k, _ in answers[0].headers.multi_items() if k != "date"] == [
        k for k, _ in answers[1].headers.multi_items() if k != "date"
    ]
    assert "payreq_session" not in visitor.http.cookies

    # the registered address is told, with no link that makes anything
    note = (await _mails(mailbox, registered.email, 2))[-1]
    assert note["Subject"] == "Someone tried to sign up to payreq with your address"
    assert CONFIRM not in _body(note) and f"{BASE_URL}/dashboard/password-reset" in _body(note)
    assert (await sign_in(mailing_app, registered.email, "hostile passphrase"))[1] == 400
    assert (await sign_in(mailing_app, registered.email))[1] == 303  # the owner's password stands

    # the new address gets the link; nothing exists until it is followed
    assert await _users_with(mailing_app, new) == 0
    assert (await sign_in(mailing_app, new, "hostile passphrase"))[1] == 400
    path = _path(await mailed_link(mailbox, new, CONFIRM))
    confirm = await visitor.get(path)
    assert confirm.status_code == 200 and new in confirm.text and "Squatter Ltd" in confirm.text
    assert await _users_with(mailing_app, new) == 0  # opening the link (a mail scanner) makes nothing
    made = await visitor.post(path, {}, csrf_from=path)
    assert made.status_code == 303 and made.headers["location"] == "/dashboard?welcome=1"
    home = await visitor.get("/dashboard")
    assert home.status_code == 200 and "Squatter Ltd" in home.text
    assert (await sign_in(mailing_app, new, "hostile passphrase"))[1] == 303


async def test_following_the_link_signs_in_with_a_new_session_id(dashboard_app: Litestar) -> None:
    other = await sign_up(dashboard_app)  # this browser is signed in as someone else
    before = other.http.cookies["payreq_session"]
    other.email = unique_email("second")
    assert (await request_sign_up(other, account_name="Second Shop")).status_code == 200
    path = await signup_link(dashboard_app, other.email)
    made = await other.post(path, {}, csrf_from=path)
    assert made.status_code == 303
    after = other.http.cookies["payreq_session"]
    assert after != before
    assert "Second Shop" in (await other.get("/dashboard")).text


async def test_a_link_makes_one_account_once(dashboard_app: Litestar) -> None:
    owner = await sign_up(dashboard_app)
    visitor = DashboardClient(new_client(dashboard_app), email=owner.email)
    assert (await request_sign_up(visitor)).status_code == 200  # registered: no pending sign-up
    assert await _users_with(dashboard_app, owner.email) == 1

    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    await request_sign_up(client)
    path = await signup_link(dashboard_app, client.email)
    assert (await client.post(path, {}, csrf_from=path)).status_code == 303
    again = DashboardClient(new_client(dashboard_app))
    page = await again.get(path)
    assert page.status_code == 404 and "This sign-up link is not valid any more" in page.text
    replay = await again.post(path, {}, csrf_from="/dashboard/signup")
    assert replay.status_code == 404 and "Sign up again" in replay.text
    assert "payreq_session" not in again.http.cookies
    assert await _users_with(dashboard_app, client.email) == 1
    for bad in ("nonsense", "x" * 500):
        answer = await again.get(f"{CONFIRM}{bad}")
        assert answer.status_code == 404 and "not valid any more" in answer.text


async def test_a_link_expires_after_24_hours(dashboard_app: Litestar, clock: MovableClock) -> None:
    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    await request_sign_up(client)
    path = await signup_link(dashboard_app, client.email)
    csrf = await client.csrf(path)
    clock.advance(24 * 3600 - 60)
    assert (await client.get(path)).status_code == 200
    clock.advance(120)
    page = await client.get(path)
    assert page.status_code == 404 and "not valid any more" in page.text
    late = await client.post(path, {}, csrf=csrf)
    assert late.status_code == 404 and "payreq_session" not in client.http.cookies
    assert await _users_with(dashboard_app, client.email) == 0
    assert (await sign_in(dashboard_app, client.email))[1] == 400


async def test_a_pending_sign_up_reserves_nothing(mailing_app: Litestar, mailbox: Mailbox) -> None:
    """A stranger's sign-up with a future hire's address does not stop the invitation,
    nor a second sign-up; the first link followed has the address, the others answer
    that it is taken."""
    hire = unique_email("hire")
    squatter = DashboardClient(new_client(mailing_app, "10.9.0.2"), email=hire)
    assert (
        await request_sign_up(squatter, account_name="Squat", password="squatter passphrase")
    ).status_code == 200
    squatter_link = _path(await mailed_link(mailbox, hire, CONFIRM))

    boss = await sign_up(mailing_app)
    member = await join(mailing_app, boss, "developer", email=hire)  # not "email_taken"
    assert (await member.get("/dashboard")).status_code == 200
    taken = await squatter.post(squatter_link, {}, csrf_from="/dashboard/signup")
    assert taken.status_code == 409 and "already has a payreq sign-in" in taken.text
    assert "payreq_session" not in squatter.http.cookies
    assert (await sign_in(mailing_app, hire, "squatter passphrase"))[1] == 400
    assert (await squatter.get(squatter_link)).status_code == 404  # used

    twice = unique_email("twice")
    first = DashboardClient(new_client(mailing_app, "10.9.0.3"), email=twice)
    second = DashboardClient(new_client(mailing_app, "10.9.0.4"), email=twice)
    await request_sign_up(first, account_name="First")
    await request_sign_up(second, account_name="Second", password="second passphrase")
    links = [
        _path(re.search(rf"\S+{CONFIRM}\S+", _body(m)).group(0)) for m in await _mails(mailbox, twice, 2)
    ]  # type: ignore[union-attr]
    assert len(set(links)) == 2
    assert (await second.post(links[1], {}, csrf_from="/dashboard/signup")).status_code == 303
    assert (await first.post(links[0], {}, csrf_from="/dashboard/signup")).status_code == 409
    assert "Second" in (await second.get("/dashboard")).text


async def test_the_form_is_throttled_per_client_address_and_per_email_address(
    settings: Settings, db: Database, clock: MovableClock, dashboard_app: Litestar
) -> None:
    app = _app(settings, db, clock, signup_address_limit=3, signup_email_limit=2)
    owner = await sign_up(dashboard_app)  # registered through another app (its own limiter)
    for target in (owner.email, unique_email()):  # registered or not: the same budget
        for n, address in enumerate(("10.8.0.1", "10.8.0.2", "10.8.0.3")):
            client = DashboardClient(new_client(app, address), email=target)
            answer = await request_sign_up(client)
            if n < 2:
                assert answer.status_code == 200, answer.text[:300]
            else:
                assert answer.status_code == 429
                assert "Too many sign-ups from here or for this address" in answer.text
                assert 0 < int(answer.headers["retry-after"]) <= 3600
    office = DashboardClient(new_client(app, "10.8.0.9"))
    statuses = []
    for _ in range(4):
        office.email = unique_email()
        statuses.append((await request_sign_up(office)).status_code)
    assert statuses == [200, 200, 200, 429]
    elsewhere = DashboardClient(new_client(app, "10.8.0.10"), email=unique_email())
    assert (await request_sign_up(elsewhere)).status_code == 200
    bad = DashboardClient(new_client(app, "10.8.0.9"), email="not an email")
    assert (await request_sign_up(bad)).status_code == 422  # a typo is told, not throttled


async def test_without_mail_the_operator_prints_the_link(dashboard_app: Litestar, database_url: str) -> None:
    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    sent = await request_sign_up(client)
    assert sent.status_code == 200 and "payreq admin signup-link YOUR-EMAIL" in sent.text

    def cli(email: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PAYREQ, "admin", "signup-link", email],
            env=environment(database_url, PAYREQ_BASE_URL=BASE_URL),
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(cli, client.email.upper())
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert re.fullmatch(rf"{BASE_URL}{CONFIRM}[A-Za-z0-9]{{43}}", link)
    path = _path(link)
    assert (await client.post(path, {}, csrf_from=path)).status_code == 303
    for email in (client.email, "nobody@example.com"):  # used; never asked
        refused = await asyncio.to_thread(cli, email)
        assert refused.returncode == 1 and "no pending sign-up" in refused.stderr


async def test_the_worker_deletes_pending_sign_ups_a_day_after_they_expire(
    dashboard_app: Litestar, clock: MovableClock
) -> None:
    services = dashboard_app.state.services
    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    await request_sign_up(client)

    async def pending() -> int:
        async with services.db.read() as conn:
            row = await conn.fetch_one(
                "SELECT COUNT(*) AS n FROM pending_signups WHERE email = :email", {"email": client.email}
            )
        return int(row["n"])

    clock.advance(timedelta(hours=47).total_seconds())
    async with services.db.transaction() as conn:
        await services.users.sweep_pending_signups(conn)
    assert await pending() == 1
    clock.advance(timedelta(hours=2).total_seconds())
    async with services.db.transaction() as conn:
        await services.users.sweep_pending_signups(conn)
    assert await pending() == 0


async def test_a_link_does_nothing_once_sign_up_is_closed(
    settings: Settings, db: Database, clock: MovableClock, dashboard_app: Litestar
) -> None:
    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    await request_sign_up(client)
    path = await signup_link(dashboard_app, client.email)
    closed = create_app(settings, db=db, clock=clock, run_worker=False)
    visitor = DashboardClient(new_client(closed))
    assert (await visitor.get(path)).status_code == 403
    assert (await visitor.post(path, {}, csrf_from="/dashboard/login")).status_code == 403
    assert await _users_with(dashboard_app, client.email) == 0


async def test_an_address_taken_between_the_check_and_the_insert_answers_taken(
    dashboard_app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the checks cannot see (an invitation accepted between the look for the
    address and the new user's INSERT) meets the users' unique index: the link answers
    that the address is taken, nothing of the new account is kept, and the link stays
    unused (its unit rolled back)."""
    from payreq.account import repository

    client = DashboardClient(new_client(dashboard_app), email=unique_email())
    await request_sign_up(client)
    path = await signup_link(dashboard_app, client.email)
    csrf = await client.csrf(path)
    await sign_up(dashboard_app, email=client.email)  # the address is taken meanwhile
    accounts = await _users_with(dashboard_app, client.email)

    async def blind(*_: object) -> bool:
        return False  # as if the other sign-in were not committed yet when looked for

    monkeypatch.setattr(repository, "user_exists", blind)
    taken = await client.post(path, {}, csrf=csrf)
    assert taken.status_code == 409 and "already has a payreq sign-in" in taken.text
    assert "payreq_session" not in client.http.cookies
    monkeypatch.undo()
    assert await _users_with(dashboard_app, client.email) == accounts == 1
    assert (await client.get(path)).status_code == 200  # still unused: rolled back
