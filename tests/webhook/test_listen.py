"""`payreq listen --forward-to URL`: an application's events, as they happen, POSTed to
a local URL with the headers and body of a real delivery, signed with its secret."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from standardwebhooks import Webhook

from payreq.config import Settings
from payreq.payment.lifecycle import Status
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.fixtures.live import PAYREQ, environment
from tests.webhook.conftest import event_ids, eventually, settle
from tests.webhook.receiver import Receiver


@contextmanager
def listening(settings: Settings, tmp_path: Path, *args: str) -> Iterator[tuple[Path, Path]]:
    out, err = tmp_path / "listen.out", tmp_path / "listen.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [PAYREQ, "listen", *args], env=environment(settings.database_url), stdout=stdout, stderr=stderr
        )
    try:
        yield out, err
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def test_listen_forwards_new_events_signed_with_the_applications_secret(
    services: Services, settings: Settings, merchant: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    before = await merchant.create_payment()
    client_id = merchant.credentials.application_client_id
    with listening(
        settings, tmp_path, "--forward-to", receiver.url("/local"), "--application", client_id
    ) as (
        out,
        err,
    ):
        await eventually(lambda: "Ready!" in err.read_text(), timeout=15)
        payment = await merchant.create_payment()
        await settle(services, merchant, payment["id"], Status.PAID)
        ids = await event_ids(services, payment["id"])
        await eventually(lambda: set(receiver.ids()) == set(ids.values()), timeout=10)
        await eventually(lambda: out.read_text().count("-> 200") == 2)
    assert "payment.paid" in out.read_text()
    assert before["id"] not in str([r.body for r in receiver.received])  # it happened before listening
    for request in receiver.received:
        assert request.path == "/local"
        event = Webhook(merchant.credentials.webhook_secret).verify(request.body, request.headers)
        assert event["data"]["id"] == payment["id"]
    paid = receiver.of(ids["payment.paid"])[0]
    assert (
        Webhook(merchant.credentials.webhook_secret).verify(paid.body, paid.headers)["type"] == "payment.paid"
    )


async def test_listen_since_and_events_filter(
    services: Services, settings: Settings, merchant: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    earlier = await merchant.create_payment()
    await settle(services, merchant, earlier["id"], Status.CANCELLED)
    args = ["--forward-to", receiver.url(), "--account", merchant.credentials.account_id]
    with listening(
        settings, tmp_path, *args, "--since", earlier["created_at"], "--events", "payment.cancelled"
    ):
        cancelled = (await event_ids(services, earlier["id"]))["payment.cancelled"]
        await eventually(lambda: receiver.ids() == [cancelled], timeout=15)


def test_listen_needs_one_thing_to_listen_to(settings: Settings) -> None:
    done = subprocess.run(
        [PAYREQ, "listen", "--forward-to", "http://localhost:1/x"],
        env=environment(settings.database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--application CLIENT_ID or --account ACCOUNT_ID" in done.stderr
