"""``payreq admin disable-account`` / ``enable-account`` against a real server and
worker: a hostile tenant's credentials, sessions, checkout pages and webhooks stop at
once, and come back (sessions excepted) when it is enabled, with the webhooks that
waited meanwhile; both are audit-logged. An account its owner closed stays closed."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.fixtures.live import PAYREQ, Server, bootstrap, environment, payreq, serve
from tests.webhook.receiver import Receiver

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(url: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, headers={"origin": url})
    page = client.get("/dashboard/login")
    token = CSRF.search(page.text)
    assert token, page.text
    client.post("/dashboard/login", data={"csrf": token.group(1), "email": email, "password": password})
    return client


def signed_in(clients: contextlib.ExitStack, server: Server, tenant: dict[str, str]) -> httpx.Client:
    """The tenant's dashboard user signed in (or refused), closed with ``clients``."""
    return clients.enter_context(
        contextlib.closing(sign_in(server.url, tenant["dashboard_email"], tenant["dashboard_password"]))
    )


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


def run_worker(env: dict[str, str], database: Path, *, waiting: str | None = None) -> None:
    """A worker until no delivery is pending (each is sent, or given up), but those of
    the account ``waiting`` (disabled: they wait for it to be enabled)."""
    worker = subprocess.Popen([PAYREQ, "worker"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as conn:
                (pending,) = conn.execute(
                    "SELECT count(*) FROM webhook_deliveries d JOIN applications a ON a.id = d.application_id "
                    "WHERE d.status = 'pending' AND a.account_id IS NOT ?",
                    (waiting,),
                ).fetchone()
            if not pending:
                return
            time.sleep(0.2)
        raise AssertionError("deliveries still pending after 30 s")
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def hook(api: httpx.Client, tenant: dict[str, str], url: str) -> str:
    """Point the tenant's application at ``url``; an access token of the tenant."""
    basic = (tenant["client_id"], tenant["client_secret"])
    access = api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=basic).json()
    patched = api.patch(
        f"/api/payment-applications/{tenant['application_client_id']}",
        json={"webhookUrl": url},
        headers={"Authorization": f"Bearer {access['access_token']}"},
    )
    assert patched.status_code == 200, patched.text
    return str(access["access_token"])


@contextlib.contextmanager
def live(
    env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Receiver, Server, httpx.Client, contextlib.ExitStack]]:
    """A webhook receiver, a server on ``env`` (its API client) and a stack for more clients."""
    receiver = Receiver().start()
    try:
        with serve(env, tmp_path / "server.log") as server, contextlib.ExitStack() as clients:
            yield receiver, server, clients.enter_context(httpx.Client(base_url=server.url)), clients
    finally:
        receiver.stop()


def sent(receiver: Receiver, path: str) -> list[tuple[str, str]]:
    """(event type, payment id) of each delivery that reached ``path``, sorted."""
    bodies = [json.loads(r.body) for r in receiver.received if r.path == path]
    return sorted((b["type"], b["data"]["id"]) for b in bodies)


def test_disable_account_stops_its_credentials_sessions_checkout_and_webhooks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'payreq.db'}"
    env = environment(
        url,
        PAYREQ_AUTH_CACHE_SECONDS="0",
        PAYREQ_AUTH_FAILURE_LIMIT="1000",  # the refusals below are many from one address
        PAYREQ_WEBHOOK_RETRY_SCHEDULE="0,0.2,0.2",
    )
    payreq("migrate", env=env)
    merchant = bootstrap(env)
    other = bootstrap(env)
    account = merchant["account_id"]
    with live(env, tmp_path) as (receiver, server, api, clients):
        basic = (merchant["client_id"], merchant["client_secret"])
        form = {"grant_type": "client_credentials"}
        access = hook(api, merchant, receiver.url("/disabled"))
        checkout = paid_and_cancelled(api, access)
        assert api.get(checkout.removeprefix(server.url)).status_code == 200
        dashboard = signed_in(clients, server, merchant)
        assert dashboard.get("/dashboard").status_code == 200

        application = merchant["application_client_id"]
        csrf = CSRF.search(dashboard.get(f"/dashboard/applications/{application}").text)
        assert csrf
        bearer = {"Authorization": f"Bearer {access}"}
        event_id = api.get("/api/events", headers=bearer).json()["data"][0]["id"]
        payment_id = checkout.rsplit("/", 1)[1]

        out = payreq("admin", "disable-account", account, "--reason", "card testing", env=env)
        assert out.strip() == f"account {account}: disabled"
        assert (
            payreq("admin", "disable-account", account, env=env).strip()
            == f"account {account}: already disabled"
        )

        for token in (access, merchant["client_token"]):  # both contracts, webhook sends included
            for method, path in (
                ("GET", "/api/payments"),
                ("POST", "/api/payment/checkout"),
                ("GET", f"/api/payment/{payment_id}"),
                ("GET", f"/payment/request/{payment_id}"),
                ("POST", "/payment/request"),
                ("POST", f"/api/events/{event_id}/redeliver"),
                ("POST", "/api/events/replay"),
            ):
                refused = api.request(method, path, headers={"Authorization": f"Bearer {token}"}, json={})
                assert refused.status_code == 401, (method, path, refused.text)
                assert refused.json()["error"]["message"] == "Unauthenticated"
        refused = api.post("/oauth/token", data=form, auth=basic)
        assert (refused.status_code, refused.json()["error"]) == (403, "invalid_client")
        assert api.get(checkout.removeprefix(server.url)).status_code == 410  # no longer available
        home = dashboard.get("/dashboard")
        assert home.status_code == 303 and home.headers["location"].startswith("/dashboard/login")
        for path in (  # the signed-out session sends nothing (the receiver gets no webhook.test)
            f"/dashboard/applications/{application}/test-event",
            f"/dashboard/webhooks/events/{event_id}/redeliver",
        ):
            sends = dashboard.post(path, data={"csrf": csrf.group(1)})
            assert sends.status_code == 303, (path, sends.text)
            assert sends.headers["location"].startswith("/dashboard/login")
        again = signed_in(clients, server, merchant)
        assert again.get("/dashboard").status_code == 303
        # another tenant is untouched
        theirs = api.post("/oauth/token", data=form, auth=(other["client_id"], other["client_secret"]))
        assert theirs.status_code == 200

        # the cancelled payment's events are due: they wait, while the other tenant's go out
        theirs = paid_and_cancelled(api, hook(api, other, receiver.url("/other")))
        run_worker(env, tmp_path / "payreq.db", waiting=account)
        assert len(sent(receiver, "/other")) == 2
        assert sent(receiver, "/disabled") == []

        disabled_checkout = checkout
        out = payreq("admin", "enable-account", account, "--reason", "cleared", env=env)
        assert out.strip() == f"account {account}: enabled"
        access = api.post("/oauth/token", data=form, auth=basic).json()["access_token"]
        checkout = paid_and_cancelled(api, access)
        assert api.get(checkout.removeprefix(server.url)).status_code == 200
        back = signed_in(clients, server, merchant)
        assert back.get("/dashboard").status_code == 200
        run_worker(env, tmp_path / "payreq.db")  # the new payment's events and those that waited
        first, second = (c.rsplit("/", 1)[1] for c in (disabled_checkout, checkout))
        assert sent(receiver, "/disabled") == sorted(
            (kind, payment)
            for kind in ("payment.cancelled", "payment.created")
            for payment in (first, second)
        )
        assert theirs.rsplit("/", 1)[1] not in {payment for _, payment in sent(receiver, "/disabled")}
    with sqlite3.connect(tmp_path / "payreq.db") as conn:  # once each: no attempt while it waited
        attempts = conn.execute(
            "SELECT d.attempts, d.status FROM webhook_deliveries d JOIN applications a "
            "ON a.id = d.application_id WHERE a.account_id = ?",
            (account,),
        ).fetchall()
    assert attempts == [(1, "delivered")] * 4

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


def test_an_account_its_owner_closed_stays_closed_whatever_the_operator_runs(tmp_path: Path) -> None:
    database = tmp_path / "payreq.db"
    env = environment(f"sqlite:///{database}", PAYREQ_AUTH_CACHE_SECONDS="0")
    payreq("migrate", env=env)
    merchant = bootstrap(env)
    account = merchant["account_id"]
    with live(env, tmp_path) as (receiver, server, api, clients):
        access = hook(api, merchant, receiver.url())
        paid_and_cancelled(api, access)  # two events due
        owner = signed_in(clients, server, merchant)
        csrf = CSRF.search(owner.get("/dashboard/team").text)
        assert csrf
        closed = owner.post(
            "/dashboard/team/close", data={"csrf": csrf.group(1), "confirm_name": "Demo merchant"}
        )
        assert closed.status_code == 303, closed.text

        enable = subprocess.run(
            [PAYREQ, "admin", "enable-account", account],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enable.returncode == 1 and enable.stdout == ""
        [line] = enable.stderr.splitlines()
        assert re.fullmatch(
            rf"account {account} was closed by its owner on \d{{4}}-\d\d-\d\d \d\d:\d\d UTC: "
            "enable-account only undoes disable-account, so it stays closed",
            line,
        ), line
        disable = payreq("admin", "disable-account", account, env=env)
        assert re.fullmatch(
            rf"account {account}: closed by its owner on [^;]+; it stays closed, nothing to disable\n",
            disable,
        ), disable

        # still closed: its credentials and sign-in stay shut
        bearer = {"Authorization": f"Bearer {access}"}
        assert api.get("/api/payments", headers=bearer).status_code == 401
        basic = (merchant["client_id"], merchant["client_secret"])
        token = api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=basic)
        assert token.status_code == 403
        again = signed_in(clients, server, merchant)
        assert again.get("/dashboard").status_code == 303
        run_worker(env, database)  # closed for good: its deliveries are given up, not kept waiting
    assert receiver.received == []
    with sqlite3.connect(database) as conn:
        given_up = conn.execute("SELECT status, attempts, last_error FROM webhook_deliveries").fetchall()
        actions = conn.execute(
            "SELECT action FROM audit_entries WHERE target_type = 'account' AND action != 'account.created'"
        ).fetchall()
    assert given_up == [("failed", 0, "the account is closed")] * 2
    assert actions == [("account.closed",)]
