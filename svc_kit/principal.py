"""The caller's principal as the edge vouches for it, and when to believe it.

identity_svc's ext_authz Check authenticates every outside request and, on
allow, sets one header, ``x-paymesh-principal``, on the request Envoy forwards
(and removes ``authorization``). Services read it with ``trusted_principal``.

A header is only as trustworthy as whoever sent it: any mTLS peer could set
it. So it is believed only when the TLS peer is the edge proxy's own SPIFFE
identity (architecture.md, "Boundaries that must hold"). On a plaintext
loopback server (unit and integration tests, explicitly asked for) there is
no peer identity, and the header is believed only if the server was built
with ``trust_plaintext=True``.

The header is URL-encoded form data (``merchant_id=...&key_id=...``), so that
any value survives as a single HTTP header and parsing needs no schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from svc_kit._handlers import Context
from svc_kit.tls import peer_spiffe_id

PRINCIPAL_HEADER = "x-paymesh-principal"
EDGE_SPIFFE_ID = "spiffe://paymesh.local/envoy"
_FIELDS = ("merchant_id", "key_id", "role", "environment", "source_address")


@dataclass(frozen=True, slots=True)
class EdgePrincipal:
    """Who the edge authenticated: an API key of a merchant, with its role."""

    merchant_id: str
    key_id: str
    role: str
    environment: str
    source_address: str = ""

    def to_header(self) -> str:
        """The header value the edge sets."""
        return urlencode([(name, getattr(self, name)) for name in _FIELDS])

    @classmethod
    def from_header(cls, value: str) -> EdgePrincipal | None:
        """Parse a header value; None when it is not one the edge would have set."""
        try:
            items = parse_qsl(value, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return None
        pairs = dict(items)
        # A repeated field is never the edge's; "last one wins" would let it pick the tenant.
        if len(items) != len(pairs) or set(pairs) != set(_FIELDS):
            return None
        if not all(pairs[n] for n in _FIELDS[:4]):
            return None
        return cls(**pairs)


def metadata_value(context: Context, key: str) -> str | None:
    """The first value of an invocation metadata key (keys are lower-case in gRPC)."""
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


def trusted_principal(
    context: Context, *, edge_spiffe_id: str = EDGE_SPIFFE_ID, trust_plaintext: bool = False
) -> EdgePrincipal | None:
    """The principal the edge attached, or None when there is none to believe.

    Believed only from the edge's SPIFFE identity, or on a plaintext server
    that opted in with ``trust_plaintext``. Any other peer's header is
    ignored, never an error: that peer is a service, known by its certificate.
    """
    raw = metadata_value(context, PRINCIPAL_HEADER)
    if raw is None:
        return None
    peer = peer_spiffe_id(context)
    if peer is None:
        # No certificate identity: a plaintext server, or a TLS peer without a
        # SPIFFE id. Only a server that is plaintext by configuration opts in.
        if not trust_plaintext:
            return None
    elif peer != edge_spiffe_id:
        return None
    return EdgePrincipal.from_header(raw)
