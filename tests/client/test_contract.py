"""Both clients against a real ``payreq serve`` on SQLite (SPEC §2, §3, §9): create,
get, cancel, list across three pages, a wait that the sandbox simulator ends, and 20
reads in a row at the server's default 5 per second without a 429 reaching the caller
(nor the wire: the client-side limiter spaces them)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import pytest

from payreq.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    PaymentStatus,
    ValidationError,
)
from payreq.testing import LocalServer

THANKS = "https://shop.example/thanks"


def reference() -> str:
    return f"order-{uuid.uuid4().hex[:12]}"


def test_create_get_cancel(local_server: LocalServer) -> None:
    payreq = local_server.client
    ref = reference()
    created = payreq.create_payment_request(
        amount=12345, currency="eur", redirect_url=THANKS, reference_id=ref, metadata={"cart": "7"}
    )
    assert (created.status, created.amount, created.currency, created.reference_id) == (
        "pending",
        12345,
        "EUR",
        ref,
    )
    assert created.checkout_url == f"{local_server.base_url}/checkout/{created.id}"
    assert created.expires_at > created.created_at
    read = payreq.get_payment_request(created.id)
    assert read == created
    cancelled = payreq.cancel_payment_request(created.id)
    assert cancelled.status is PaymentStatus.CANCELLED and cancelled.cancelled_at is not None
    with pytest.raises(ConflictError) as raised:
        payreq.cancel_payment_request(created.id)
    assert (raised.value.status, raised.value.type) == (409, "invalid_state")
    assert raised.value.request_id and raised.value.request_id.startswith("req_")


async def test_create_get_cancel_async(local_server: LocalServer) -> None:
    async with local_server.async_client() as payreq:
        created = await payreq.create_payment_request(amount=500, currency="JPY", redirect_url=THANKS)
        assert (await payreq.get_payment_request(created.id)).amount == 500
        assert (await payreq.cancel_payment_request(created.id)).status == "cancelled"
        with pytest.raises(ConflictError):
            await payreq.cancel_payment_request(created.id)


def test_errors_from_the_real_server(local_server: LocalServer) -> None:
    payreq = local_server.client
    with pytest.raises(ValidationError) as invalid:
        payreq.create_payment_request(amount=100, currency="XXQ", redirect_url=THANKS)
    assert (invalid.value.status, invalid.value.param) == (422, "currency")
    with pytest.raises(NotFoundError) as missing:
        payreq.get_payment_request(str(uuid.uuid4()))
    assert missing.value.code and missing.value.request_id


def test_a_list_across_three_pages(local_server: LocalServer) -> None:
    payreq = local_server.client
    ref = reference()
    ids = [
        payreq.create_payment_request(
            amount=100 + i, currency="USD", redirect_url=THANKS, reference_id=ref
        ).id
        for i in range(5)
    ]
    pages = list(payreq.list_payment_requests(reference_id=ref, limit=2).pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [p.id for p in payreq.list_payment_requests(reference_id=ref, limit=2)] == ids[::-1]


async def test_a_list_across_three_pages_async(local_server: LocalServer) -> None:
    async with AsyncClient(local_server.base_url, client_token=local_server.client_token) as payreq:
        ref = reference()
        ids = []
        for i in range(5):
            made = await payreq.create_checkout(
                amount=100 + i,
                currency_code="USD",
                reference=ref,
                reference_label="Order",
                client_id=local_server.application_client_id,
                redirect_url=THANKS,
            )
            ids.append(made.id)
    async with local_server.async_client() as dashboard:  # listing needs the access token
        pages = [len(page.data) async for page in dashboard.list_payments(reference=ref, limit=2).pages()]
        listed = [p.id async for p in dashboard.list_payments(reference=ref, limit=2)]
    assert pages == [2, 2, 1]
    assert listed == ids[::-1]


def test_wait_for_payment_ends_when_the_sandbox_pays(local_server: LocalServer) -> None:
    payreq = local_server.client
    created = payreq.create_payment_request(amount=999, currency="USD", redirect_url=THANKS)
    payer = threading.Timer(1.0, local_server.pay, args=(created.id,))
    payer.start()
    try:
        paid = payreq.wait_for_payment(created.id, timeout=20)
    finally:
        payer.join()
    assert paid.status is PaymentStatus.PAID and paid.paid_at is not None


async def test_wait_for_payment_ends_when_the_sandbox_pays_async(local_server: LocalServer) -> None:
    async with local_server.async_client() as payreq:
        created = await payreq.create_payment_request(amount=999, currency="USD", redirect_url=THANKS)

        async def pay_later() -> None:
            await asyncio.sleep(1.0)
            await payreq.simulate_payment(created.id, "paid")

        payer = asyncio.create_task(pay_later())
        paid = await payreq.wait_for_payment(created.id, timeout=20)
        await payer
    assert paid.status == "paid"


class Statuses:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, response: httpx.Response) -> None:
        self.seen.append(response.status_code)

    async def record(self, response: httpx.Response) -> None:
        self(response)


def test_twenty_reads_in_a_row_meet_no_429(local_server: LocalServer) -> None:
    payment = local_server.client.create_payment_request(amount=100, currency="USD", redirect_url=THANKS)
    time.sleep(1.1)  # the key's window empties of the other tests' requests
    statuses = Statuses()
    with (
        httpx.Client(event_hooks={"response": [statuses]}) as http,
        Client(**local_server.client_options(), http_client=http) as payreq,
    ):
        started = time.monotonic()
        reads = [payreq.get_payment_request(payment.id) for _ in range(20)]
        elapsed = time.monotonic() - started
    assert {r.id for r in reads} == {payment.id}
    assert 429 not in statuses.seen
    assert len(statuses.seen) == 21  # the token and 20 reads, none retried
    assert elapsed >= 3.0  # 21 requests at 5 per second


async def test_twenty_reads_in_a_row_meet_no_429_async(local_server: LocalServer) -> None:
    payment = local_server.client.create_payment_request(amount=100, currency="USD", redirect_url=THANKS)
    await asyncio.sleep(1.1)
    statuses = Statuses()
    http = httpx.AsyncClient(event_hooks={"response": [statuses.record]})
    async with http, AsyncClient(**local_server.client_options(), http_client=http) as payreq:
        reads = await asyncio.gather(*(payreq.get_payment_request(payment.id) for _ in range(20)))
    assert {r.id for r in reads} == {payment.id}
    assert 429 not in statuses.seen
    assert len(statuses.seen) == 21


def test_contract_b_with_a_client_token(local_server: LocalServer) -> None:
    with Client(
        local_server.base_url,
        client_token=local_server.client_token,
        application_client_id=local_server.application_client_id,
    ) as payreq:
        payment = payreq.create_checkout(
            amount=10000,
            currency_code="USD",
            reference="ORDER-123",
            reference_label="Order #123",
            redirect_url=THANKS,
        )
        assert (payment.amount, payment.currency_code, payment.client_id) == (
            10000,
            "USD",
            local_server.application_client_id,
        )
        assert payreq.get_payment(payment.id) == payment
        steps = payreq.get_instructions(payment.id, "sandbox")
        assert (steps.method, steps.payment_id, steps.amount) == ("sandbox", payment.id, 10000)
        assert steps.steps
        assert payreq.simulate_payment(payment.id, "paid").status is PaymentStatus.PAID


def test_applications_tokens_and_events(local_server: LocalServer) -> None:
    payreq = local_server.client
    app = payreq.create_application(name="Web shop", currencies=["USD", "EUR"], default_redirect_url=THANKS)
    assert app.webhook_secret.startswith("whsec_") and app.currencies == ("USD", "EUR")
    assert app.client_id in {a.client_id for a in payreq.list_applications()}
    changed = payreq.update_application(app.client_id, name="Web shop 2", currencies=None)
    assert (changed.name, changed.currencies) == ("Web shop 2", None)
    rotated = payreq.rotate_webhook_secret(app.client_id)
    assert rotated.webhook_secret != app.webhook_secret and rotated.previous_secret_expires_at is not None

    token = payreq.create_client_token(
        app.client_id, label="checkout server", scopes=["payments.create", "payments.get"]
    )
    assert token.token.startswith("prq_ct_sbx_")
    assert [t.label for t in payreq.list_client_tokens(app.client_id)] == ["checkout server"]
    with Client(local_server.base_url, client_token=token.token, application_client_id=app.client_id) as shop:
        payment = shop.create_checkout(
            amount=2500, currency_code="EUR", reference="R-1", reference_label="Order R-1"
        )
        assert payment.redirect_url == THANKS
        payreq.revoke_client_token(app.client_id, token.id)
        with pytest.raises(AuthenticationError):
            shop.get_payment(payment.id)

    local_server.pay(payment.id)
    events = list(payreq.list_events(payment_id=payment.id))
    assert [e.type for e in events] == ["payment.created", "payment.paid"]
    assert events[1].data.status is PaymentStatus.PAID
    detail = payreq.get_event(events[1].id)
    assert detail.id == events[1].id and detail.delivery is None and detail.attempts == ()
    payreq.delete_application(app.client_id)
    with pytest.raises(NotFoundError):
        payreq.get_application(app.client_id)


def test_a_statement_import(local_server: LocalServer) -> None:
    payreq = local_server.client
    csv = b"amount,currency,reference,id,date\n12.50,EUR,nothing to match,bank-1,2026-11-30\n"
    report = payreq.import_statement(csv, content_type="text/csv", filename="nov.csv")
    assert (report.format, report.filename, report.summary["unmatched"]) == ("csv", "nov.csv", 1)
    (line,) = report.lines
    assert (line.outcome, line.amount, line.currency_code, line.bank_reference) == (
        "unmatched",
        1250,
        "EUR",
        "bank-1",
    )
    assert payreq.get_statement_import(report.id) == report


class LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request for real, but loses the answer to the first create, as a
    dropped connection would: the payment exists, the client never heard of it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = 0
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path == "/payment/request":
            self.keys.append(request.headers["idempotency-key"])
            if not self.lost:
                self.lost += 1
                response.read()
                response.close()
                raise httpx.ReadError("connection reset after the request was sent")
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_create_whose_answer_was_lost_is_retried_into_one_payment(local_server: LocalServer) -> None:
    transport = LoseFirstAnswer()
    ref = reference()
    with Client(**local_server.client_options(), transport=transport) as payreq:
        payment = payreq.create_payment_request(
            amount=777, currency="USD", redirect_url=THANKS, reference_id=ref
        )
        listed = list(payreq.list_payment_requests(reference_id=ref))
    # the retry (and any after a 429 from the key's budget, which other tests share) repeats the key
    assert transport.lost == 1 and len(transport.keys) >= 2 and len(set(transport.keys)) == 1
    assert [p.id for p in listed] == [payment.id]  # replayed, not created twice


def test_a_revoked_access_token_is_replaced_on_its_401(local_server: LocalServer) -> None:
    with Client(**local_server.client_options()) as payreq:
        payment = payreq.create_payment_request(amount=100, currency="USD", redirect_url=THANKS)
        old = payreq._core.tokens.token
        assert old is not None
        revoked = httpx.post(
            f"{local_server.base_url}/oauth/revoke",
            data={"token": old},
            auth=(local_server.client_id, local_server.client_secret),
        )
        assert revoked.status_code == 200
        assert payreq.get_payment_request(payment.id).id == payment.id
        assert payreq._core.tokens.token not in (None, old)


def test_one_client_shared_by_threads_stays_under_the_budget(local_server: LocalServer) -> None:
    payment = local_server.client.create_payment_request(amount=100, currency="USD", redirect_url=THANKS)
    time.sleep(1.1)
    statuses = Statuses()
    with (
        httpx.Client(event_hooks={"response": [statuses]}) as http,
        Client(**local_server.client_options(), http_client=http) as payreq,
    ):

        def read_twice() -> None:
            for _ in range(2):
                assert payreq.get_payment_request(payment.id).id == payment.id

        threads = [threading.Thread(target=read_twice) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.seen.count(200) == 17  # one token, 16 reads
    assert 429 not in statuses.seen
