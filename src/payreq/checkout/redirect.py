"""Where the payer goes after a terminal status: the payment's stored ``redirect_url``
with ``payment_request_id``, ``status`` and (if set) ``reference_id`` added to its
query. The merchant's own query parameters and fragment are kept; parameters of
those three names are replaced, never duplicated. Nothing comes from the request:
the target was validated when the payment was created and is never overridden.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from payreq.kit.urls import normalise_url
from payreq.payment.models import Payment

ADDED = ("payment_request_id", "status", "reference_id")
_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?")
"""A host name as ``kit.urls`` accepts it for a redirect: underscores (which browsers
follow) and a trailing dot (the root) included."""
_CSP_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?")
"""A host name a CSP host-source can spell: no underscore (CSP 3 ``host-char``)."""
_IPV6 = re.compile(r"[0-9a-f:.]+:[0-9a-f:.]*")


def _normal(url: str) -> str:
    """URLs are normalised when payments are created; one stored before that may not be."""
    try:
        return normalise_url(url)
    except ValueError:
        return url


def return_url(payment: Payment) -> str:
    parts = urlsplit(_normal(payment.redirect_url))
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ADDED]
    added = [("payment_request_id", str(payment.id)), ("status", payment.status.value)]
    if payment.reference_id is not None:
        added.append(("reference_id", payment.reference_id))
    return urlunsplit(parts._replace(query=urlencode(kept + added)))


def origin(url: str) -> str | None:
    """``https://shop.example:8443``, the normalised (IDNA) origin of ``url``, or None
    if its host is odd."""
    parts = _origin_parts(url)
    return None if parts is None else "".join(parts)


def form_action_source(url: str) -> str | None:
    """The CSP ``form-action`` source that lets the checkout's forms redirect to
    ``url``: its origin, or its scheme alone (``https:``) for a host name a CSP
    host-source cannot spell (an underscore), whose redirect Chrome would otherwise
    block after the payment changed."""
    parts = _origin_parts(url)
    if parts is None:
        return None
    scheme, host, port = parts
    if host.startswith("[") or _CSP_NAME.fullmatch(host):
        return f"{scheme}{host}{port}"
    return scheme.removesuffix("//")


def _origin_parts(url: str) -> tuple[str, str, str] | None:
    """``("https://", "shop.example", ":8443")``."""
    parts = urlsplit(_normal(url))
    try:
        hostname, port = parts.hostname or "", parts.port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http"):
        return None
    if _NAME.fullmatch(hostname):
        host = hostname
    elif _IPV6.fullmatch(hostname):
        host = f"[{hostname}]"
    else:
        return None
    return f"{parts.scheme}://", host, f":{port}" if port is not None else ""
