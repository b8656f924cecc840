"""Ids are path segments that never reach another resource (a hostile or mistaken id
such as ``..`` once archived the application its token belonged to): against a real
``payreq serve``, a refused id raises ValueError before anything is sent, and any other
id is percent-encoded so that it names nothing but a missing resource (404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from payreq.client import Client, NotFoundError
from payreq.testing import LocalServer
from tests.client.fakes import Recorder, client

REFUSED = ["..", ".", "", "a/b", "x/../y", "tokens/..", "a\\b"]
QUOTED = ["%2e%2e", "%2E%2E", "..%2F", "%2F", "%252e%252e", "a?b", "a#b", "a;b", " .."]


def victim(payreq: Client) -> tuple[str, str]:
    app = payreq.create_application(name="victim").client_id
    token = payreq.create_client_token(app, label="kept", scopes=["*"]).id
    return app, token


def untouched(payreq: Client, app: str, token: str) -> None:
    assert payreq.get_application(app).name == "victim"
    assert [t.id for t in payreq.list_client_tokens(app)] == [token]
    payreq.delete_application(app)  # the session's server is shared: leave no extra application


@pytest.mark.parametrize("bad", REFUSED)
def test_an_id_no_quoting_makes_safe_is_refused_before_sending(local_server: LocalServer, bad: str) -> None:
    payreq = local_server.client
    app, token = victim(payreq)
    with pytest.raises(ValueError) as raised:
        payreq.revoke_client_token(app, bad)
    assert (
        str(raised.value)
        == f"{bad!r} is not an id: an id is never empty, '.' or '..', and has no '/' or '\\'"
    )
    with pytest.raises(ValueError, match="is not an id"):
        payreq.delete_application(bad)
    with pytest.raises(ValueError, match="is not an id"):
        payreq.get_application(f"{app}/tokens")  # would list the tokens if %2F were decoded
    untouched(payreq, app, token)


@pytest.mark.parametrize("bad", QUOTED)
def test_any_other_id_names_only_a_missing_resource(local_server: LocalServer, bad: str) -> None:
    payreq = local_server.client
    app, token = victim(payreq)
    with pytest.raises(NotFoundError) as raised:
        payreq.revoke_client_token(app, bad)
    assert raised.value.status == 404
    with pytest.raises(NotFoundError):
        payreq.delete_application(bad)
    with pytest.raises(NotFoundError):
        payreq.get_payment(bad)
    untouched(payreq, app, token)


def _every_id_method(payreq: Client, bad: str) -> list[Callable[[], Any]]:
    return [
        lambda: payreq.get_payment_request(bad),
        lambda: payreq.cancel_payment_request(bad),
        lambda: payreq.get_payment(bad),
        lambda: payreq.get_instructions(bad, "sandbox"),
        lambda: payreq.simulate_payment(bad, "paid"),
        lambda: payreq.get_application(bad),
        lambda: payreq.update_application(bad, name="x"),
        lambda: payreq.delete_application(bad),
        lambda: payreq.rotate_webhook_secret(bad),
        lambda: payreq.create_client_token(bad, label="l", scopes=["*"]),
        lambda: payreq.list_client_tokens(bad),
        lambda: payreq.revoke_client_token(bad, "t1"),
        lambda: payreq.revoke_client_token("a" * 32, bad),
        lambda: payreq.get_event(bad),
        lambda: payreq.redeliver_event(bad),
        lambda: payreq.get_statement_import(bad),
    ]


@pytest.mark.parametrize("bad", REFUSED)
def test_every_method_that_takes_an_id_refuses_it_without_a_request(bad: str) -> None:
    wire = Recorder(lambda request: httpx.Response(500))
    payreq = client(wire, token=True)
    for call in _every_id_method(payreq, bad):
        with pytest.raises(ValueError, match="is not an id"):
            call()
    assert wire.requests == []
