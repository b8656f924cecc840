"""Validation of URLs that a merchant gives us (redirects, later webhooks)."""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2048
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
"""A host name's label in its ASCII (IDNA) form: letters, digits and hyphens, not at
either end, 1 to 63 of them (RFC 1123); underscores too, which browsers follow."""


def redirect_url_problem(url: str, *, sandbox: bool) -> str | None:
    """Why ``url`` may not be a redirect target, or None if it may.

    https with a host is required; sandbox also allows http://localhost and
    http://127.0.0.1 so that merchants can develop locally. Credentials in the URL,
    control characters, backslashes and whitespace are refused: browsers read them
    differently from parsers, which is how open redirects are made.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if has_hidden_characters(url):
        return "must not contain whitespace, control, format or invisible characters, or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if port == 0:
        return "has port 0, which no browser can reach"
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "must be an absolute https URL"
    if not url.lower().startswith(f"{parts.scheme}://"):
        return "must be an absolute https URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain credentials"
    if parts.scheme == "http" and not (sandbox and host in LOCAL_HOSTS):
        if host in LOCAL_HOSTS:
            return "may use http://localhost or http://127.0.0.1 only in the sandbox"
        return "must use https"
    normal = _normalised(url)
    if normal is None:
        return "has a host name that is not a valid internationalised name"
    if len(normal) > MAX_URL_LENGTH:  # non-ASCII grows threefold when percent-encoded
        return f"must be at most {MAX_URL_LENGTH} characters once percent-encoded"
    if not _reachable_host(normal):
        return "has a host name a browser cannot follow (an empty or malformed label, or a percent-escape)"
    return None


@functools.lru_cache(maxsize=1024)
def _reachable_host(normal: str) -> bool:
    """Whether the host of a normalised URL is an IP literal or a name made of valid
    labels (an optional trailing dot is the root): ``https://a..b/``, ``https://.``,
    ``https://-x-.example/`` and ``https://ex%00ample.com/`` parse, but lead a payer who
    has just paid to a browser's error page."""
    host = urlsplit(normal).hostname or ""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return bool(name) and all(_LABEL.fullmatch(label) for label in name.split("."))


def has_hidden_characters(url: str) -> bool:
    """Whitespace, control, format or invisible characters (Unicode categories Z and C),
    or a backslash. For ASCII, the Z and C characters are exactly the space and what
    ``isprintable`` refuses, which spares the per-character look-up of a typical URL."""
    if url.isascii():
        return not url.isprintable() or " " in url or "\\" in url
    return any(ch == "\\" or unicodedata.category(ch)[0] in "CZ" for ch in url)


def normalise_url(url: str) -> str:
    """The URL as a browser sends it: the host in IDNA (``xn--``) form and lower case,
    everything else UTF-8 percent-encoded, so that it is ASCII and fits an HTTP header
    (a ``Location``, a CSP's ``form-action``). ValueError if that cannot be done."""
    normal = _normalised(url)
    if normal is None or len(normal) > MAX_URL_LENGTH:
        raise ValueError(f"not a URL that can be normalised: {url!r}")
    return normal


@functools.lru_cache(maxsize=1024)
def _normalised(url: str) -> str | None:
    """httpx's parser is most of a payment creation's URL checks (about 40 us a call, and
    a creation checks then stores the same URL); many payments share a redirect URL."""
    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 (decodes the IDNA host: raises for an invalid one)
    except (httpx.InvalidURL, ValueError):  # idna's errors are ValueErrors
        return None
    normal = str(parsed)
    if not normal.isascii():
        return None
    return normal
