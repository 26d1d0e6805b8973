"""The ``--explore`` Envoy variants: other ways to authorize a REST request, as config transforms.

Each function returns a ``Transform`` for ``bench.edge_envoy.variant``; none of them touches
scripts/envoy_config. What each changes, and why it might matter:

* ``grpc_check``: ext_authz asking identity's gRPC Check (its own listener) over mTLS, as
  the product did before it could ask over HTTP (``EdgeConfig.authz_protocol``), whatever
  the product does now; optionally more Check processes, or no TLS on that hop.
* ``trim_check_headers``: ext_authz sends every request header in the CheckRequest unless told
  otherwise; identity reads only the key and the request id, and every other header is bytes
  Envoy serialises and Python parses.
* ``grpc_stub`` / ``http_stub``: ext_authz against ``bench.edge_authz_stub`` (a dict lookup) over
  gRPC or over HTTP/1.1 (``http_service``), each with or without TLS on that hop.
* ``jwt``: jwt_authn (``bench.edge_jwt``) in ext_authz's place: no Python on the path at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import edge_envoy as ee
from bench.edge_jwt import jwt_filter
from scripts.envoy_config import AUTHZ_CLUSTER

STUB_CLUSTER = "authz_stub"
_EXT_AUTHZ_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
# Headers identity's Check reads (identity_svc.service_layer.authorizer): the key, in either
# header, and the request id (without it identity mints one, and cannot reuse its reply).
CHECK_HEADERS = ("authorization", "x-api-key", "x-request-id")
_TIMEOUT = "0.5s"  # the product's


def grpc_authz_filter(cluster: str) -> dict[str, Any]:
    """ext_authz in gRPC mode, with the product's settings (timeout, fail closed, 503)."""
    config = {
        "@type": _EXT_AUTHZ_TYPE,
        "grpc_service": {"envoy_grpc": {"cluster_name": cluster}, "timeout": _TIMEOUT},
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "status_on_error": {"code": 503},
    }
    return {"name": ee.EXT_AUTHZ, "typed_config": config}


def grpc_check(addrs: Sequence[str], *, tls: bool = True) -> ee.Transform:
    """ext_authz asks identity's gRPC Check at ``addrs``.

    Its cluster is a copy of the product's identity cluster (HTTP/2, mTLS to identity's
    SPIFFE id, gRPC health checks): exactly what identity_authz was when Check was gRPC.
    """

    def apply(config: dict[str, Any]) -> None:
        ee.replace_ext_authz(config, grpc_authz_filter(AUTHZ_CLUSTER))
        new = ee.copied_cluster(config, "identity", AUTHZ_CLUSTER, addrs, tls=tls, health=True)
        ee.replace_cluster(config, new)

    return apply


def trim_check_headers(config: dict[str, Any]) -> None:
    """ext_authz sends only ``CHECK_HEADERS`` (plus the pseudo-headers it always sends)."""
    ee.ext_authz(config)["allowed_headers"] = {
        "patterns": [{"exact": name} for name in CHECK_HEADERS]
    }


def plain_upstream(name: str, addr: str) -> ee.Transform:
    """Cluster ``name`` at ``addr`` (a plaintext twin) without its mTLS: the only change."""

    def apply(config: dict[str, Any]) -> None:
        new = ee.copied_cluster(config, name, name, [addr], tls=False, health=True)
        ee.replace_cluster(config, new)

    return apply


def envoy_default_windows(name: str) -> ee.Transform:
    """Cluster ``name``'s HTTP/2 options back to Envoy's defaults (256 MiB windows instead of
    the product's 1 MiB / 4 MiB, _common.HTTP2_OPTIONS)."""

    def apply(config: dict[str, Any]) -> None:
        options = ee.cluster(config, name)["typed_extension_protocol_options"]
        http = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        http["explicit_http_config"]["http2_protocol_options"] = {}

    return apply


def streams_per_connection(name: str, streams: int) -> ee.Transform:
    """Cluster ``name``'s HTTP/2 connections carry at most ``streams`` requests at a time, so
    Envoy opens more connections to the service (one per ``streams`` in flight)."""

    def apply(config: dict[str, Any]) -> None:
        options = ee.cluster(config, name)["typed_extension_protocol_options"]
        http = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        http["explicit_http_config"]["http2_protocol_options"]["max_concurrent_streams"] = streams

    return apply


def _stub_cluster(config: dict[str, Any], addr: str, *, tls: bool, http2: bool) -> dict[str, Any]:
    # A copy of the identity cluster (gRPC over HTTP/2, mTLS to identity's SPIFFE id), which
    # is the same in every version of the product: the stub presents identity's certificate.
    return ee.copied_cluster(config, "identity", STUB_CLUSTER, [addr], http2=http2, tls=tls)


def grpc_stub(addr: str, *, tls: bool) -> ee.Transform:
    """ext_authz in gRPC mode, as ``grpc_check``, asking the gRPC stub."""

    def apply(config: dict[str, Any]) -> None:
        ee.replace_cluster(config, _stub_cluster(config, addr, tls=tls, http2=True))
        ee.replace_ext_authz(config, grpc_authz_filter(STUB_CLUSTER))

    return apply


def http_stub(addr: str, *, tls: bool) -> ee.Transform:
    """ext_authz in HTTP mode (``http_service``) against an HTTP/1.1 server at ``addr``.

    Envoy sends the method, path, Host, Content-Length and Authorization by default; the
    principal header of a 200 is copied onto the upstream request (allowed_upstream_headers),
    and the server's x-envoy-auth-headers-to-remove drops the key, as identity's
    headers_to_remove does in gRPC mode.
    """

    def apply(config: dict[str, Any]) -> None:
        ee.replace_cluster(config, _stub_cluster(config, addr, tls=tls, http2=False))
        scheme = "https" if tls else "http"
        new = {
            "@type": _EXT_AUTHZ_TYPE,
            "http_service": {
                "server_uri": {"uri": f"{scheme}://{addr}", "cluster": STUB_CLUSTER,
                               "timeout": _TIMEOUT},
                "authorization_response": {
                    "allowed_upstream_headers": {"patterns": [{"exact": ee.PRINCIPAL_HEADER}]}
                },
            },
            # Besides Authorization (always sent): the other key header, the request id
            # (identity reuses it) and the client's address (identity records it).
            "allowed_headers": {"patterns": [
                {"exact": "x-api-key"}, {"exact": "x-request-id"}, {"exact": "x-forwarded-for"}]},
            "transport_api_version": "V3",
            "failure_mode_allow": False,
            "status_on_error": {"code": 503},
        }  # fmt: skip
        ee.replace_ext_authz(config, {"name": ee.EXT_AUTHZ, "typed_config": new})

    return apply


def jwt(jwks: dict[str, Any], *, cache: bool) -> ee.Transform:
    """jwt_authn where ext_authz was: before the transcoder, after the principal strip."""

    def apply(config: dict[str, Any]) -> None:
        ee.replace_ext_authz(config, jwt_filter(jwks, cache=cache))

    return apply
