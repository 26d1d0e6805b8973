"""One cluster per upstream: HTTP/2 over mTLS, health-checked, replicas ejected on failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scripts.envoy_config._common import HTTP2_OPTIONS, envoy_certificate
from scripts.envoy_config._model import (
    AUTHZ_CLUSTER,
    EdgeConfig,
    data_file,
    is_ip_literal,
    socket_address,
    spiffe_id,
    split_host_port,
    typed,
    workload_of_cluster,
)

UPSTREAM_TLS_TYPE = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
# Every service serves grpc.health.v1 on the same port; "" is the whole server,
# which svc_kit.server marks NOT_SERVING while the database is unreachable.
HEALTH_CHECK = {
    "timeout": "0.5s",
    "interval": "1s",
    # A replica that stops answering is out after ~2 s; a recovered one is back
    # after one good answer. Without traffic Envoy would slow to 60 s checks.
    "unhealthy_threshold": 2,
    "healthy_threshold": 1,
    "no_traffic_interval": "1s",
    "grpc_health_check": {"service_name": ""},
}
# Passive checks between two health checks. The router counts a gRPC reply by
# its grpc-status mapped to HTTP (UNAVAILABLE -> 503), so a replica failing
# every call is ejected even though its HTTP status is 200. Gateway failures
# (connect errors, resets, 502-504) are enforced too: their default is 0 %.
OUTLIER_DETECTION = {
    "consecutive_5xx": 5,
    "consecutive_gateway_failure": 3,
    "enforcing_consecutive_gateway_failure": 100,
    "interval": "1s",
    "base_ejection_time": "5s",
    # Never eject every replica on a burst of errors: half stays in.
    "max_ejection_percent": 50,
}


# identity's HTTP check listener (authz_protocol "http") answers GET /healthz with
# the same readiness its gRPC health service reports.
HTTP_HEALTH_CHECK = {
    **{k: v for k, v in HEALTH_CHECK.items() if k != "grpc_health_check"},
    "http_health_check": {"path": "/healthz"},
}


def upstream_tls(cfg: EdgeConfig, workload: str, alpn: str = "h2") -> dict[str, Any]:
    """mTLS 1.3 as Envoy's workload, accepting only ``workload``'s exact SPIFFE id."""
    context = typed(
        UPSTREAM_TLS_TYPE,
        common_tls_context={
            # Envoy as a TLS client stops at TLS 1.2 unless told otherwise (edge.md).
            "tls_params": {
                "tls_minimum_protocol_version": "TLSv1_3",
                "tls_maximum_protocol_version": "TLSv1_3",
            },
            "alpn_protocols": [alpn],
            "tls_certificates": [envoy_certificate(cfg)],
            "validation_context": {
                "trusted_ca": data_file(cfg.pki_dir / "ca.pem"),
                "match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"exact": spiffe_id(workload)}}
                ],
            },
        },
    )
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def cluster(cfg: EdgeConfig, name: str, addrs: Sequence[str]) -> dict[str, Any]:
    """The cluster ``name``: one endpoint per replica address."""
    if not addrs:
        raise ValueError(f"cluster {name!r} has no address")
    # docker-compose names (ledger:50061) must be resolved, and re-resolved as
    # replicas come and go; IP literals need no resolver.
    dns = any(not is_ip_literal(split_host_port(a)[0]) for a in addrs)
    endpoints = [{"endpoint": {"address": socket_address(a)}} for a in addrs]
    # ext_authz over HTTP speaks HTTP/1.1 (one check in flight per connection;
    # Envoy pools connections); everything else is gRPC over HTTP/2.
    http1 = name == AUTHZ_CLUSTER and cfg.authz_protocol == "http"
    protocol = {"http_protocol_options": {}} if http1 else {"http2_protocol_options": HTTP2_OPTIONS}
    result: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS" if dns else "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config=protocol,
            )
        },
        "transport_socket": upstream_tls(
            cfg, workload_of_cluster(name), alpn="http/1.1" if http1 else "h2"
        ),
        "health_checks": [HTTP_HEALTH_CHECK if http1 else HEALTH_CHECK],
        "outlier_detection": OUTLIER_DETECTION,
    }
    if dns:
        result["dns_lookup_family"] = "V4_PREFERRED"
    return result


def clusters(cfg: EdgeConfig) -> list[dict[str, Any]]:
    return [cluster(cfg, name, addrs) for name, addrs in sorted(cfg.upstreams.items())]
