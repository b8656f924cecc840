"""Sign-up, sign-in, sessions, the throttle and password resets, in process on both
engines (the browser tests walk the same paths in Chromium)."""

from __future__ import annotations

import asyncio
import re
import subprocess

import httpx
import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from tests.conftest import BASE_URL, MovableClock
from tests.dashboard.conftest import PASSWORD, DashboardClient, new_client, sign_up, signup_link, unique_email
from tests.dashboard.smtp import Mailbox, smtp_server
from tests.fixtures.live import PAYREQ, environment, payreq


async def sign_in(
    app: Litestar,
    email: str,
    password: str = PASSWORD,
    *,
    address: str = "127.0.0.1",
    client: DashboardClient | None = None,
) -> tuple[DashboardClient, int, str]:
    client = client or DashboardClient(new_client(app, address), email=email)
    answer = await client.post(
        "/dashboard/login", {"email": email, "password": password}, csrf_from="/dashboard/login"
    )
    alert = re.search(r'role="alert">([^<]+)<', answer.text)
    return client, answer.status_code, alert.group(1) if alert else ""


def _app(settings: Settings, db: Database, clock: MovableClock, **changes: object) -> Litestar:
    return create_app(settings.model_copy(update=changes), db=db, clock=clock, run_worker=False)


async def test_sign_up_is_closed_by_default(settings: Settings, db: Database, clock: MovableClock) -> None:
    app = _app(settings, db, clock)  # PAYREQ_SIGNUP unset: closed
    assert settings.signup == "closed"
    client = DashboardClient(new_client(app))
    page = await client.get("/dashboard/signup")
    assert page.status_code == 403 and "Sign-up is closed on this server" in page.text
    email = unique_email()
    answer = await client.post(
        "/dashboard/signup",
        {"account_name": "Shop", "email": email, "password": PASSWORD},
        csrf_from="/dashboard/login",
    )
    assert answer.status_code == 403
    assert (await sign_in(app, email))[1] == 400  # no such user was made


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pass", "Use at least 12 characters."),
        ("Password1234", "This password is too common."),
        ("aaaaaaaaaaaaaaaa", "This password is too common."),
    ],
)
async def test_weak_passwords_are_refused_beside_the_field(
    dashboard_app: Litestar, password: str, message: str
) -> None:
    client = DashboardClient(new_client(dashboard_app))
    answer = await client.post(
        "/dashboard/signup",
        {"account_name": "Shop", "email": unique_email(), "password": password},
        csrf_from="/dashboard/signup",
    )
    assert answer.status_code == 422
    assert re.search(r'id="f-password-error">([^<]+)<', answer.text).group(1).startswith(message)  # type: ignore[union-attr]
    assert 'value="Shop"' in answer.text  # what was typed stays


async def test_a_session_id_is_new_at_every_sign_in_and_ends_when_idle(
    dashboard_app: Litestar, clock: MovableClock, dashboard_settings: Settings
) -> None:
    owner = await sign_up(dashboard_app)
    first = owner.http.cookies["payreq_session"]
    client, status, _ = await sign_in(dashboard_app, owner.email)
    assert status == 303
    second = client.http.cookies["payreq_session"]
    assert second != first
    assert (await client.get("/dashboard")).status_code == 200
    clock.advance(dashboard_settings.session_idle_timeout - 120)
    assert (await client.get("/dashboard")).status_code == 200  # seen: the idle clock restarts
    clock.advance(dashboard_settings.session_idle_timeout - 120)
    assert (await client.get("/dashboard")).status_code == 200
    clock.advance(dashboard_settings.session_idle_timeout + 1)
    ended = await client.get("/dashboard")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/dashboard/login")


async def test_cookies_are_secure_under_https(settings: Settings, db: Database, clock: MovableClock) -> None:
    app = _app(settings, db, clock, signup="open", base_url="https://pay.example")
    client = DashboardClient(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://pay.example")
    )
    email = unique_email()
    token = await client.csrf("/dashboard/signup")
    sent = await client.http.post(
        "/dashboard/signup",
        data={"csrf": token, "account_name": "Shop", "email": email, "password": PASSWORD},
        headers={"Origin": "https://pay.example", "Sec-Fetch-Site": "same-origin"},
    )
    assert sent.status_code == 200 and "Check your inbox" in sent.text
    path = await signup_link(app, email)
    answer = await client.http.post(
        path,
        data={"csrf": await client.csrf(path)},
        headers={"Origin": "https://pay.example", "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 303
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    assert all("Secure" in c and "HttpOnly" in c for c in cookies) and len(cookies) >= 2
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


async def test_sign_out_everywhere_and_a_password_change_end_the_other_sessions(
    dashboard_app: Litestar,
) -> None:
    owner = await sign_up(dashboard_app)
    other, _, _ = await sign_in(dashboard_app, owner.email)
    third, _, _ = await sign_in(dashboard_app, owner.email)
    changed = await owner.post(
        "/dashboard/account/security/password",
        {"current_password": PASSWORD, "new_password": "another long passphrase"},
        csrf_from="/dashboard/account/security",
    )
    assert changed.status_code == 303
    assert (await owner.get("/dashboard")).status_code == 200  # this one stays
    assert (await other.get("/dashboard")).status_code == 303
    assert (await sign_in(dashboard_app, owner.email))[1] == 400  # the old password is gone
    fourth, status, _ = await sign_in(dashboard_app, owner.email, "another long passphrase")
    assert status == 303
    everywhere = await fourth.post("/dashboard/logout?everywhere=1", {})
    assert everywhere.status_code == 303
    assert (await owner.get("/dashboard")).status_code == 303
    assert (await fourth.get("/dashboard")).status_code == 303
    del third


async def test_the_user_throttle_spares_a_browser_that_signed_in_before(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    app = _app(settings, db, clock, signup="open", login_failure_limit=3, login_user_failure_limit=5)
    owner = await sign_up(app)  # this browser holds the device cookie
    for n in range(5):  # a guesser spreads over five addresses, under each address's limit
        _, status, _ = await sign_in(app, owner.email, "wrong guess number", address=f"192.0.2.{n + 1}")
        assert status == 400
    _, status, alert = await sign_in(app, owner.email, address="198.51.100.77")
    assert status == 429 and alert.startswith("Too many failed sign-in attempts")
    known, status, _ = await sign_in(app, owner.email, address="198.51.100.78", client=owner)
    assert status == 303
    assert (await known.get("/dashboard")).status_code == 200


async def test_past_the_address_limit_only_failing_attempts_are_refused(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    """SPEC §4: a valid credential from the same address (an office's NAT, a proxy)
    keeps working while someone else behind it fails, even another tenant on purpose."""
    app = _app(settings, db, clock, signup="open", login_failure_limit=3)
    victim = await sign_up(app, account_name="Victim shop")
    attacker = await sign_up(app, account_name="Attacker shop")
    office = "203.0.113.50"
    for _ in range(3):  # the attacker fails on its own user, from the shared address
        assert (await sign_in(app, attacker.email, "wrong guess number", address=office))[1] == 400

    colleague, status, _ = await sign_in(app, victim.email, address=office)  # a fresh browser
    assert status == 303
    assert (await colleague.get("/dashboard")).status_code == 200
    _, status, alert = await sign_in(app, victim.email, "wrong guess number", address=office)
    assert status == 429 and alert.startswith("Too many failed sign-in attempts")
    assert (await sign_in(app, "nobody@example.com", "anything at all", address=office))[1] == 429
    assert (await sign_in(app, attacker.email, "wrong guess number", address="203.0.113.51"))[1] == 400
    for _ in range(2):  # now the address guesses at the victim itself, up to the limit
        assert (await sign_in(app, victim.email, "wrong guess number", address=office))[1] == 429
    _, status, _ = await sign_in(app, victim.email, address=office)  # for that user: never checked
    assert status == 429
    assert (await sign_in(app, victim.email, address="203.0.113.52"))[1] == 303
    clock.advance(settings.login_failure_window + 1)
    assert (await sign_in(app, victim.email, "wrong guess number", address=office))[1] == 400


async def test_reset_password_by_the_operators_link(dashboard_app: Litestar, database_url: str) -> None:
    owner = await sign_up(dashboard_app)
    done = await asyncio.to_thread(
        subprocess.run,
        [PAYREQ, "admin", "reset-password", owner.email],
        env=environment(database_url, PAYREQ_BASE_URL=BASE_URL),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert re.fullmatch(rf"{BASE_URL}/dashboard/password-reset/[A-Za-z0-9]{{43}}", link)
    path = link.removeprefix(BASE_URL)
    visitor = DashboardClient(new_client(dashboard_app))
    weak = await visitor.post(path, {"password": "tiny"}, csrf_from=path)
    assert weak.status_code == 422
    reset = await visitor.post(path, {"password": "a brand new passphrase"}, csrf_from=path)
    assert reset.status_code == 303
    assert (await owner.get("/dashboard")).status_code == 303  # every old session ended
    assert (await sign_in(dashboard_app, owner.email))[1] == 400
    assert (await sign_in(dashboard_app, owner.email, "a brand new passphrase"))[1] == 303
    again = await visitor.get(path)
    assert again.status_code == 404 and "not valid any more" in again.text
    unknown = await asyncio.to_thread(
        subprocess.run,
        [PAYREQ, "admin", "reset-password", "nobody@example.com"],
        env=environment(database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and "no dashboard user" in unknown.stderr


async def test_reset_password_by_email(settings: Settings, db: Database, clock: MovableClock) -> None:
    with smtp_server() as box:
        app = _app(settings, db, clock, signup="open", smtp_url=box.url)
        owner = await sign_up(app)
        visitor = DashboardClient(new_client(app))
        for address in (owner.email, "nobody@example.com"):
            sent = await visitor.post(
                "/dashboard/password-reset", {"email": address}, csrf_from="/dashboard/password-reset"
            )
            assert sent.status_code == 200 and "If an account uses that address" in sent.text
        resets = []
        for _ in range(100):
            resets = [m for m in box.to(owner.email) if m["Subject"] == "Reset your payreq password"]
            if resets:
                break
            await asyncio.sleep(0.05)
        (message,) = resets  # the sign-up's confirmation went to the same address before
        assert box.to("nobody@example.com") == []
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        path = re.search(r"http://testserver(/dashboard/password-reset/\S+)", body).group(1)  # type: ignore[union-attr]
        assert (
            await visitor.post(path, {"password": "mailed new passphrase"}, csrf_from=path)
        ).status_code == 303
        assert (await sign_in(app, owner.email, "mailed new passphrase"))[1] == 303


def _mailed_link(box: Mailbox, email: str) -> str:
    body = box.to(email)[-1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    return re.search(r"http://testserver(/dashboard/password-reset/\S+)", body).group(1)  # type: ignore[union-attr]


async def test_no_reset_link_for_a_disabled_or_closed_account_and_none_still_works(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    """A member of a disabled (or closed) account cannot sign in, so a reset link cannot
    sign them in either: none is mailed while it is disabled (the page answers as for an
    unknown address), one mailed before it was disabled no longer opens nor sets a
    password, and the operator's ``reset-password`` says why it prints none."""
    with smtp_server() as box:
        app = _app(settings, db, clock, signup="open", smtp_url=box.url)
        owner, closing = await sign_up(app), await sign_up(app)
        visitor = DashboardClient(new_client(app))

        async def ask(email: str) -> str:
            sent = await visitor.post(
                "/dashboard/password-reset", {"email": email}, csrf_from="/dashboard/password-reset"
            )
            assert sent.status_code == 200
            return re.sub(r'name="csrf" value="[^"]+"', "", sent.text)

        unknown_answer = await ask("nobody@example.com")
        assert "If an account uses that address" in unknown_answer
        await ask(owner.email)
        early = _mailed_link(box, owner.email)  # mailed while the account was open
        mailed = len(box.to(owner.email))  # the sign-up's link, then the reset's
        async with db.read() as conn:
            row = await conn.fetch_one("SELECT account_id FROM users WHERE email = :e", {"e": owner.email})
        assert row is not None
        env = environment(settings.database_url, PAYREQ_BASE_URL=BASE_URL)
        await asyncio.to_thread(payreq, "admin", "disable-account", str(row["account_id"]), env=env)

        assert await ask(owner.email) == unknown_answer
        assert len(box.to(owner.email)) == mailed  # nothing new mailed
        page = await visitor.get(early)
        assert page.status_code == 404 and "not valid any more" in page.text
        refused = await visitor.post(
            early, {"password": "while it is disabled"}, csrf_from="/dashboard/login"
        )
        assert refused.status_code == 404 and "set-cookie" not in refused.headers
        cli = await asyncio.to_thread(
            subprocess.run,
            [PAYREQ, "admin", "reset-password", owner.email],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and cli.stdout == "" and "is disabled or closed" in cli.stderr

        signed_up = len(box.to(closing.email))  # its sign-up's link
        closed = await closing.post(
            "/dashboard/team/close", {"confirm_name": "Corner Bookshop"}, csrf_from="/dashboard/team"
        )
        assert closed.status_code == 303
        assert await ask(closing.email) == unknown_answer
        assert len(box.to(closing.email)) == signed_up  # no reset link

        await asyncio.to_thread(payreq, "admin", "enable-account", str(row["account_id"]), env=env)
        assert (await sign_in(app, owner.email, "while it is disabled"))[1] == 400  # never set
        assert (
            await visitor.post(early, {"password": "once it is enabled"}, csrf_from=early)
        ).status_code == 303
        assert (await sign_in(app, owner.email, "once it is enabled"))[1] == 303


async def test_the_worker_sweeps_ended_sessions(
    dashboard_app: Litestar, clock: MovableClock, dashboard_settings: Settings
) -> None:
    from payreq.services import Services
    from payreq.worker.runner import Worker

    services: Services = dashboard_app.state.services
    owner = await sign_up(dashboard_app)
    count = "SELECT COUNT(*) AS n FROM user_sessions WHERE expires_at < :now"
    clock.advance(dashboard_settings.session_max_age + 1)
    async with services.db.read() as conn:
        ended = await conn.fetch_one(count, {"now": clock()})
    assert ended is not None and ended["n"] >= 1  # this test's session, at least
    await Worker(services).run_once()
    async with services.db.read() as conn:
        left = await conn.fetch_one(count, {"now": clock()})
    assert left is not None and left["n"] == 0
    assert (await owner.get("/dashboard")).status_code == 303


async def test_sign_ins_and_failed_sign_ins_are_in_the_audit_log(
    settings: Settings, db: Database, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known user's failed and successful sign-ins are in the account's audit log with
    the address; a failure for an email nobody has belongs to no account's log, and
    the operator's log has it with the address but never what was typed."""
    import structlog
    from structlog.testing import capture_logs

    from payreq.account import sessions

    app = _app(settings, db, clock, signup="open", log_level="INFO")
    owner = await sign_up(app)
    assert (await sign_in(app, owner.email, "wrong guess number", address="192.0.2.41"))[1] == 400
    assert (await sign_in(app, owner.email, address="192.0.2.42"))[1] == 303
    nobody = unique_email("nobody")
    with capture_logs() as logs:
        # a logger first used here (a module's logger is bound once, on first use)
        monkeypatch.setattr(sessions, "log", structlog.get_logger("payreq.sessions"))
        assert (await sign_in(app, nobody, "typed-a-password-here", address="192.0.2.43"))[1] == 400

    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT action, address FROM audit_entries WHERE actor_label = :email AND action LIKE 'sign_in.%' "
            "ORDER BY seq",
            {"email": owner.email},
        )
        strays = await conn.fetch_all(
            "SELECT id FROM audit_entries WHERE actor_label = :email OR address = '192.0.2.43'",
            {"email": nobody},
        )
    assert [(r["action"], r["address"]) for r in rows][-2:] == [
        ("sign_in.failed", "192.0.2.41"),
        ("sign_in.succeeded", "192.0.2.42"),
    ]
    assert strays == []
    unknown = [e for e in logs if e["event"] == "sign_in_failed_unknown_user"]
    assert [e["address"] for e in unknown] == ["192.0.2.43"]
    assert nobody not in repr(logs) and "typed-a-password-here" not in repr(logs)


async def test_past_the_address_limit_a_wrong_second_factor_is_429_and_a_right_one_signs_in(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    import time

    from tests.dashboard.test_totp import _enrol

    app = _app(settings, db, clock, signup="open", login_failure_limit=3)
    owner = await sign_up(app)
    totp, _, _ = await _enrol(owner)
    office = "203.0.113.60"
    for _ in range(3):
        assert (await sign_in(app, "nobody@example.com", "anything at all", address=office))[1] == 400
    browser, status, _ = await sign_in(app, owner.email, address=office)  # the password step
    assert status == 303 and (await browser.get("/dashboard")).status_code == 303

    async def code(value: str) -> int:
        answer = await browser.post(
            "/dashboard/login/verify",
            {"code": value, "next": "/dashboard"},
            csrf_from="/dashboard/login/verify",
        )
        return answer.status_code

    assert await code("000000") == 429
    assert await code(totp.at(time.time() + totp.interval)) == 303
    assert (await browser.get("/dashboard")).status_code == 200


async def test_the_reset_form_is_throttled_per_email_address_and_per_client_address(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    """Each reset form may mail the address, and the page answers the same for an
    unknown one: past its budgets (the sign-up form's limits, budgets of its own) the
    form answers 429 with Retry-After and mails nothing, so nobody can flood an inbox."""
    with smtp_server() as box:
        app = _app(
            settings, db, clock, signup="open", smtp_url=box.url, signup_address_limit=3, signup_email_limit=2
        )
        owner = await sign_up(app)
        mailed = len(box.to(owner.email))

        async def ask(address: str, email: str) -> httpx.Response:
            visitor = DashboardClient(new_client(app, address))
            return await visitor.post(
                "/dashboard/password-reset", {"email": email}, csrf_from="/dashboard/password-reset"
            )

        for n, address in enumerate(("10.9.0.1", "10.9.0.2", "10.9.0.3")):
            typed = (owner.email, owner.email.upper(), f" {owner.email.title()}")[n]
            answer = await ask(address, typed)  # one address however it is typed
            if n < 2:
                assert answer.status_code == 200 and "If an account uses that address" in answer.text
            else:
                assert answer.status_code == 429
                assert "Too many reset requests from here or for this address" in answer.text
                assert 0 < int(answer.headers["retry-after"]) <= 3600
        assert len(box.to(owner.email)) == mailed + 2  # the refused one mailed nothing
        statuses = [(await ask("10.9.0.9", unique_email())).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert (await ask("10.9.0.10", unique_email())).status_code == 200
