"""Which workload is calling: its SPIFFE id, from the TLS peer or from Envoy's XFCC header.

Services accept only Envoy's certificate (``ALLOWED_PEERS``), so on a call
through Envoy's internal listener the TLS peer is Envoy, and the workload
behind it is named by the ``x-forwarded-client-cert`` header Envoy sets
(``forward_client_cert_details: SANITIZE_SET``, with the caller's URI SAN:
``By=<envoy>;Hash=<hex>;URI=spiffe://paymesh.local/gateway``). Like the edge's
principal header (``svc_kit.principal``), it is believed only when the TLS
peer is Envoy, or on a plaintext server that opted in (tests). A TLS peer that
is not Envoy (``ALLOWED_PEERS="*"``, a direct call) is itself the workload.
"""

from __future__ import annotations

from identity_svc.service_layer.audit_append import Workload
from svc_kit._handlers import Context
from svc_kit.principal import metadata_value
from svc_kit.tls import peer_spiffe_id

XFCC_HEADER = "x-forwarded-client-cert"
_SPIFFE = "spiffe://"


def xfcc_uri(value: str) -> str | None:
    """The URI of the one element of an XFCC header value; None when there is not exactly one
    element with exactly one URI (a list of hops, or an ambiguous element, names nobody)."""
    elements = _split(value, ",")
    if len(elements) != 1:
        return None
    uris = []
    for pair in _split(elements[0], ";"):
        key, sep, raw = pair.partition("=")
        if not sep:
            return None
        if key.strip().lower() == "uri":
            uris.append(_unquote(raw.strip()))
    return uris[0] if len(uris) == 1 else None


def _split(value: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes (Envoy quotes values holding , ; or =)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def calling_workload(
    context: Context, *, edge_spiffe_id: str, trust_plaintext: bool
) -> Workload | None:
    """The workload behind this call, in the edge's trust domain; None when none is known."""
    peer = peer_spiffe_id(context)
    if peer is None and not trust_plaintext:
        return None
    if peer is None or peer == edge_spiffe_id:
        header = metadata_value(context, XFCC_HEADER)
        spiffe_id = xfcc_uri(header) if header is not None else None
    else:
        spiffe_id = peer
    return workload_of(spiffe_id, edge_spiffe_id) if spiffe_id else None


def workload_of(spiffe_id: str, edge_spiffe_id: str) -> Workload | None:
    """``spiffe://<the edge's trust domain>/<name>`` as a Workload; None for anything else."""
    trust_domain = edge_spiffe_id.removeprefix(_SPIFFE).partition("/")[0]
    prefix = f"{_SPIFFE}{trust_domain}/"
    name = spiffe_id.removeprefix(prefix)
    # Envoy only relays: a call that names Envoy itself names no workload.
    if not spiffe_id.startswith(prefix) or not name or "/" in name or spiffe_id == edge_spiffe_id:
        return None
    return Workload(name, spiffe_id)
