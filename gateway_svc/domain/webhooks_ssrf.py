"""Where a webhook may be delivered: the SSRF guard (issue 7; reliability.md "SSRF").

A merchant names a URL and we POST to it from inside our network, so a URL pointing at
``127.0.0.1``, ``10.x``, or the cloud metadata service (``169.254.169.254``) would turn the
gateway into the merchant's proxy into places only we can reach. Two checks:

1. ``check_url`` when an endpoint is created (and again before each attempt): https only
   (unless the development setting allows http), no user:password, a plain host and port,
   and an IP-literal host must pass the address check at once.
2. ``check_addresses`` on *every* address the host resolves to, just before connecting; the
   sender then connects only to an address that passed, so a DNS answer that changes between
   the check and the connect (DNS rebinding) cannot slip past.

Refused unless ``allow_private`` (the development setting ``make run`` uses for its local
demo receiver): loopback, link-local, RFC 1918 private, CGNAT shared space (100.64/10),
unique-local (fc00::/7), site-local, reserved, and anything else not globally routable
(documentation and benchmarking ranges). Refused always, since no receiver can live there:
unspecified (0.0.0.0/8, ::), multicast and broadcast. IPv4 embedded in IPv6 (mapped
``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged by the IPv4 it
reaches as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from svc_kit.faults import FieldViolation

from .errors import WebhookDestinationRefused

__all__ = ["MAX_URL_LEN", "Destination", "IPAddress", "check_addresses", "check_url"]

IPAddress = IPv4Address | IPv6Address
MAX_URL_LEN = 2048
"""Longer URLs are refused: browsers and proxies stop around there too."""

_Net = IPv4Network | IPv6Network
# Never a receiver, whatever the setting.
_ALWAYS: tuple[tuple[_Net, str], ...] = (
    (ip_network("0.0.0.0/8"), "unspecified ('this network')"),
    (ip_network("224.0.0.0/4"), "multicast"),
    (ip_network("255.255.255.255/32"), "broadcast"),
    (ip_network("::/128"), "unspecified"),
    (ip_network("ff00::/8"), "multicast"),
)
# Reachable only from inside; allowed by allow_private. Named for a readable refusal.
_INSIDE: tuple[tuple[_Net, str], ...] = (
    (ip_network("127.0.0.0/8"), "loopback"),
    (ip_network("169.254.0.0/16"), "link-local (the cloud metadata service lives there)"),
    (ip_network("10.0.0.0/8"), "private (RFC 1918)"),
    (ip_network("172.16.0.0/12"), "private (RFC 1918)"),
    (ip_network("192.168.0.0/16"), "private (RFC 1918)"),
    (ip_network("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)"),
    (ip_network("240.0.0.0/4"), "reserved"),
    (ip_network("::1/128"), "loopback"),
    (ip_network("fe80::/10"), "link-local"),
    (ip_network("fc00::/7"), "unique-local (RFC 4193)"),
    (ip_network("fec0::/10"), "site-local"),
)
_NAT64 = IPv6Network("64:ff9b::/96")

_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# A host whose last label is numeric is not a DNS name, and an inet_aton-style form such as
# "127.1" or "0x7f.1" reaches loopback on most resolvers: refuse what is not dotted-quad.
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL that passed ``check_url``, taken apart for the sender."""

    url: str
    scheme: str
    host: str
    """Lower case, without brackets or a trailing dot; an IP literal stays one."""
    port: int
    ip: IPAddress | None
    """The address when the host is an IP literal (already checked)."""


def _embedded_v4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _problem(address: IPAddress, allow_private: bool) -> str | None:
    """Why ``address`` may not be a destination, or None."""
    if isinstance(address, IPv6Address):
        inner = _embedded_v4(address)
        if address.ipv4_mapped is not None and inner is not None:
            # A mapped address *is* its IPv4 on the wire: judge that alone.
            return _problem(inner, allow_private)
        found = _problem(inner, allow_private) if inner is not None else None
        if found is not None:
            return f"{found} (it embeds {inner})"
    for network, why in _ALWAYS:
        if address in network:
            return why
    if allow_private:
        return None
    for network, why in _INSIDE:
        if address in network:
            return why
    if address.is_reserved:
        return "reserved"
    return None if address.is_global else "not globally routable"


def _refused(field: str, why: str, host: str) -> WebhookDestinationRefused:
    return WebhookDestinationRefused(
        f"webhook destination refused: {field} {why}",
        metadata={"host": host},
        violations=[FieldViolation(field, why)],
    )


def check_addresses(
    addresses: Iterable[str | IPAddress], allow_private: bool, *, host: str = "", field: str = "url"
) -> tuple[IPAddress, ...]:
    """The addresses, parsed and deduplicated in order, if every one may be a destination.

    One refused address refuses them all: a resolver may hand the connection any of them.
    ``host`` names the host they came from, for the refusal's message.
    """
    parsed = tuple(dict.fromkeys(_parse(a) for a in addresses))
    if not parsed:
        raise _refused(field, f"host {host!r} resolves to no address", host)
    for address in parsed:
        why = _problem(address, allow_private)
        if why is not None:
            named = f"host {host!r} resolves to" if host and _literal(host) is None else "is"
            raise _refused(field, f"{named} {address}: {why}", host)
    return parsed


def _literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, if it is an IP literal."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def _parse(address: str | IPAddress) -> IPAddress:
    if isinstance(address, IPv4Address | IPv6Address):
        return address
    # getaddrinfo reports a link-local IPv6 with its zone ("fe80::1%eth0"); the zone does not
    # change what the address is.
    return ip_address(address.partition("%")[0])


def check_url(
    url: str, allow_insecure_http: bool, *, allow_private: bool = False, field: str = "url"
) -> Destination:
    """``url`` taken apart, if a webhook may be sent to it; else WebhookDestinationRefused
    with one violation on ``field``. Host names are resolved and checked at send time."""
    found = _url_problem(url, allow_insecure_http)
    if isinstance(found, str):
        raise _refused(field, found, "")
    if found.ip is not None:
        check_addresses([found.ip], allow_private, host=found.host, field=field)
    return found


def _url_problem(url: str, allow_insecure_http: bool) -> Destination | str:
    """The parsed destination, or why the URL is refused (checks in order, first one wins)."""
    if len(url) > MAX_URL_LEN:
        return f"must be at most {MAX_URL_LEN} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "must be printable ASCII without spaces (percent-encode the rest, punycode hosts)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    scheme = parts.scheme.lower()
    schemes = ("https", "http") if allow_insecure_http else ("https",)
    if scheme not in schemes:
        return "must be an https URL" if not allow_insecure_http else "must be an http(s) URL"
    if "@" in parts.netloc:
        return "must not carry a user name or password"
    if parts.fragment or url.endswith("#"):
        return "must not have a fragment (#...)"
    host = (parts.hostname or "").removesuffix(".")
    if port == 0:
        return "must not use port 0"
    why = _host_problem(host, parts.netloc)
    if why is not None:
        return why
    default_port = 443 if scheme == "https" else 80
    return Destination(url, scheme, host, port or default_port, _literal(host))


def _host_problem(host: str, netloc: str) -> str | None:
    if not host:
        return "must name a host"
    literal = _literal(host)
    if netloc.startswith("["):
        # Brackets hold an IPv6 literal and nothing else; a zone names one of *our* links.
        if "%" in host or not isinstance(literal, IPv6Address):
            return "must hold an IPv6 address, without a zone, in brackets"
        return None
    if literal is not None:
        return None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        return f"has an invalid host name {host!r}"
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        return f"host {host!r} must be a DNS name or a dotted-quad IPv4 address"
    return None
