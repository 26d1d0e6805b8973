"""The internal gRPC listener: workloads call services by SPIFFE id, never by API key.

Only mTLS with a certificate of our CA naming a SPIFFE id of our trust domain
gets a handshake (TLS 1.3, h2). Each call is then authorized by the RBAC
filter from one table, ``INTERNAL_ACCESS``, applied to what each RPC declares
in its proto (``paymesh.auth.v1`` method options): a permission such as
``ledger:write``, ``any_authenticated`` or ``public``. Whatever the table does
not grant (unknown paths, ext_authz's Check, reflection, RPCs that declare
nothing) is refused with PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scripts.envoy_config._common import (
    HCM_TYPE,
    HTTP2_OPTIONS,
    RETRY_POLICY,
    access_log,
    downstream_tls,
)
from scripts.envoy_config._descriptors import Rpc, workload_of
from scripts.envoy_config._model import TRUST_DOMAIN, EdgeConfig, socket_address, spiffe_id, typed
from scripts.envoy_config._rest import PRINCIPAL_HEADER

INTERNAL_LISTENER = "internal"
ANY_WORKLOAD: tuple[str, ...] = ("*",)
"""Any certificate of our CA with a SPIFFE id in our trust domain."""
INTERNAL_ACCESS: Mapping[str, Sequence[str]] = {
    # Money moves only through the gateway, which owns payments and payouts.
    "ledger:write": ("gateway",),
    # Balances and statements are read by any of our workloads (reports, ops).
    "ledger:read": ANY_WORKLOAD,
    # Every IdentityService RPC authenticates the caller's API key itself (the
    # key travels as metadata), so the certificate only proves it is ours.
    "paymesh.identity.v1.IdentityService": ANY_WORKLOAD,
    # identity's AuditService: the gateway writes every payment mutation to the
    # audit log. No role grants this permission, so no API key reaches it at
    # the REST edge either; PaymentService itself (payments:*) is for merchants'
    # keys at the REST edge and is granted to no workload here.
    "audit:write": ("gateway",),
}
"""Who may call what over the internal listener, keyed by a permission an RPC
declares or by a full service name (every RPC of it; looked up first).
Values are workload names, or ANY_WORKLOAD."""


def grant(rpc: Rpc) -> Sequence[str]:
    """The workloads ``rpc`` is open to; empty when nobody may call it."""
    by_service = INTERNAL_ACCESS.get(rpc.service)
    if by_service is not None:
        return by_service
    return INTERNAL_ACCESS.get(rpc.access, ()) if rpc.access else ()


def _principal(workload: str) -> dict[str, Any]:
    if workload == ANY_WORKLOAD[0]:
        matcher = {"prefix": f"spiffe://{TRUST_DOMAIN}/"}
    else:
        matcher = {"exact": spiffe_id(workload)}
    # principal_name is the certificate's URI SAN: svc_kit.pki issues exactly one.
    return {"authenticated": {"principal_name": matcher}}


def rbac_policies(rpcs: Iterable[Rpc]) -> dict[str, Any]:
    """One ALLOW policy per set of callers, listing the exact gRPC paths it opens."""
    paths: dict[tuple[str, ...], list[str]] = {}
    for rpc in rpcs:
        callers = tuple(sorted(grant(rpc)))
        if callers:
            paths.setdefault(callers, []).append(rpc.path)
    return {
        "+".join(callers): {
            "permissions": [{"url_path": {"path": {"exact": p}}} for p in sorted(opened)],
            "principals": [_principal(w) for w in callers],
        }
        for callers, opened in sorted(paths.items())
    }


def routable(rpcs: Iterable[Rpc], clusters: Iterable[str]) -> list[Rpc]:
    """The RPCs whose service has a cluster: only those are routed, and granted."""
    known = set(clusters)
    return [rpc for rpc in rpcs if workload_of(rpc.service) in known]


def _routes(rpcs: Sequence[Rpc]) -> list[dict[str, Any]]:
    """One route per service, ``/<service>/`` to its cluster; nothing else is routed."""
    services = sorted({rpc.service for rpc in rpcs})
    return [
        {
            "match": {"prefix": f"/{service}/"},
            "route": {
                "cluster": workload_of(service),
                "retry_policy": RETRY_POLICY,
                # The caller's deadline (grpc-timeout, uncapped) bounds the call; a
                # call without one gets 15 s, then DEADLINE_EXCEEDED. Measured: with
                # grpc_timeout_header_max set, the route's own timeout no longer applies.
                "max_stream_duration": {
                    "max_stream_duration": "15s",
                    "grpc_timeout_header_max": "0s",
                },
            },
        }
        for service in services
    ]


def internal_listener(cfg: EdgeConfig, rpcs: Sequence[Rpc]) -> dict[str, Any]:
    rbac = typed(
        "envoy.extensions.filters.http.rbac.v3.RBAC",
        rules={"action": "ALLOW", "policies": rbac_policies(rpcs)},
    )
    router = typed("envoy.extensions.filters.http.router.v3.Router")
    hcm = typed(
        HCM_TYPE,
        stat_prefix=INTERNAL_LISTENER,
        codec_type="HTTP2",
        route_config={
            "name": INTERNAL_LISTENER,
            # Only the REST edge vouches for a merchant; a workload cannot.
            "request_headers_to_remove": [PRINCIPAL_HEADER],
            "virtual_hosts": [{"name": "services", "domains": ["*"], "routes": _routes(rpcs)}],
        },
        http_filters=[
            {"name": "envoy.filters.http.rbac", "typed_config": rbac},
            {"name": "envoy.filters.http.router", "typed_config": router},
        ],
        http2_protocol_options=HTTP2_OPTIONS,
        access_log=access_log(cfg, INTERNAL_LISTENER),
        use_remote_address=True,
        generate_request_id=True,
        # A workload's request id is its own trace: keep it across the hop.
        preserve_external_request_id=True,
        # The service sees the caller's SPIFFE id (the TLS peer is Envoy).
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
    )
    tls = downstream_tls(cfg, require_client_cert=True, alpn=["h2"], tls_min="TLSv1_3")
    return {
        "name": INTERNAL_LISTENER,
        "address": socket_address(cfg.internal_addr),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ],
                "transport_socket": tls,
            }
        ],
    }
