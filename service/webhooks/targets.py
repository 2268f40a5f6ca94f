"""Which webhook URLs may be called, and the one checked address each call must connect to.

A webhook URL is typed by an API user, so calling it on their behalf is a server-side request
forgery risk: the URL could point at the loopback interface, the private network, or the cloud
metadata service, directly or in disguise (``2130706433``, ``[::ffff:127.0.0.1]``, a name whose
DNS answer is private). So the rules are applied to the addresses the name resolves to, not to
the text, at registration and again at every delivery, and the address that passed is handed
on in :class:`Target` so that the connection goes to it and the name is never resolved a second
time (a DNS answer that changes between check and connect, "DNS rebinding", gains nothing).

Addresses are classified with :mod:`ipaddress`; IPv6 forms that carry an IPv4 address
(IPv4-mapped, 6to4, Teredo, the NAT64 prefix) are judged by the address they carry.

``allow_private=True`` (the WEBHOOK_ALLOW_PRIVATE setting, for tests and private deployments)
lifts both the https-only rule and the address rules.

Nothing here imports Flask, Celery or SQLAlchemy: the module is shared by the API (checks at
registration) and the worker (checks before each delivery).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_PUBLIC_ONLY = "webhook URLs must reach a public address"
# Printable ASCII is kept as it is; only non-ASCII characters of the path get percent-encoded,
# because the request line must be ASCII.
_ASCII_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))


class RefusedTarget(ValueError):
    """A webhook URL that must not be called; ``str(exc)`` is the message shown to the API user."""


@dataclass(frozen=True)
class Target:
    url: str  # as given
    scheme: str  # "https", or "http" when private targets are allowed
    host: str  # the host of the URL, IDNA-encoded and lower case, without brackets for IPv6
    port: int
    path: str  # path and query, at least "/"
    address: str  # the checked IP address to connect to


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    path: str


def check_url(url: str, allow_private: bool) -> str:
    """The URL itself when its syntax may be used as a webhook; raises :class:`RefusedTarget`.

    No DNS is asked; a host that is an IP literal is judged by the address rules already.
    """
    _parse(url, allow_private)
    return url


def resolve_target(url: str, allow_private: bool) -> Target:
    """The URL checked, its host resolved, and every address it resolves to checked."""
    parsed = _parse(url, allow_private)
    addresses = _resolve(parsed.host, parsed.port)
    if not allow_private:
        _refuse_any(parsed.host, addresses)
    return Target(url, parsed.scheme, parsed.host, parsed.port, parsed.path, addresses[0])


def address_refusal(address: str) -> str | None:
    """None when a connection to this IP address is allowed, else why not ("loopback", "private", ...)."""
    ip = _literal(address)
    if ip is None:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
        for inner in embedded:
            reason = _refusal(inner)
            if reason:
                return f"{reason} (it embeds {inner})"
        # Such an address reaches the IPv4 address it carries, which passed. (Python's own view of
        # these prefixes changed between 3.11 patch releases: 2002::/16 was "private" up to 3.11.9.)
        return None
    return _refusal(ip)


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    # The specific reasons come first; is_global alone would also refuse most of these, with a
    # vaguer message, and it lets multicast and IPv6 site-local addresses through.
    if ip in METADATA_ADDRESSES:
        return "the cloud metadata address"
    for reason, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return reason
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo:
        found.append(ip.teredo[1])  # the client's address; the server part is only a relay
    if ip in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


def _refuse_any(host: str, addresses: list[str]) -> None:
    # Every address is checked, not only the first: the attacker controls the DNS answer and its
    # order, and a client that falls back to the next address would reach a refused one.
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise RefusedTarget(_address_message(address, host, reason))


def _address_message(address: str, host: str, reason: str) -> str:
    named = "" if _literal(address) == _literal(host) else f" of {host}"
    return f"the address {address}{named} is {reason}; {_PUBLIC_ONLY}"


def _literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host or address text is, without its scope; None for a name."""
    try:
        # A scope ("%eth0") says which interface, not which address: it does not change the verdict.
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise RefusedTarget(f"the host name {host} does not resolve ({exc.strerror or exc})") from None
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    if not addresses:
        raise RefusedTarget(f"the host name {host} does not resolve (no address)")
    return addresses


def _parse(url: str, allow_private: bool) -> _Parsed:
    parts = _split(url)
    scheme = _scheme(parts, allow_private)
    if "@" in parts.netloc:
        raise RefusedTarget("webhook URLs must not contain a user name or password")
    host = _host(parts)
    if not allow_private and _literal(host) is not None:
        # An IP literal needs no DNS to be judged, so it is refused already at this syntax stage.
        _refuse_any(host, [host])
    return _Parsed(scheme, host, _port(parts, scheme), _path(parts))


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise RefusedTarget("the webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"the URL is {len(url)} characters long; webhook URLs may have at most {MAX_URL_LENGTH}")
    # urlsplit silently drops tabs and newlines and strips spaces; refusing them keeps the URL
    # that was checked the same as the one the user sees.
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise RefusedTarget("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise RefusedTarget(f"{_shown(url)} is not a URL ({exc})") from None
    if "://" not in url or not parts.scheme:
        raise RefusedTarget(f"{_shown(url)} is not a URL; expected https://host/path")
    return parts


def _scheme(parts: SplitResult, allow_private: bool) -> str:
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        wanted = "https or http" if allow_private else "https"
        raise RefusedTarget(f"the scheme {parts.scheme!r} is not allowed; webhook URLs must use {wanted}")
    return parts.scheme


def _host(parts: SplitResult) -> str:
    host = parts.hostname
    if not host:
        raise RefusedTarget("the URL has no host")
    if _literal(host) is not None:
        return host
    try:
        # The ASCII form is what DNS, TLS (SNI) and the Host header all need.
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise RefusedTarget(f"the host name {host!r} is not a valid domain name") from None


def _port(parts: SplitResult, scheme: str) -> int:
    hostport = parts.netloc.rpartition("]")[2] if parts.netloc.startswith("[") else parts.netloc
    _, colon, text = hostport.rpartition(":")
    if not colon or not text:
        return DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()):
        raise RefusedTarget(f"the port {text!r} is not a number")
    if not 1 <= int(text) <= 65535:
        raise RefusedTarget(f"the port {text} is outside 1..65535")
    return int(text)


def _path(parts: SplitResult) -> str:
    query = f"?{quote(parts.query, safe=_ASCII_SAFE)}" if parts.query else ""
    return quote(parts.path or "/", safe=_ASCII_SAFE) + query


def _shown(url: str) -> str:
    return repr(url if len(url) <= 80 else url[:77] + "...")
