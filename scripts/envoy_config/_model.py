"""What the generator is told (``EdgeConfig``) and the small vocabulary every part shares."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRUST_DOMAIN = "paymesh.local"
TYPE_URL = "type.googleapis.com/"
ENVOY_WORKLOAD = "envoy"
AUTHZ_CLUSTER = "identity_authz"
AUTHZ_PROTOCOLS = ("http", "grpc")
# A cluster is named for the workload that serves it, except Check's own listener.
_CLUSTER_WORKLOAD = {AUTHZ_CLUSTER: "identity"}


@dataclass(frozen=True)
class EdgeConfig:
    """Where everything is. Addresses are host:port; port 0 lets the kernel pick."""

    rest_addr: str
    """The REST listener (TLS, API keys): ``127.0.0.1:8443``."""
    internal_addr: str
    """The internal gRPC listener (mTLS, SPIFFE ids): ``127.0.0.1:9443``."""
    admin_addr: str
    """Envoy's admin API, plain HTTP: keep it on loopback."""
    upstreams: Mapping[str, Sequence[str]]
    """Cluster name -> ``host:port`` of each replica: ledger, identity, identity_authz, gateway."""
    pki_dir: Path
    """Holds ca.pem, envoy.pem and envoy-key.pem (``python -m svc_kit.pki init``)."""
    descriptor_set: Path
    """From ``build_descriptor_set``: the transcoder's and the RBAC table's one source."""
    require_client_cert: bool = False
    """REST listener: refuse a TLS handshake without a client certificate of our CA."""
    max_request_bytes: int = 1 << 20
    """REST request bodies above this are refused with 413 before ext_authz runs."""
    access_log_path: str = ""
    """Where JSON access log lines go; empty means Envoy's stdout."""
    authz_protocol: str = "http"
    """How ext_authz asks identity (cluster ``identity_authz``): ``http`` (identity's
    HTTP/1.1 check listener, IDENTITY_AUTHZ_HTTP_LISTEN_ADDR: the fast path, see
    bench/edge.py) or ``grpc`` (its gRPC Check, IDENTITY_AUTHZ_LISTEN_ADDR)."""

    def __post_init__(self) -> None:
        if self.authz_protocol not in AUTHZ_PROTOCOLS:
            raise ValueError(
                f"authz_protocol must be one of {', '.join(AUTHZ_PROTOCOLS)},"
                f" not {self.authz_protocol!r}"
            )


def workload_of_cluster(cluster: str) -> str:
    """The workload whose SPIFFE id the cluster's endpoints must present."""
    return _CLUSTER_WORKLOAD.get(cluster, cluster)


def spiffe_id(workload: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/{workload}"


def split_host_port(addr: str) -> tuple[str, int]:
    """``("10.0.0.1", 50061)`` from ``10.0.0.1:50061``; IPv6 hosts come in brackets."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {addr!r}")
    return host.strip("[]"), int(port)


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def socket_address(addr: str) -> dict[str, Any]:
    """An Envoy Address from host:port."""
    host, port = split_host_port(addr)
    return {"socket_address": {"address": host, "port_value": port}}


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    """A ``typed_config`` Any of the Envoy message ``type_name``."""
    return {"@type": TYPE_URL + type_name, **fields}


def data_file(path: Path) -> dict[str, str]:
    """An Envoy DataSource read from ``path``."""
    return {"filename": str(path)}
