"""SSRF (SPEC §6): production webhook URLs are https and reach public addresses only,
checked when the URL is saved and again when each attempt connects; the sandbox may
also use http://localhost and http://127.0.0.1; the operator may allow more."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from pydantic import ValidationError

from payreq.config import Settings, get_settings
from payreq.services import Services
from payreq.webhook.ssrf import UrlPolicy, is_public, literal_address, webhook_url_problem
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of
from tests.webhook.conftest import delivering, event_ids, eventually, set_webhook_url
from tests.webhook.receiver import Receiver

MakeMerchant = Callable[..., Awaitable[Merchant]]

REFUSED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.1", "0x7f000001", "2130706433"]


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set ``PAYREQ_WEBHOOK_ALLOW_PRIVATE`` as an operator would (the save-time check
    reads the process's settings)."""

    def allow(value: str) -> None:
        monkeypatch.setenv("PAYREQ_WEBHOOK_ALLOW_PRIVATE", value)
        get_settings.cache_clear()

    yield allow
    get_settings.cache_clear()


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_production_refuses_private_and_loopback_urls(
    make_merchant: MakeMerchant, host: str, scheme: str
) -> None:
    production = await make_merchant(environment="production")
    url = f"{scheme}://{host}:8443/hooks"
    answer = await set_webhook_url(production, url)
    error = error_of(answer, 422, "validation_error")
    assert error["code"] == "invalid_url"
    assert error["param"] == "webhookUrl"
    created = await production.http.post(
        "/api/payment-applications",
        json={"name": "Shop", "webhookUrl": url},
        headers=await production.headers(),
    )
    error_of(created, 422, "validation_error")
    app = await production.http.get(
        f"/api/payment-applications/{production.credentials.application_client_id}",
        headers=await production.headers(),
    )
    assert app.json()["webhookUrl"] is None


async def test_production_refusal_names_the_address(make_merchant: MakeMerchant) -> None:
    production = await make_merchant(environment="production")
    error = error_of(await set_webhook_url(production, "https://2130706433/hooks"), 422, "validation_error")
    assert error["message"] == "webhookUrl must resolve only to public addresses, not 127.0.0.1."


async def test_production_accepts_a_public_https_url(make_merchant: MakeMerchant) -> None:
    production = await make_merchant(environment="production")
    answer = await set_webhook_url(production, "https://93.184.215.14/hooks")
    assert answer.status_code == 200, answer.text
    plain = await set_webhook_url(production, "http://93.184.215.14/hooks")
    assert error_of(plain, 422, "validation_error")["message"] == "webhookUrl must use https."


@pytest.mark.parametrize("url", ["http://localhost:4000/hooks", "http://127.0.0.1:4000/hooks"])
async def test_sandbox_accepts_localhost_over_http(merchant: Merchant, url: str) -> None:
    answer = await set_webhook_url(merchant, url)
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhookUrl"] == url


@pytest.mark.parametrize(
    "url", ["http://[::1]:4000/", "https://169.254.169.254/", "https://10.0.0.1/", "http://0x7f000001/"]
)
async def test_sandbox_refuses_other_private_addresses(merchant: Merchant, url: str) -> None:
    error_of(await set_webhook_url(merchant, url), 422, "validation_error")


async def test_the_operator_may_allow_private_networks(
    make_merchant: MakeMerchant, allow_private: Callable[[str], None]
) -> None:
    production = await make_merchant(environment="production")
    allow_private("127.0.0.0/8")
    assert (await set_webhook_url(production, "http://127.0.0.1:9000/hooks")).status_code == 200
    error_of(await set_webhook_url(production, "https://10.0.0.1/hooks"), 422, "validation_error")
    allow_private("*")
    assert (await set_webhook_url(production, "https://10.0.0.1/hooks")).status_code == 200
    # a public address still needs https: the allowance is for the operator's own networks
    error_of(await set_webhook_url(production, "http://93.184.215.14/hooks"), 422, "validation_error")


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
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_names_that_do_not_resolve_are_checked_at_connect_time() -> None:
    assert webhook_url_problem("https://hooks.shop.example/x", sandbox=False, policy=UrlPolicy()) is None
    assert (
        webhook_url_problem("http://hooks.shop.example/x", sandbox=False, policy=UrlPolicy())
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
    async with delivering(services, schedule=(0,)):
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
    async with delivering(services, schedule=(0,)):
        payment = await production.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _failed(services, created_id))
    assert receiver.received == []


async def test_with_the_operators_allowance_production_reaches_a_local_receiver(
    services: Services,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    fence: None,
    allow_private: Callable[[str], None],
) -> None:
    allow_private("127.0.0.0/8")
    production = await make_merchant(environment="production")
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
