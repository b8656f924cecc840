"""Helpers for dashboard tests.

In process (httpx against the app, both engines):
- ``dashboard_app``: the suite's app with sign-up open;
- ``Browser``-like ``DashboardClient``: an httpx client that keeps cookies, reads a
  page's CSRF token and posts its forms as a browser would (same-origin headers);
- ``sign_up(app)``: fills ``/dashboard/signup`` and follows the link that finishes it,
  as ``payreq admin signup-link`` prints it for a server without mail (``signup_link``;
  these apps send none), answering a signed-in ``DashboardClient``;
- ``signed_in``: a factory, ``await signed_in(role="developer")``, that signs an owner
  up so and, for another role, invites a member and
  accepts the invitation through the pages; it answers a signed-in ``DashboardClient``.

In a real browser (SQLite, a real ``payreq serve`` on loopback):
- ``live``: the server (``PAYREQ_SIGNUP=open``), with ``live.url``, one for the session;
- ``browser``, ``page``: Chromium (one for the session) and a fresh page in its own context
  (console errors collected);
- ``sign_up_in_browser(page, live)``: signs up through the form, opens the link mailed
  to it and confirms; answers the email;
- ``shot(page, name)``: screenshots at desktop width and at 360 px under
  ``tests/artifacts/dashboard-<name>-{desktop,phone}.png``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from tests.conftest import BASE_URL, MovableClock
from tests.dashboard.smtp import Mailbox, smtp_server
from tests.fixtures.browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, DESKTOP, PHONE, require_browser
from tests.fixtures.live import Server, environment, free_port, payreq, serve

PASSWORD = "a long enough passphrase"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="session")
def dashboard_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"signup": "open", "login_failure_limit": 10})


@pytest.fixture(scope="session")
def dashboard_app(dashboard_settings: Settings, db: Database, clock: MovableClock) -> Litestar:
    return create_app(dashboard_settings, db=db, clock=clock, run_worker=False)


@dataclass
class DashboardClient:
    """A browser stand-in: cookies kept, forms posted with their CSRF token and the
    same-origin headers a browser sends."""

    http: httpx.AsyncClient
    email: str = ""
    role: str = "owner"
    extra: dict[str, Any] = field(default_factory=dict)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def csrf(self, path: str = "/dashboard") -> str:
        answer = await self.http.get(path)
        found = _CSRF.search(answer.text)
        assert found, f"no form on {path}: {answer.status_code} {answer.text[:300]}"
        return unescape(found.group(1))

    async def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, str]] | None = None,
        *,
        csrf_from: str | None = None,
        csrf: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Post a form; its token is read from ``csrf_from`` (default: the home page)."""
        token = csrf if csrf is not None else await self.csrf(csrf_from or "/dashboard")
        fields: list[tuple[str, str]] = [("csrf", token)]
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, list):
                    fields.extend((key, v) for v in value)
                else:
                    fields.append((key, str(value)))
        elif data:
            fields.extend(data)
        sent = {
            "Origin": BASE_URL,
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {}),
        }
        return await self.http.post(path, content=urlencode(fields), headers=sent)

    async def upload(
        self,
        path: str,
        files: dict[str, tuple[str, bytes, str]],
        data: dict[str, str] | None = None,
        *,
        csrf_from: str | None = None,
    ) -> httpx.Response:
        """Post a multipart form (a file input) with its token, as a browser does."""
        token = await self.csrf(csrf_from or "/dashboard")
        sent = {"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"}
        return await self.http.post(path, data={"csrf": token, **(data or {})}, files=files, headers=sent)


def new_client(app: Litestar, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def signup_link(app: Litestar, email: str) -> str:
    """The path that finishes ``email``'s pending sign-up: a new token for it, as
    ``payreq admin signup-link EMAIL`` makes (the link mailed before stops working)."""
    services = app.state.services
    async with services.db.transaction() as conn:
        link = await services.users.reissue_signup_link(conn, email)
    assert link is not None and link.token is not None, f"no pending sign-up for {email}"
    return f"/dashboard/signup/confirm/{link.token}"


async def request_sign_up(
    client: DashboardClient, *, account_name: str = "Corner Bookshop", password: str = PASSWORD
) -> httpx.Response:
    """Fill in the sign-up form with ``client.email``: the "check your inbox" page."""
    return await client.post(
        "/dashboard/signup",
        {"account_name": account_name, "email": client.email, "password": password},
        csrf_from="/dashboard/signup",
    )


async def sign_up(
    app: Litestar, *, email: str | None = None, account_name: str = "Corner Bookshop"
) -> DashboardClient:
    client = DashboardClient(new_client(app), email=email or unique_email("owner"))
    answer = await request_sign_up(client, account_name=account_name)
    assert answer.status_code == 200 and "Check your inbox" in answer.text, answer.text[:500]
    path = await signup_link(app, client.email)
    done = await client.post(path, {}, csrf_from=path)
    assert done.status_code == 303 and done.headers["location"] == "/dashboard?welcome=1", done.text[:500]
    return client


@pytest.fixture
async def owner(dashboard_app: Litestar) -> AsyncIterator[DashboardClient]:
    client = await sign_up(dashboard_app)
    yield client
    await client.http.aclose()


SignedIn = Callable[..., Awaitable[DashboardClient]]


@pytest.fixture
async def signed_in(dashboard_app: Litestar) -> AsyncIterator[SignedIn]:
    """``await signed_in(role)``: a signed-in client of a new account in that role
    (``owner=`` another client to join its account instead)."""
    opened: list[DashboardClient] = []

    async def make(role: str = "owner", *, owner: DashboardClient | None = None) -> DashboardClient:
        boss = owner or await sign_up(dashboard_app)
        if owner is None:
            opened.append(boss)
        if role == "owner" and owner is None:
            return boss
        member = await join(dashboard_app, boss, role)
        opened.append(member)
        return member

    yield make
    for client in opened:
        await client.http.aclose()


async def join(app: Litestar, owner: DashboardClient, role: str, email: str | None = None) -> DashboardClient:
    """Invite ``email`` with ``role`` from ``owner``'s team page and accept the link."""
    email = email or unique_email(role)
    invited = await owner.post(
        "/dashboard/team/invitations", {"email": email, "role": role}, csrf_from="/dashboard/team"
    )
    assert invited.status_code == 200, invited.text[:500]
    link = re.search(r"/dashboard/invitations/([A-Za-z0-9]+)", invited.text)
    assert link, invited.text[:1000]
    member = DashboardClient(new_client(app), email=email, role=role)
    path = f"/dashboard/invitations/{link.group(1)}"
    accepted = await member.post(path, {"password": PASSWORD}, csrf_from=path)
    assert accepted.status_code == 303, accepted.text[:500]
    return member


# -- a real server and a real browser -----------------------------------------------------


@dataclass
class Live:
    """A real ``payreq serve`` (sign-up open, mail through a local SMTP server)."""

    server: Server
    mailbox: Mailbox

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for every browser module (migrating and starting one takes 5-10 s on
    a loaded machine): each test signs its own account up, mail is read by recipient,
    and the throttling tests use addresses of their own (X-Forwarded-For)."""
    require_browser()
    home = tmp_path_factory.mktemp("dashboard-live")
    with smtp_server() as box:
        env = environment(
            f"sqlite:///{home / 'payreq.db'}",
            PAYREQ_SIGNUP="open",
            PAYREQ_DEFAULT_RATE_LIMIT="1000",
            PAYREQ_SIGNUP_ADDRESS_LIMIT="1000",  # every browser signs up from loopback
            PAYREQ_FORWARDED_ALLOW_IPS="127.0.0.1",
            PAYREQ_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8",
            PAYREQ_SMTP_URL=box.url,
        )
        payreq("migrate", env=env)
        with serve(env, home / "serve.log") as server:
            yield Live(server, box)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for every dashboard module (a launch takes 2-3 s); each page opens
    its own context, so no cookie or storage passes from one test to the next."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


async def new_page(browser: Any, console_errors: list[str], **options: Any) -> Any:
    context = await browser.new_context(locale="en-US", viewport=DESKTOP, **options)
    opened = await context.new_page()
    opened.on(
        "console",
        lambda message: (
            console_errors.append(f"{message.text} {message.location}") if message.type == "error" else None
        ),
    )
    opened.on("pageerror", lambda error: console_errors.append(str(error)))
    return opened


@pytest.fixture
async def page(browser: Any, console_errors: list[str]) -> AsyncIterator[Any]:
    opened = await new_page(browser, console_errors)
    yield opened
    await opened.context.close()


async def sign_up_in_browser(page: Any, live: Live, *, account_name: str = "Corner Bookshop") -> str:
    email = unique_email("owner")
    await page.goto(f"{live.url}/dashboard/signup")
    await page.get_by_label("Business name").fill(account_name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("heading", name="Check your inbox").wait_for()
    await page.goto(await mailed_link(live.mailbox, email, "/dashboard/signup/confirm/"))
    await page.get_by_role("button", name="Create account and sign in").click()
    await page.wait_for_url(f"{live.url}/dashboard?welcome=1")
    return email


async def mailed_link(box: Mailbox, address: str, path: str) -> str:
    """The first link to ``path`` in the newest message to ``address`` (waiting up to 5 s)."""
    for _ in range(100):
        for message in reversed(box.to(address)):
            body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
            found = re.search(rf"https?://\S+{re.escape(path)}\S+", body)
            if found:
                return found.group(0)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {address} with a link to {path}")


async def sign_in_in_browser(page: Any, live: Live, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{live.url}/dashboard/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def shot(page: Any, name: str) -> list[Path]:
    """The page as it is now, at desktop width and at 360 px (then back)."""
    ARTIFACTS.mkdir(exist_ok=True)
    paths = []
    viewport = page.viewport_size or DESKTOP
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        path = ARTIFACTS / f"dashboard-{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    await page.set_viewport_size(viewport)
    return paths


__all__ = [
    "PASSWORD",
    "DashboardClient",
    "Live",
    "free_port",
    "join",
    "mailed_link",
    "new_client",
    "new_page",
    "request_sign_up",
    "shot",
    "sign_in_in_browser",
    "sign_up",
    "sign_up_in_browser",
    "signup_link",
    "unique_email",
]
