"""Pieces both listeners and every cluster share: TLS, HTTP/2 windows, retries, access logs."""

from __future__ import annotations

from typing import Any

from scripts.envoy_config._model import (
    ENVOY_WORKLOAD,
    TRUST_DOMAIN,
    EdgeConfig,
    data_file,
    typed,
)

HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
DOWNSTREAM_TLS_TYPE = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
# Envoy's own default is 256 MiB per stream and per connection, which lets one
# client pin that much memory at the edge; gRPC peers start at 64 KiB, which
# makes a 1,000-posting batch wait on window updates. 1 MiB / 4 MiB bounds the
# first and avoids the second. edge.md saw pass-through slower than direct
# calls without finding why: to be measured with these windows (bench/).
HTTP2_OPTIONS = {
    "initial_stream_window_size": 1 << 20,
    "initial_connection_window_size": 4 << 20,
}
# Retries that are safe for non-idempotent RPCs: each of these fires only when
# the request never reached the service (no connection, stream refused, reset
# before a byte went out), so a killed replica costs only the calls in flight
# on it. previous_hosts sends the retry to another replica.
RETRY_POLICY = {
    "retry_on": "connect-failure,refused-stream,reset-before-request",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": typed(
                "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            ),
        }
    ],
    "host_selection_retry_max_attempts": 3,
}
# One JSON object per request. Method and path are the ones the client sent:
# the transcoder rewrites both (to POST and the gRPC path, "routed_path") and
# keeps the originals in x-envoy-original-method / -path, which a client
# cannot set (_rest.py strips them) except on a request refused before any
# filter runs (a path that fails normalization): "routed_path" is then the
# path Envoy actually saw.
ACCESS_LOG_FORMAT = {
    "start_time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "routed_path": "%REQ(:PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS(NUMBER)%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "duration_ms": "%DURATION%",
    "bytes_in": "%BYTES_RECEIVED%",
    "bytes_out": "%BYTES_SENT%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "downstream_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "downstream_peer_uri_san": "%DOWNSTREAM_PEER_URI_SAN%",
    "user_agent": "%REQ(USER-AGENT)%",
}


def access_log(cfg: EdgeConfig, listener: str) -> list[dict[str, Any]]:
    """JSON lines to stdout, or to ``cfg.access_log_path``, tagged with the listener."""
    log_format = {"json_format": {**ACCESS_LOG_FORMAT, "listener": listener}}
    if cfg.access_log_path:
        config = typed(
            "envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path=cfg.access_log_path,
            log_format=log_format,
        )
        return [{"name": "envoy.access_loggers.file", "typed_config": config}]
    config = typed(
        "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format=log_format
    )
    return [{"name": "envoy.access_loggers.stdout", "typed_config": config}]


def envoy_certificate(cfg: EdgeConfig) -> dict[str, Any]:
    """The certificate Envoy presents, as a server and as a client of the services."""
    return {
        "certificate_chain": data_file(cfg.pki_dir / f"{ENVOY_WORKLOAD}.pem"),
        "private_key": data_file(cfg.pki_dir / f"{ENVOY_WORKLOAD}-key.pem"),
    }


def client_validation(cfg: EdgeConfig, *, require_client_cert: bool) -> dict[str, Any]:
    """Client certificates must chain to our CA (and be valid now).

    A required certificate must also name a SPIFFE id of our trust domain. The
    SAN check cannot apply to an optional one: with a SAN matcher Envoy refuses
    every handshake that sends no certificate ("certificate required").
    """
    validation: dict[str, Any] = {"trusted_ca": data_file(cfg.pki_dir / "ca.pem")}
    if require_client_cert:
        validation["match_typed_subject_alt_names"] = [
            {"san_type": "URI", "matcher": {"prefix": f"spiffe://{TRUST_DOMAIN}/"}}
        ]
    return validation


def downstream_tls(
    cfg: EdgeConfig, *, require_client_cert: bool, alpn: list[str], tls_min: str
) -> dict[str, Any]:
    """A server-side TLS transport socket presenting Envoy's certificate."""
    context = typed(
        DOWNSTREAM_TLS_TYPE,
        require_client_certificate=require_client_cert,
        common_tls_context={
            "tls_params": {"tls_minimum_protocol_version": tls_min},
            "alpn_protocols": alpn,
            "tls_certificates": [envoy_certificate(cfg)],
            "validation_context": client_validation(cfg, require_client_cert=require_client_cert),
        },
    )
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}
