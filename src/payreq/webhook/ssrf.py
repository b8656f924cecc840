"""Where webhooks may go (SPEC §6): a merchant's URL must not turn payreq into a proxy
into the operator's own network (server-side request forgery).

URLs are https and resolve only to public addresses, in production and in the sandbox
alike (on a server where anyone can sign up, a sandbox is no way into the gateway's own
host); the operator may allow private networks, loopback included
(``PAYREQ_WEBHOOK_ALLOW_PRIVATE``; ``make run`` allows loopback), and those may be
reached over plain http. A URL's host must also be one the sender can send to, as
strictly as httpx judged it when payreq sent with httpx (IDNA 2008).

A URL is checked when it is saved, with its name resolved asynchronously
(``loop.getaddrinfo`` under a time-out) before the unit of work opens
(``check_webhook_url``), and again when each attempt connects: ``sender.GuardedResolver``
resolves the name for aiohttp's connector, checks every address, and hands back only
checked ones, to which the connector connects, so that a name re-pointed after the
check (DNS rebinding) reaches nothing it should not; ``guarded_socket_factory`` checks
every socket's address once more. TLS still verifies the URL's name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit

import idna

from payreq.kit.urls import MAX_URL_LENGTH

if TYPE_CHECKING:
    from aiohappyeyeballs import AddrInfoType

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

SAVE_TIME_DNS_TIMEOUT = 2.0
"""Seconds a save may wait for DNS; a name that does not resolve in time is accepted
(every attempt checks again before it connects)."""

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
"""RFC 2765's IPv4-translated addresses (``::ffff:0:a.b.c.d``), which a SIIT translator
forwards to the IPv4 address they carry; Python's ``ipaddress`` does not see it."""
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
"""IANA's IPv6 global unicast space: everything outside it is reserved or special
(site-local fec0::/10, the ::/8 forms, 5f00::/16 SRv6...), whatever ``is_global`` says
of it on a given Python (3.11 calls fec0::1 global)."""
_NOT_GLOBAL: tuple[Network, ...] = (
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890); 3.11 misses 192.0.0.8
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637), unknown to Python before 3.13
)
"""Special-purpose ranges that ``ipaddress.is_global`` calls global on Python 3.11."""
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


def parse_networks(value: str) -> tuple[Network, ...] | None:
    """``PAYREQ_WEBHOOK_ALLOW_PRIVATE``: ``"10.0.0.0/8, fd00::/8"``; ``"*"`` (None) allows all."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if "*" in parts:
        return None
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)
    except ValueError as exc:
        raise ValueError(f"PAYREQ_WEBHOOK_ALLOW_PRIVATE: {exc}; use CIDR networks or *") from None


@dataclass(frozen=True)
class UrlPolicy:
    """The operator's allowance beyond public addresses."""

    private: tuple[Network, ...] = ()
    all_private: bool = False

    @classmethod
    def of(cls, value: str) -> UrlPolicy:
        networks = parse_networks(value)
        return cls(all_private=True) if networks is None else cls(private=networks)

    def allows_private(self, ip: IPAddress) -> bool:
        """A non-public address the operator allows."""
        if is_public(ip):
            return False
        return self.all_private or any(ip.version == n.version and ip in n for n in self.private)


@dataclass(frozen=True)
class Reach:
    """The addresses one URL may connect to."""

    public: bool
    """Public addresses (https URLs only)."""
    policy: UrlPolicy

    def allows(self, ip: IPAddress) -> bool:
        if self.policy.allows_private(ip):
            return True
        return self.public and is_public(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, translated, compatible, 6to4,
    NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 or ip in _TRANSLATED or any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """A global unicast address: not private, loopback, link-local (169.254.169.254, the
    cloud metadata service), shared, reserved, site-local, multicast or unspecified; an
    IPv6 address that carries an IPv4 one is judged by the IPv4 one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
        if ip.is_site_local or ip not in _GLOBAL_UNICAST:
            return False
    if any(ip in net for net in _NOT_GLOBAL if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells, in any form a resolver accepts: ``10.0.0.1``,
    ``::1``, and the legacy ``0x7f000001``, ``2130706433`` or ``0177.1``."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host) and any(ch.isdigit() for ch in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def reach_for(scheme: str, *, policy: UrlPolicy) -> Reach:
    return Reach(public=scheme == "https", policy=policy)


def _is_local_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def syntax_problem(url: str) -> str | None:
    """What is wrong with ``url`` itself, before any address is looked at."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(ch == "\\" or unicodedata.category(ch)[0] in "CZ" for ch in url):
        return "must not contain whitespace, control, format or invisible characters, or backslashes"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "is not a valid URL"
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host or not url.lower().startswith(f"{parts.scheme}://"):
        return "must be an absolute https URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain credentials"
    if not _encodable(host, bracketed="[" in parts.netloc):
        return "has a host name that cannot be sent to (not a valid internationalised name)"
    return None


_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


def _encodable(host: str, *, bracketed: bool) -> bool:
    """A host as strict as the HTTP client payreq sent with before (httpx): IDNA 2008,
    without the UTS 46 mapping that would quietly send ``ﬁ.example`` to ``fi.example``;
    ASCII names that claim to be punycode (``xn--``) must decode; a dotted quad must be
    an IPv4 address and a bracketed host an IPv6 one."""
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if _IPV4_STYLE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    try:
        if host.isascii():
            if host.lower().startswith("xn--"):
                idna.decode(host)
        else:
            idna.encode(host.lower())
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


def ascii_host(host: str) -> str:
    """The name the sender asks DNS for: IDNA 2008 (as ``_encodable`` accepts it, and as
    aiohttp's URLs write it), not the IDNA 2003 that ``socket.getaddrinfo`` applies to a
    name given as text, which writes ``straße.example`` as ``strasse.example``, another
    domain, where the sender asks for ``xn--strae-oqa.example``."""
    return host if host.isascii() else idna.encode(host.lower()).decode("ascii")


def refused(ip: IPAddress) -> str:
    return f"must resolve only to public addresses, not {ip}"


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def webhook_url_problem(url: str, *, policy: UrlPolicy, addresses: list[IPAddress] | None) -> str | None:
    """Why ``url`` may not receive webhooks, or None if it may, given the addresses its
    name resolved to (``resolve``; None: not resolved, the name is accepted and every
    attempt checks again). A literal address or a ``localhost`` name needs none."""
    problem = syntax_problem(url)
    if problem:
        return problem
    scheme, host = urlsplit(url).scheme, host_of(url)
    reach = reach_for(scheme, policy=policy)
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    elif _is_local_name(host):  # this machine, whatever a resolver says
        addresses = [ipaddress.IPv4Address("127.0.0.1")]
    for ip in addresses or []:
        if not reach.allows(ip):
            if scheme == "http" and Reach(True, policy).allows(ip):
                return "must use https"
            return refused(ip)
    if scheme == "http" and not addresses:
        return "must use https"
    return None


def needs_resolving(url: str) -> bool:
    host = host_of(url)
    return bool(host) and literal_address(host) is None and not _is_local_name(host)


async def resolve(host: str, *, timeout: float = SAVE_TIME_DNS_TIMEOUT) -> list[IPAddress]:  # noqa: ASYNC109
    """Addresses of ``host`` without blocking the event loop (the loop's resolver
    runs in a thread), or none if it does not resolve within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(
                ascii_host(host), None, type=socket.SOCK_STREAM
            )
    except (OSError, UnicodeError, TimeoutError):  # idna.IDNAError is a UnicodeError
        return []
    return _addresses(info[4][0] for info in infos)


async def check_webhook_url(url: str, *, policy: UrlPolicy) -> str | None:
    """The save-time check, name resolution included: call it before any unit of work
    opens (it may wait up to ``SAVE_TIME_DNS_TIMEOUT`` for a slow nameserver)."""
    if syntax_problem(url) is None and needs_resolving(url):
        return webhook_url_problem(url, policy=policy, addresses=await resolve(host_of(url)))
    return webhook_url_problem(url, policy=policy, addresses=None)


def _addresses(texts: Iterable[str | int]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for text in texts:
        ip = ipaddress.ip_address(str(text).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


class BlockedAddress(OSError):
    """The URL's host resolved to an address this URL may not reach."""


class Unresolvable(OSError):
    """The URL's host has no address (or its lookup failed)."""


async def checked_addresses(reach: Reach, host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to now, if this URL may reach every one of them:
    a name pointing at one public and one private address is refused whole."""
    name = host.strip("[]").rstrip(".")
    literal = literal_address(name)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"{name} does not resolve: {exc}") from exc
        addresses = _addresses(info[4][0] for info in infos)
    for ip in addresses:
        if not reach.allows(ip):
            raise BlockedAddress(f"refused: {name} resolves to {ip}, which this URL may not reach")
    if not addresses:
        raise Unresolvable(f"{name} has no address")
    return addresses


def guarded_socket_factory(reach: Reach) -> Callable[[AddrInfoType], socket.socket]:
    """The last check, where the socket is made: none is ever opened towards an address
    the URL may not reach, whatever path led there."""

    def make(info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = info
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if not reach.allows(ip):
            raise BlockedAddress(f"refused: {ip} is an address this URL may not reach")
        return socket.socket(family, kind, proto)

    return make
