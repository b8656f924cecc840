"""The subject a credential stands for, per request: ``at(address)`` is the cached
subject with the request's address, exactly as ``dataclasses.replace`` makes it; and
the rate-limit headers its answers carry, built as bytes, exactly as documented."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from payreq.auth.dependencies import rate_header_pairs, rate_headers
from payreq.auth.subject import CLONES_KEPT, AuthSubject, CredentialKind, Tenant
from payreq.http import HEADERS_KEY, add_scope_headers
from payreq.ratelimit.backend import Decision


def _subject() -> AuthSubject:
    return AuthSubject(
        kind=CredentialKind.ACCESS_TOKEN,
        credential_id=uuid.uuid4(),
        tenant=Tenant(uuid.UUID("6e9db280-9481-412a-9e6c-af05a3175f95"), "sandbox"),
        scopes=frozenset({"*"}),
        application_id=None,
        rate_key="key:k",
        rate_limit=7,
        account_rate_limit=9,
        api_key_id=uuid.uuid4(),
        label="client",
    )


def test_a_subject_at_an_address_is_the_replaced_subject_field_for_field() -> None:
    cached = _subject()
    here = cached.at("203.0.113.9")
    assert here == dataclasses.replace(cached, address="203.0.113.9")
    for f in dataclasses.fields(AuthSubject):
        expected = "203.0.113.9" if f.name == "address" else getattr(cached, f.name)
        assert getattr(here, f.name) == expected, f.name
    assert cached.address is None  # the cached one is untouched


def test_each_address_gets_its_own_subject_however_many_poll() -> None:
    """``at`` keeps its copies (one per address, up to CLONES_KEPT): whatever is kept,
    a request's subject carries that request's address."""
    cached = _subject()
    addresses = [f"198.51.100.{n}" for n in range(CLONES_KEPT * 2 + 3)]
    for address in [*addresses, *reversed(addresses), "198.51.100.0", None]:
        here = cached.at(address)
        assert here.address == address
        assert here == dataclasses.replace(cached, address=address)
        assert here.at("192.0.2.1").address == "192.0.2.1"
    assert cached.address is None
    assert cached.at("192.0.2.7") is cached.at("192.0.2.7")  # kept, not made again


def test_the_account_budget_key_names_the_account_and_environment() -> None:
    subject = _subject()
    assert subject.account_rate_key == "acct:6e9db280-9481-412a-9e6c-af05a3175f95:sandbox"
    assert subject.account_text == "6e9db280-9481-412a-9e6c-af05a3175f95"
    production = dataclasses.replace(subject, tenant=Tenant(subject.tenant.account_id, "production"))
    assert production.account_rate_key == "acct:6e9db280-9481-412a-9e6c-af05a3175f95:production"
    assert production.at("x").account_rate_key == production.account_rate_key


@given(
    limit=st.integers(min_value=1, max_value=10**9),
    used=st.integers(min_value=0, max_value=10**9),
    reset=st.floats(min_value=0, max_value=3600, allow_nan=False),
    name=st.sampled_from(["key", "account", "failures"]),
    window=st.sampled_from([1.0, 10.0, 0.5, 60.0]),
    allowed=st.booleans(),
)
def test_the_rate_headers_as_bytes_are_the_documented_headers(
    limit: int, used: int, reset: float, name: str, window: float, allowed: bool
) -> None:
    decision = Decision(allowed, limit, max(0, limit - used), reset, name, window)
    remaining, seconds = max(0, limit - used), max(0, math.ceil(reset))
    documented = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(seconds),
        "RateLimit-Policy": f'"{name}";q={limit};w={window:g}',
        "RateLimit": f'"{name}";r={remaining};t={seconds}',
    }
    assert rate_headers(decision) == documented
    expected: dict[str, Any] = {HEADERS_KEY: []}
    add_scope_headers(expected, documented)
    assert rate_header_pairs(decision) == expected[HEADERS_KEY]
    assert rate_header_pairs(decision) == expected[HEADERS_KEY]  # from the cached parts too
