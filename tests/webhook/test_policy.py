"""The retry policy and the signing helpers, as functions: the schedule (about three
days), jitter, Retry-After, 410, the secrets that sign at a given moment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook

from payreq.webhook import signing
from payreq.webhook.config import WebhookConfig, parse_schedule
from payreq.webhook.delivery import DISABLED_BY_410, decide
from payreq.webhook.sender import Outcome, retry_after_seconds

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEFAULT = WebhookConfig()  # the defaults of PAYREQ_WEBHOOK_*


def failure(code: int | None = 500, retry_after: float | None = None) -> Outcome:
    return Outcome(code, 5, "", None if code else "refused", retry_after)


def test_the_default_schedule_is_eleven_attempts_over_about_three_days() -> None:
    assert DEFAULT.schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 72000, 86400)
    total = sum(DEFAULT.schedule)
    assert timedelta(days=3) < timedelta(seconds=total) < timedelta(days=4)
    assert DEFAULT.timeout == 10
    assert DEFAULT.response_bytes == 1024


def test_each_failure_waits_for_the_next_delay_then_the_delivery_fails() -> None:
    config = WebhookConfig(schedule=DEFAULT.schedule, jitter=0)
    step, waits = 0, []
    while True:
        decision = decide(failure(), step=step, at=AT, config=config, rand=lambda: 0.5)
        step = decision.step
        if decision.status == "failed":
            break
        assert decision.status == "pending"
        assert decision.next_attempt_at is not None
        waits.append((decision.next_attempt_at - AT).total_seconds())
    assert waits == list(DEFAULT.schedule[1:])
    assert step == 11


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999])
def test_jitter_stays_within_its_fraction(rand: float) -> None:
    config = WebhookConfig(schedule=(0, 300), jitter=0.1)
    decision = decide(failure(), step=0, at=AT, config=config, rand=lambda: rand)
    assert decision.next_attempt_at is not None
    wait = (decision.next_attempt_at - AT).total_seconds()
    assert 270 <= wait <= 330
    assert wait == pytest.approx(300 * (1 + 0.1 * (2 * rand - 1)))


def test_2xx_is_delivered_and_anything_else_is_not() -> None:
    config = WebhookConfig(schedule=(0, 5), jitter=0)
    for code in (200, 201, 204, 299):
        assert decide(failure(code), step=0, at=AT, config=config, rand=lambda: 0.5).status == "delivered"
    for code in (None, 199, 301, 302, 400, 404, 500, 503):
        assert decide(failure(code), step=0, at=AT, config=config, rand=lambda: 0.5).status == "pending"


def test_410_fails_at_once_and_disables_the_endpoint() -> None:
    decision = decide(failure(410), step=0, at=AT, config=DEFAULT, rand=lambda: 0.5)
    assert (decision.status, decision.disable) == ("failed", DISABLED_BY_410)


def test_retry_after_lengthens_the_wait_but_never_shortens_it() -> None:
    config = WebhookConfig(schedule=(0, 5, 300), jitter=0)
    longer = decide(failure(429, 120), step=0, at=AT, config=config, rand=lambda: 0.5)
    assert longer.next_attempt_at == AT + timedelta(seconds=120)
    shorter = decide(failure(503, 1), step=1, at=AT, config=config, rand=lambda: 0.5)
    assert shorter.next_attempt_at == AT + timedelta(seconds=300)
    capped = decide(failure(429, 10**9), step=0, at=AT, config=config, rand=lambda: 0.5)
    assert capped.next_attempt_at == AT + timedelta(hours=24)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = datetime.now(UTC) + timedelta(seconds=90)
    assert retry_after_seconds(format_datetime(later, usegmt=True)) == pytest.approx(90, abs=2)
    assert retry_after_seconds(format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)) == 0


@pytest.mark.parametrize("value", ["", "5,10", "0,-1", "0,a", "0,nan"])
def test_a_schedule_starts_at_once_and_holds_no_negative_delay(value: str) -> None:
    with pytest.raises(ValueError, match="retry schedule"):
        parse_schedule(value)


def test_the_body_is_type_timestamp_and_the_stored_payment() -> None:
    payload = signing.body("payment.paid", AT, '{"id":"p1","status":"paid"}')
    assert json.loads(payload) == {
        "type": "payment.paid",
        "timestamp": "2026-11-22T12:00:00Z",
        "data": {"id": "p1", "status": "paid"},
    }


def test_the_previous_secret_signs_until_it_expires() -> None:
    new, old = "whsec_" + "A" * 32, "whsec_" + "B" * 32
    assert signing.signing_secrets(new, old, AT + timedelta(seconds=1), now=AT) == [new, old]
    assert signing.signing_secrets(new, old, AT, now=AT) == [new]
    assert signing.signing_secrets(new, None, None, now=AT) == [new]
    headers = signing.headers("evt_1", datetime.now(UTC), "{}", [new, old])
    assert headers["webhook-id"] == "evt_1"
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify("{}", headers) == {}
