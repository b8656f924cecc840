"""Credentials from arguments or from the environment: PAYREQ_* and the seeds' names."""

from __future__ import annotations

import warnings

import pytest

from payreq.client import Client, InsecureTransportWarning
from payreq.client._env import resolve

NONE = {
    "base_url": None,
    "client_id": None,
    "client_secret": None,
    "client_token": None,
    "application_client_id": None,
    "scope": None,
}


def test_an_api_key_from_payreq_variables() -> None:
    env = {"PAYREQ_BASE_URL": "https://pay.example", "PAYREQ_CLIENT_ID": "id", "PAYREQ_CLIENT_SECRET": "s"}
    creds, app = resolve(**NONE, environ=env)
    assert (creds.base_url, creds.client_id, creds.client_secret, creds.client_token, app) == (
        "https://pay.example",
        "id",
        "s",
        None,
        None,
    )


def test_the_seeds_names_give_the_client_token_and_the_application() -> None:
    env = {
        "PAYREQ_BASE_URL": "https://pay.example",
        "PAYMENT_CLIENT_TOKEN": "prq_ct",
        "PAYMENT_CLIENT_ID": "a" * 32,
    }
    creds, app = resolve(**NONE, environ=env)
    assert (creds.client_token, creds.client_id, app) == ("prq_ct", None, "a" * 32)
    env["PAYREQ_CLIENT_TOKEN"] = "prq_ct_payreq"
    assert resolve(**NONE, environ=env)[0].client_token == "prq_ct_payreq"


def test_arguments_win_over_the_environment() -> None:
    env = {"PAYREQ_BASE_URL": "https://env.example", "PAYREQ_CLIENT_ID": "id", "PAYREQ_CLIENT_SECRET": "s"}
    creds, _ = resolve(**{**NONE, "base_url": "https://arg.example", "client_token": "t"}, environ=env)
    assert (creds.base_url, creds.client_token, creds.client_id) == ("https://arg.example", "t", None)


def test_an_api_key_is_preferred_when_the_environment_has_both() -> None:
    env = {
        "PAYREQ_BASE_URL": "https://b.example",
        "PAYREQ_CLIENT_ID": "id",
        "PAYREQ_CLIENT_SECRET": "s",
        "PAYMENT_CLIENT_TOKEN": "t",
    }
    assert resolve(**NONE, environ=env)[0].client_id == "id"


@pytest.mark.parametrize(
    ("given", "env", "message"),
    [
        ({}, {}, "base_url"),
        ({}, {"PAYREQ_BASE_URL": "b"}, "client_id and client_secret"),
        ({"client_id": "id"}, {"PAYREQ_BASE_URL": "b"}, "client_id and client_secret"),
        ({"client_id": "i", "client_secret": "s", "client_token": "t"}, {"PAYREQ_BASE_URL": "b"}, "not both"),
    ],
)
def test_missing_or_ambiguous_credentials_are_a_clear_error(
    given: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(**{**NONE, **given}, environ=env)


def test_the_client_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYREQ_BASE_URL", "https://pay.example/")
    monkeypatch.setenv("PAYMENT_CLIENT_TOKEN", "prq_ct_sbx_abc")
    monkeypatch.setenv("PAYMENT_CLIENT_ID", "b" * 32)
    monkeypatch.delenv("PAYREQ_CLIENT_ID", raising=False)
    monkeypatch.delenv("PAYREQ_CLIENT_TOKEN", raising=False)
    with Client() as payreq:
        assert payreq.base_url == "https://pay.example"
        assert payreq.application_client_id == "b" * 32


@pytest.mark.parametrize("url", ["pay.example.com", "ftp://pay.example.com", "https://", "file:///tmp/x"])
def test_a_base_url_that_is_not_http_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="base_url must be an http"):
        Client(url, client_token="t")


def test_plain_http_to_another_host_warns_once_where_the_client_is_made() -> None:
    with pytest.warns(InsecureTransportWarning, match="unencrypted") as caught:
        Client("http://pay.example.com", client_token="t").close()
    assert len(caught) == 1
    assert caught[0].filename == __file__  # the caller's line, not the SDK's


@pytest.mark.parametrize(
    "url", ["https://pay.example.com", "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_https_and_this_machine_do_not_warn(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(url, client_token="t").close()
