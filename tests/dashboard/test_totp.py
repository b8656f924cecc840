"""Two-factor sign-in in process, on both engines: enrolment, codes accepted once,
recovery codes once, and an account that requires it of every member."""

from __future__ import annotations

import re
import time

import pyotp
from litestar import Litestar

from tests.conftest import MovableClock
from tests.dashboard.conftest import PASSWORD, DashboardClient, join, new_client, sign_up


async def _enrol(client: DashboardClient) -> tuple[pyotp.TOTP, list[str], str]:
    started = await client.post(
        "/dashboard/account/security/totp", {}, csrf_from="/dashboard/account/security"
    )
    assert started.status_code == 303
    page = (await client.get("/dashboard/account/security")).text
    assert "<svg" in page and 'role="img"' in page
    totp = pyotp.TOTP(re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1))  # type: ignore[union-attr]
    wrong = await client.post(
        "/dashboard/account/security/totp/confirm",
        {"code": "123456"},
        csrf_from="/dashboard/account/security",
    )
    assert wrong.status_code == 422 and 'id="f-code-error"' in wrong.text
    used = totp.now()
    confirmed = await client.post(
        "/dashboard/account/security/totp/confirm",
        {"code": used},
        csrf_from="/dashboard/account/security",
    )
    assert confirmed.status_code == 303
    shown = (await client.get("/dashboard/account/security")).text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown)
    assert len(codes) == 10
    assert codes[0] not in (await client.get("/dashboard/account/security")).text  # shown once
    return totp, codes, used


async def _password_step(app: Litestar, email: str) -> DashboardClient:
    client = DashboardClient(new_client(app), email=email)
    answer = await client.post(
        "/dashboard/login", {"email": email, "password": PASSWORD}, csrf_from="/dashboard/login"
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login/verify")
    assert (await client.get("/dashboard")).status_code == 303  # not signed in yet
    return client


async def _code(client: DashboardClient, code: str) -> int:
    answer = await client.post(
        "/dashboard/login/verify", {"code": code, "next": "/dashboard"}, csrf_from="/dashboard/login/verify"
    )
    return answer.status_code


async def test_a_code_signs_in_once_and_a_recovery_code_once(dashboard_app: Litestar) -> None:
    owner = await sign_up(dashboard_app)
    totp, codes, used = await _enrol(owner)
    client = await _password_step(dashboard_app, owner.email)
    assert await _code(client, used) == 400  # the step used to confirm is spent
    later = totp.at(time.time() + totp.interval)
    assert await _code(client, later) == 303
    assert (await client.get("/dashboard")).status_code == 200
    again = await _password_step(dashboard_app, owner.email)
    assert await _code(again, later) == 400  # the same code twice: refused
    assert await _code(again, codes[0].upper()) == 303  # recovery codes ignore case
    third = await _password_step(dashboard_app, owner.email)
    assert await _code(third, codes[0]) == 400
    assert await _code(third, codes[1]) == 303


async def test_an_account_may_require_two_factor_of_every_member(dashboard_app: Litestar) -> None:
    owner = await sign_up(dashboard_app)
    developer = await join(dashboard_app, owner, "developer")
    refused = await developer.post(
        "/dashboard/account/security/require-totp", {"require": "1"}, csrf_from="/dashboard/account/security"
    )
    assert refused.status_code == 403
    required = await owner.post(
        "/dashboard/account/security/require-totp", {"require": "1"}, csrf_from="/dashboard/account/security"
    )
    assert required.status_code == 303
    sent = await developer.get("/dashboard/api-keys")
    assert sent.status_code == 303 and sent.headers["location"] == "/dashboard/account/security"
    page = await developer.get("/dashboard/account/security")
    assert "requires two-factor sign-in of every member" in page.text
    await _enrol(developer)
    assert (await developer.get("/dashboard/api-keys")).status_code == 200


async def test_codes_from_a_moved_clock_are_refused(dashboard_app: Litestar, clock: MovableClock) -> None:
    owner = await sign_up(dashboard_app)
    totp, _, _ = await _enrol(owner)
    client = await _password_step(dashboard_app, owner.email)
    assert await _code(client, totp.at(time.time() + 5 * totp.interval)) == 400
    assert await _code(client, "not a code") == 400
    del clock


async def test_a_password_reset_link_does_not_get_past_the_second_factor(dashboard_app: Litestar) -> None:
    owner = await sign_up(dashboard_app)
    totp, _, _ = await _enrol(owner)
    services = dashboard_app.state.services
    async with services.db.transaction() as conn:  # what the mail (or the operator's CLI) carries
        link = await services.users.reset_link(conn, owner.email)
    assert link is not None
    visitor = DashboardClient(new_client(dashboard_app))
    path = f"/dashboard/password-reset/{link.token}"

    reset = await visitor.post(path, {"password": "a brand new passphrase"}, csrf_from=path)

    assert reset.status_code == 303
    assert reset.headers["location"] == "/dashboard/login/verify?next=/dashboard%3Fpassword_reset%3D1"
    assert (await visitor.get("/dashboard")).status_code == 303  # the link alone signs nobody in
    assert (await visitor.get("/dashboard/payments")).status_code == 303
    answer = await visitor.post(
        "/dashboard/login/verify",
        {"code": totp.at(time.time() + totp.interval), "next": "/dashboard?password_reset=1"},
        csrf_from="/dashboard/login/verify?next=/dashboard%3Fpassword_reset%3D1",
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard?password_reset=1")
    assert (await visitor.get("/dashboard")).status_code == 200
