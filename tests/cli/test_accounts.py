"""``payreq admin disable-account`` / ``enable-account`` against a real server and
worker: a hostile tenant's credentials, sessions, checkout pages and webhooks stop at
once, and come back (sessions excepted) when it is enabled; both are audit-logged."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from tests.fixtures.live import PAYREQ, bootstrap, environment, payreq, serve
from tests.webhook.receiver import Receiver

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(url: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, headers={"origin": url})
    page = client.get("/dashboard/login")
    token = CSRF.search(page.text)
    assert token, page.text
    client.post("/dashboard/login", data={"csrf": token.group(1), "email": email, "password": password})
    return client


def paid_and_cancelled(api: httpx.Client, token: str) -> str:
    """A new payment, cancelled at once: a ``payment.cancelled`` event to deliver."""
    bearer = {"Authorization": f"Bearer {token}"}
    created = api.post(
        "/payment/request",
        json={"amount": "100", "currency": "USD", "redirect_url": "https://shop.example/back"},
        headers=bearer,
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert api.post(f"/payment/request/{payment['id']}/cancel", headers=bearer).status_code == 200
    return str(payment["checkout_url"])


def run_worker(env: dict[str, str], database: Path) -> None:
    """A worker until no delivery is pending (each is sent, or given up)."""
    worker = subprocess.Popen([PAYREQ, "worker"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as conn:
                (pending,) = conn.execute(
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
                ).fetchone()
            if not pending:
                return
            time.sleep(0.2)
        raise AssertionError("deliveries still pending after 30 s")
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_disable_account_stops_its_credentials_sessions_checkout_and_webhooks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'payreq.db'}"
    env = environment(url, PAYREQ_AUTH_CACHE_SECONDS="0", PAYREQ_WEBHOOK_RETRY_SCHEDULE="0,0.2,0.2")
    payreq("migrate", env=env)
    merchant = bootstrap(env)
    other = bootstrap(env)
    account = merchant["account_id"]
    receiver = Receiver().start()
    try:
        with serve(env, tmp_path / "server.log") as server, contextlib.ExitStack() as clients:
            api = clients.enter_context(httpx.Client(base_url=server.url))
            basic = (merchant["client_id"], merchant["client_secret"])
            form = {"grant_type": "client_credentials"}
            access = api.post("/oauth/token", data=form, auth=basic).json()["access_token"]
            patched = api.patch(
                f"/api/payment-applications/{merchant['application_client_id']}",
                json={"webhookUrl": receiver.url()},
                headers={"Authorization": f"Bearer {access}"},
            )
            assert patched.status_code == 200, patched.text
            checkout = paid_and_cancelled(api, access)
            assert api.get(checkout.removeprefix(server.url)).status_code == 200
            dashboard = clients.enter_context(
                contextlib.closing(
                    sign_in(server.url, merchant["dashboard_email"], merchant["dashboard_password"])
                )
            )
            assert dashboard.get("/dashboard").status_code == 200

            out = payreq("admin", "disable-account", account, "--reason", "card testing", env=env)
            assert out.strip() == f"account {account}: disabled"
            assert (
                payreq("admin", "disable-account", account, env=env).strip()
                == f"account {account}: already disabled"
            )

            for token in (access, merchant["client_token"]):
                refused = api.get("/api/payments", headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 401
                assert refused.json()["error"]["message"] == "Unauthenticated"
            refused = api.post("/oauth/token", data=form, auth=basic)
            assert (refused.status_code, refused.json()["error"]) == (403, "invalid_client")
            assert api.get(checkout.removeprefix(server.url)).status_code == 410  # no longer available
            home = dashboard.get("/dashboard")
            assert home.status_code == 303 and home.headers["location"].startswith("/dashboard/login")
            again = clients.enter_context(
                contextlib.closing(
                    sign_in(server.url, merchant["dashboard_email"], merchant["dashboard_password"])
                )
            )
            assert again.get("/dashboard").status_code == 303
            # another tenant is untouched
            theirs = api.post("/oauth/token", data=form, auth=(other["client_id"], other["client_secret"]))
            assert theirs.status_code == 200

            run_worker(env, tmp_path / "payreq.db")  # the cancelled payment's event is due: not sent
            assert receiver.received == []

            disabled_checkout = checkout
            out = payreq("admin", "enable-account", account, "--reason", "cleared", env=env)
            assert out.strip() == f"account {account}: enabled"
            access = api.post("/oauth/token", data=form, auth=basic).json()["access_token"]
            checkout = paid_and_cancelled(api, access)
            assert api.get(checkout.removeprefix(server.url)).status_code == 200
            back = clients.enter_context(
                contextlib.closing(
                    sign_in(server.url, merchant["dashboard_email"], merchant["dashboard_password"])
                )
            )
            assert back.get("/dashboard").status_code == 200
            run_worker(
                env, tmp_path / "payreq.db"
            )  # the new payment's events are sent; the disabled time's never
            first, second = (c.rsplit("/", 1)[1].encode() for c in (disabled_checkout, checkout))
            types = sorted(r.body.split(b'"')[3] for r in receiver.received)
            assert types == [b"payment.cancelled", b"payment.created"]
            assert all(second in r.body and first not in r.body for r in receiver.received)
    finally:
        receiver.stop()

    unknown = subprocess.run(
        [PAYREQ, "admin", "disable-account", "00000000-0000-4000-8000-000000000000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "no account with id 00000000-0000-4000-8000-000000000000",
    )
    with sqlite3.connect(tmp_path / "payreq.db") as conn:
        rows = conn.execute(
            "SELECT action, actor_kind, actor_label, changes FROM audit_entries "
            "WHERE target_type = 'account' AND action != 'account.created' ORDER BY seq"
        ).fetchall()
    assert [(a, k, label) for a, k, label, _ in rows] == [
        ("account.disabled", "cli", "payreq admin disable-account"),
        ("account.enabled", "cli", "payreq admin enable-account"),
    ]
    assert "card testing" in rows[0][3]
    assert payreq("admin", "verify-audit", env=env).startswith("audit log intact")
