"""Credentials from arguments, else from the environment.

| argument | variables, first found wins |
| --- | --- |
| ``base_url`` | ``PAYREQ_BASE_URL`` |
| ``client_id``, ``client_secret`` | ``PAYREQ_CLIENT_ID``, ``PAYREQ_CLIENT_SECRET`` (an API key) |
| ``client_token`` | ``PAYREQ_CLIENT_TOKEN``, ``PAYMENT_CLIENT_TOKEN`` (the seeds' name) |
| ``application_client_id`` | ``PAYREQ_APPLICATION_CLIENT_ID``, ``PAYMENT_CLIENT_ID`` (the seeds' name: the payment application's 32-character Client ID) |
| webhook secret (``payreq.webhooks``) | ``PAYREQ_WEBHOOK_SECRET``, ``WEBHOOK_SECRET`` (the seeds' name) |

Credentials given as arguments are used alone. From the environment, an API key is
preferred to a client token when both are set: an access token can do everything a
client token can, and the dashboard operations besides.

``base_url`` must be an ``http`` or ``https`` URL with a host. Plain ``http`` to a host
other than this machine (``localhost``, ``127.0.0.0/8``, ``::1``) would send the
secret in clear text across a network: the client warns (``InsecureTransportWarning``,
once per client; silence it with the ``warnings`` module where the network is your own).
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Mapping
from urllib.parse import urlsplit

from payreq.client._core import Credentials


class InsecureTransportWarning(UserWarning):
    """The client sends its secret over plain ``http`` to a host that is not this machine."""


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always this machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> None:
    """Refuse a ``base_url`` that is not an http(s) URL; warn of plain http off this machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL such as https://pay.example.com, not {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        warnings.warn(
            f"payreq: base_url {base_url} is plain http to another host: the client's secret "
            "and every answer cross the network unencrypted; use https",
            InsecureTransportWarning,
            stacklevel=4,  # check_base_url <- resolve <- Client.__init__ <- the caller
        )


def first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def resolve(
    *,
    base_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    client_token: str | None,
    application_client_id: str | None,
    scope: str | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Credentials, str | None]:
    env = os.environ if environ is None else environ
    base_url = base_url or first(env, "PAYREQ_BASE_URL")
    if not base_url:
        raise ValueError("payreq needs base_url (or PAYREQ_BASE_URL), such as https://pay.example.com")
    application = application_client_id or first(env, "PAYREQ_APPLICATION_CLIENT_ID", "PAYMENT_CLIENT_ID")
    if client_id or client_secret or client_token:
        if client_token and (client_id or client_secret):
            raise ValueError("pass either client_id and client_secret, or client_token; not both")
    else:
        client_id = first(env, "PAYREQ_CLIENT_ID")
        client_secret = first(env, "PAYREQ_CLIENT_SECRET")
        if not (client_id and client_secret):
            client_id = client_secret = None
            client_token = first(env, "PAYREQ_CLIENT_TOKEN", "PAYMENT_CLIENT_TOKEN")
    if client_token is None and not (client_id and client_secret):
        raise ValueError(
            "payreq needs client_id and client_secret (an API key; or PAYREQ_CLIENT_ID and "
            "PAYREQ_CLIENT_SECRET), or client_token (or PAYREQ_CLIENT_TOKEN / PAYMENT_CLIENT_TOKEN)"
        )
    check_base_url(base_url)
    credentials = Credentials(
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        client_token=client_token,
        scope=scope,
    )
    return credentials, application
