"""SSRF (SPEC §6): production webhook URLs are https and reach public addresses only,
checked when the URL is saved and again when each attempt connects; the sandbox may
also use http://localhost and http://127.0.0.1; the operator may allow more."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from pydantic import ValidationError

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.services import Services
from payreq.webhook.ssrf import UrlPolicy, is_public, literal_address, webhook_url_problem
from tests.conftest import BASE_URL, MovableClock
from tests.fixtures.factories import Merchant, new_merchant
from tests.payment.conftest import error_of
from tests.webhook.conftest import delivering, event_ids, eventually, set_webhook_url
from tests.webhook.receiver import Receiver

MakeMerchant = Callable[..., Awaitable[Merchant]]

REFUSED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.1", "0x7f000001", "2130706433"]


@pytest.fixture
def operator(
    settings: Settings, db: Database, clock: MovableClock
) -> Callable[[str], AbstractAsyncContextManager[MakeMerchant]]:
    """A server whose operator set ``PAYREQ_WEBHOOK_ALLOW_PRIVATE`` to ``allowed``; yields a
    maker of merchants on it."""

    @contextlib.asynccontextmanager
    async def server(allowed: str) -> AsyncIterator[MakeMerchant]:
        app = create_app(
            settings.model_copy(update={"webhook_allow_private": allowed}),
            db=db,
            clock=clock,
            run_worker=False,
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:

            async def make(environment: str = "sandbox") -> Merchant:
                return await new_merchant(app.state.services, http, environment=environment)

            yield make

    return server


Operator = Callable[[str], AbstractAsyncContextManager[MakeMerchant]]


@pytest.mark.parametrize("environment", ["production", "sandbox"])
@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_private_and_loopback_urls_are_refused_in_every_environment(
    operator: Operator, host: str, scheme: str, environment: str
) -> None:
    """No allowance (a server where anyone can sign up): the sandbox is no way into the
    gateway's own host either."""
    async with operator("") as make_merchant:
        merchant = await make_merchant(environment=environment)
        url = f"{scheme}://{host}:8443/hooks"
        answer = await set_webhook_url(merchant, url)
        error = error_of(answer, 422, "validation_error")
        assert error["code"] == "invalid_url"
        assert error["param"] == "webhookUrl"
        created = await merchant.http.post(
            "/api/payment-applications",
            json={"name": "Shop", "webhookUrl": url},
            headers=await merchant.headers(),
        )
        error_of(created, 422, "validation_error")
        app = await merchant.http.get(
            f"/api/payment-applications/{merchant.credentials.application_client_id}",
            headers=await merchant.headers(),
        )
        assert app.json()["webhookUrl"] is None


async def test_refusal_names_the_address(operator: Operator) -> None:
    async with operator("") as make_merchant:
        production = await make_merchant(environment="production")
        error = error_of(
            await set_webhook_url(production, "https://2130706433/hooks"), 422, "validation_error"
        )
    assert error["message"] == "webhookUrl must resolve only to public addresses, not 127.0.0.1."


@pytest.mark.parametrize("environment", ["production", "sandbox"])
@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("192.0.0.8", "192.0.0.8"),
        ("[fec0::1]", "fec0::1"),
        ("[::ffff:0:a00:1]", "::ffff:0:a00:1"),
        ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1"),
        ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"),
    ],
)
async def test_special_ranges_ipaddress_calls_global_are_refused(
    operator: Operator, host: str, address: str, environment: str
) -> None:
    """Python 3.11's ``is_global`` says yes to 192.0.0.8, fec0::1 and the translated
    ``::ffff:0:a.b.c.d``; none is a merchant's endpoint."""
    async with operator("") as make_merchant:
        merchant = await make_merchant(environment=environment)
        answer = await set_webhook_url(merchant, f"https://{host}/hooks")
    error = error_of(answer, 422, "validation_error")
    assert (error["code"], error["param"]) == ("invalid_url", "webhookUrl")
    assert error["message"] == f"webhookUrl must resolve only to public addresses, not {address}."


async def test_a_public_https_url_is_accepted(operator: Operator) -> None:
    async with operator("") as make_merchant:
        production = await make_merchant(environment="production")
        answer = await set_webhook_url(production, "https://93.184.215.14/hooks")
        assert answer.status_code == 200, answer.text
        plain = await set_webhook_url(production, "http://93.184.215.14/hooks")
        assert error_of(plain, 422, "validation_error")["message"] == "webhookUrl must use https."


@pytest.mark.parametrize("url", ["http://localhost:4000/hooks", "http://127.0.0.1:4000/hooks"])
@pytest.mark.parametrize("environment", ["production", "sandbox"])
async def test_with_loopback_allowed_as_make_run_does_localhost_is_accepted_over_http(
    operator: Operator, url: str, environment: str
) -> None:
    async with operator("127.0.0.0/8,::1/128") as make_merchant:
        merchant = await make_merchant(environment=environment)
        answer = await set_webhook_url(merchant, url)
        assert answer.status_code == 200, answer.text
        assert answer.json()["webhookUrl"] == url
        for other in ("https://169.254.169.254/", "https://10.0.0.1/", "http://0x0a000001/"):
            error_of(await set_webhook_url(merchant, other), 422, "validation_error")


async def test_the_operator_may_allow_private_networks(operator: Operator) -> None:
    async with operator("127.0.0.0/8") as make_merchant:
        production = await make_merchant(environment="production")
        assert (await set_webhook_url(production, "http://127.0.0.1:9000/hooks")).status_code == 200
        error_of(await set_webhook_url(production, "https://10.0.0.1/hooks"), 422, "validation_error")
    async with operator("*") as make_merchant:
        production = await make_merchant(environment="production")
        assert (await set_webhook_url(production, "https://10.0.0.1/hooks")).status_code == 200
        # a public address still needs https: the allowance is for the operator's own networks
        error_of(await set_webhook_url(production, "http://93.184.215.14/hooks"), 422, "validation_error")


@pytest.mark.parametrize("url", ["https://xn--a.example/hook", "https://xn--zz.example/hook"])
async def test_a_url_the_http_client_cannot_send_to_is_refused_when_saved(
    merchant: Merchant, url: str
) -> None:
    error = error_of(await set_webhook_url(merchant, url), 422, "validation_error")
    assert error["code"] == "invalid_url"
    assert "cannot be sent to" in error["message"]


def test_a_malformed_allowance_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="CIDR"):
        Settings(webhook_allow_private="10.0.0.0/8, nonsense")
    with pytest.raises(ValidationError, match="retry schedule"):
        Settings(webhook_retry_schedule="5,10")
    with pytest.raises(ValidationError, match="webhook_lease"):
        Settings(webhook_timeout=10, webhook_lease=5)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("::1", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("cafe.example", None),
        ("deadbeef", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 (an address under test, not a bind)
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
        ("64:ff9b::a00:1", False),
        ("2002:7f00:1::", False),
        # IETF protocol assignments (192.0.0.0/24), which Python 3.11 calls global
        ("192.0.0.8", False),
        ("192.0.0.9", False),
        ("192.0.0.170", False),
        # IPv4-translated (RFC 2765): judged by the IPv4 address a translator forwards to
        ("::ffff:0:10.0.0.1", False),
        ("::ffff:0:127.0.0.1", False),
        ("::ffff:0:169.254.169.254", False),
        ("::ffff:0:93.184.215.14", True),
        # NAT64 (RFC 6052, RFC 8215) and IPv4-compatible
        ("64:ff9b::127.0.0.1", False),
        ("64:ff9b::192.168.0.1", False),
        ("64:ff9b::93.184.215.14", True),
        ("64:ff9b:1::a00:1", False),
        ("::10.0.0.1", False),
        # deprecated site-local (RFC 3879) and the rest outside 2000::/3
        ("fec0::1", False),
        ("feff::1", False),
        ("5f00::1", False),
        ("4000::1", False),
        ("3fff::1", False),  # documentation (RFC 9637)
        ("2001:4860:4860::8888", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_names_that_do_not_resolve_are_checked_at_connect_time() -> None:
    assert webhook_url_problem("https://hooks.shop.example/x", policy=UrlPolicy(), addresses=[]) is None
    assert (
        webhook_url_problem("http://hooks.shop.example/x", policy=UrlPolicy(), addresses=[])
        == "must use https"
    )


async def _stored_url(services: Services, client_id: str, url: str) -> None:
    """As if the URL had been saved while its name pointed elsewhere (DNS rebinding)."""
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET webhook_url = :u WHERE client_id = :c", {"u": url, "c": client_id}
        )


async def test_connect_time_check_refuses_a_name_that_now_resolves_to_loopback(
    services: Services, make_merchant: MakeMerchant, receiver: Receiver, fence: None
) -> None:
    production = await make_merchant(environment="production")
    await _stored_url(
        services,
        production.credentials.application_client_id,
        receiver.url(host="localhost").replace("http:", "https:"),
    )
    async with delivering(services, schedule=(0,), policy=UrlPolicy()):
        payment = await production.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _failed(services, created_id))
    assert receiver.received == []
    view = await production.http.get(f"/api/events/{created_id}", headers=await production.headers())
    [attempt] = view.json()["attempts"]
    assert attempt["statusCode"] is None
    assert "localhost resolves to 127.0.0.1" in attempt["error"]


async def test_connect_time_check_refuses_a_literal_private_address(
    services: Services, make_merchant: MakeMerchant, receiver: Receiver, fence: None
) -> None:
    production = await make_merchant(environment="production")
    await _stored_url(services, production.credentials.application_client_id, receiver.url())
    async with delivering(services, schedule=(0,), policy=UrlPolicy()):
        payment = await production.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _failed(services, created_id))
    assert receiver.received == []


async def test_with_the_operators_allowance_production_reaches_a_local_receiver(
    services: Services,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    fence: None,
) -> None:
    production = await make_merchant(environment="production")  # the suite allows loopback
    assert (await set_webhook_url(production, receiver.url())).status_code == 200
    async with delivering(services, policy=UrlPolicy.of("127.0.0.0/8")):
        payment = await production.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: created_id in receiver.ids())


async def _failed(services: Services, event_id: str) -> bool:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status FROM webhook_deliveries WHERE event_id = :e", {"e": uuid.UUID(event_id)}
        )
    return row is not None and row["status"] == "failed"


async def test_a_stored_url_the_client_cannot_send_to_fails_its_attempts_on_schedule(
    services: Services, make_merchant: MakeMerchant, fence: None
) -> None:
    """Saved before the save-time check knew it (or by any other path): each attempt is
    recorded as failed and the delivery follows the schedule to its end, no crash loop."""
    production = await make_merchant(environment="production")
    await _stored_url(services, production.credentials.application_client_id, "https://xn--a.example/hook")
    async with delivering(services, schedule=(0, 0.1, 0.1)):
        payment = await production.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _failed(services, created_id))
    view = await production.http.get(f"/api/events/{created_id}", headers=await production.headers())
    attempts = view.json()["attempts"]
    assert len(attempts) == 3
    assert all(a["statusCode"] is None and "cannot be sent to" in a["error"] for a in attempts)


async def test_any_exception_while_sending_is_recorded_as_a_failed_attempt(
    services: Services, hooked: Merchant
) -> None:
    from dataclasses import replace

    from payreq.webhook.delivery import Dispatcher
    from payreq.webhook.sender import Outcome, Sender
    from tests.webhook.conftest import FAST

    class Broken(Sender):
        async def send(self, url: str, payload: str, headers: dict[str, str]) -> Outcome:
            raise RuntimeError("an error nobody foresaw")

    config = replace(FAST, schedule=(0, 0.1))
    sender = Broken(config)
    dispatcher = Dispatcher(services.db, config=config, clock=services.clock, sender=sender)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _failed(services, created_id))
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await sender.aclose()
    view = await hooked.http.get(f"/api/events/{created_id}", headers=await hooked.headers())
    attempts = view.json()["attempts"]
    assert [a["error"] for a in attempts] == ["could not send: RuntimeError"] * 2


async def test_a_slow_nameserver_does_not_stall_other_requests(
    merchant: Merchant, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saving a webhook URL whose nameserver takes a second resolves it off the event loop
    and before the unit of work: another tenant's reads go on meanwhile (SPEC §6)."""
    import socket
    import time

    real = socket.getaddrinfo

    def slow_nameserver(host: object, *args: object, **kwargs: object) -> object:
        if host == "slow.example":
            time.sleep(1.0)  # a resolver waiting on a nameserver that answers late
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 0))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_nameserver)
    other = await make_merchant()
    payment = await other.create_payment()
    headers = await other.headers()

    async def poll() -> list[float]:
        """Five reads meant for 0.1, 0.2 ... 0.5 s: how late each one's answer came."""
        latencies = []
        for i in range(1, 6):
            due = started + 0.1 * i
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            answer = await other.http.get(f"/payment/request/{payment['id']}", headers=headers)
            assert answer.status_code == 200
            latencies.append(time.monotonic() - due)
        return latencies

    started = time.monotonic()
    saved, latencies = await asyncio.gather(set_webhook_url(merchant, "https://slow.example/hooks"), poll())
    assert saved.status_code == 200, saved.text
    assert time.monotonic() - started >= 1.0  # the save did wait for its nameserver
    assert max(latencies) < 0.3, latencies


async def test_a_unicode_name_is_resolved_when_saved_as_the_sender_asks_for_it(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``straße.example`` is ``xn--strae-oqa.example`` to the sender (IDNA 2008) but
    ``strasse.example``, another domain, to Python's own codec (IDNA 2003), which
    ``socket.getaddrinfo`` applies to a name given as text. The save-time check asks for
    the sender's name: here it points at a private address, and the URL is refused."""
    import socket

    real = socket.getaddrinfo
    names = {"strasse.example": "93.184.215.14", "xn--strae-oqa.example": "10.0.0.5"}

    def nameserver(host: object, *args: object, **kwargs: object) -> object:
        asked = host.encode("idna").decode() if isinstance(host, str) else host  # as getaddrinfo does
        if asked in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[asked], 0))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", nameserver)
    async with operator("") as make_merchant:
        production = await make_merchant(environment="production")
        error = error_of(
            await set_webhook_url(production, "https://straße.example/hooks"), 422, "validation_error"
        )
    assert error["message"] == "webhookUrl must resolve only to public addresses, not 10.0.0.5."
