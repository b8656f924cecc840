"""The subject a credential stands for, per request: ``at(address)`` is the cached
subject with the request's address, exactly as ``dataclasses.replace`` makes it."""

from __future__ import annotations

import dataclasses
import uuid

from payreq.auth.subject import AuthSubject, CredentialKind, Tenant


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


def test_the_account_budget_key_names_the_account_and_environment() -> None:
    subject = _subject()
    assert subject.account_rate_key == "acct:6e9db280-9481-412a-9e6c-af05a3175f95:sandbox"
    production = dataclasses.replace(subject, tenant=Tenant(subject.tenant.account_id, "production"))
    assert production.account_rate_key == "acct:6e9db280-9481-412a-9e6c-af05a3175f95:production"
    assert production.at("x").account_rate_key == production.account_rate_key
