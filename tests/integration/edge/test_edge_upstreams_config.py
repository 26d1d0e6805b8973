"""Clusters, routes and access logs of the edge config, and the real Envoy's verdict on it.

``envoy --mode validate`` checks what the CLI writes for replicas and DNS
names, as ``make envoy-validate`` does for the defaults.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import envoy_config as ec
from svc_kit.pki import write_dev_pki
from tests.e2e.envoy_support import ENVOY
from tests.integration.edge.config_support import cluster, hcm

REPO = Path(__file__).resolve().parents[3]


def test_replicas_are_endpoints_and_host_names_make_the_cluster_strict_dns(
    cfg: ec.EdgeConfig,
) -> None:
    upstreams = {
        **cfg.upstreams,
        "ledger": ["127.0.0.1:50061", "127.0.0.1:50071", "127.0.0.1:50081"],
        "identity": ["identity:50062", "10.0.0.7:50062"],
    }
    config = ec.render(dataclasses.replace(cfg, upstreams=upstreams))

    ledger, identity = cluster(config, "ledger"), cluster(config, "identity")
    endpoints = ledger["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints] == [
        50061,
        50071,
        50081,
    ]
    assert (ledger["type"], identity["type"]) == ("STATIC", "STRICT_DNS")
    assert identity["dns_lookup_family"] == "V4_PREFERRED"


def test_every_cluster_is_mtls_13_with_its_workloads_exact_spiffe_id(
    config: dict[str, Any],
) -> None:
    sans = {}
    for c in config["static_resources"]["clusters"]:
        context = c["transport_socket"]["typed_config"]["common_tls_context"]
        assert context["tls_params"] == {
            "tls_minimum_protocol_version": "TLSv1_3",
            "tls_maximum_protocol_version": "TLSv1_3",
        }
        # identity's HTTP check listener speaks HTTP/1.1; everything else is gRPC.
        http1 = c["name"] == "identity_authz"
        assert context["alpn_protocols"] == (["http/1.1"] if http1 else ["h2"])
        sans[c["name"]] = context["validation_context"]["match_typed_subject_alt_names"][0]

    assert {name: san["matcher"]["exact"] for name, san in sans.items()} == {
        "gateway": "spiffe://paymesh.local/gateway",
        "identity": "spiffe://paymesh.local/identity",
        "identity_authz": "spiffe://paymesh.local/identity",
        "ledger": "spiffe://paymesh.local/ledger",
    }


def test_every_cluster_is_health_checked_and_ejects_failing_replicas(
    config: dict[str, Any],
) -> None:
    for c in config["static_resources"]["clusters"]:
        (check,) = c["health_checks"]
        options = c["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        assert (check["interval"], check["unhealthy_threshold"], check["healthy_threshold"]) == (
            "1s",
            2,
            1,
        )
        assert c["outlier_detection"]["enforcing_consecutive_gateway_failure"] == 100
        if c["name"] == "identity_authz":
            # The HTTP check listener: HTTP/1.1, and its /healthz follows the same probe.
            assert check["http_health_check"] == {"path": "/healthz"}
            assert options["explicit_http_config"] == {"http_protocol_options": {}}
            continue
        assert "grpc_health_check" in check
        assert options["explicit_http_config"]["http2_protocol_options"] == {
            "initial_stream_window_size": 1 << 20,
            "initial_connection_window_size": 4 << 20,
        }


def test_with_the_grpc_check_the_authz_cluster_is_grpc_too(cfg: ec.EdgeConfig) -> None:
    config = ec.render(dataclasses.replace(cfg, authz_protocol="grpc"))

    authz = cluster(config, "identity_authz")
    assert "grpc_health_check" in authz["health_checks"][0]
    context = authz["transport_socket"]["typed_config"]["common_tls_context"]
    assert context["alpn_protocols"] == ["h2"]


def test_routes_retry_only_what_never_reached_a_replica(config: dict[str, Any]) -> None:
    for name in ("rest", "internal"):
        routes = hcm(config, name)["route_config"]["virtual_hosts"][0]["routes"]
        for route in (r for r in routes if "route" in r):
            policy = route["route"]["retry_policy"]
            assert policy["retry_on"] == "connect-failure,refused-stream,reset-before-request"
            assert policy["num_retries"] == 2
            assert policy["retry_host_predicate"][0]["name"].endswith("previous_hosts")


def test_both_listeners_log_json_to_stdout_or_to_the_file(cfg: ec.EdgeConfig) -> None:
    to_file = ec.render(dataclasses.replace(cfg, access_log_path="/var/log/envoy.log"))

    for name in ("rest", "internal"):
        (stdout,) = hcm(ec.render(cfg), name)["access_log"]
        (file,) = hcm(to_file, name)["access_log"]
        log_format = stdout["typed_config"]["log_format"]["json_format"]
        assert stdout["name"] == "envoy.access_loggers.stdout"
        assert (file["name"], file["typed_config"]["path"]) == (
            "envoy.access_loggers.file",
            "/var/log/envoy.log",
        )
        assert log_format["listener"] == name
        assert log_format["request_id"] == "%REQ(X-REQUEST-ID)%"
        assert log_format["grpc_status"] == "%GRPC_STATUS(NUMBER)%"
        assert log_format["downstream_peer_uri_san"] == "%DOWNSTREAM_PEER_URI_SAN%"


def test_a_transcoded_workload_without_an_upstream_is_refused(cfg: ec.EdgeConfig) -> None:
    upstreams = {k: v for k, v in cfg.upstreams.items() if k != "ledger"}

    with pytest.raises(ValueError, match=r"no upstream address for cluster\(s\) \['ledger'\]"):
        ec.render(dataclasses.replace(cfg, upstreams=upstreams))


# --- the real Envoy -------------------------------------------------------------------


def test_envoy_validates_what_the_cli_writes_for_replicas_and_dns_names(tmp_path: Path) -> None:
    write_dev_pki(tmp_path / "pki")
    argv = [
        sys.executable, "-m", "scripts.envoy_config",
        "--pki-dir", str(tmp_path / "pki"), "--out", str(tmp_path / "out"),
        "--rest-addr", "0.0.0.0:8443", "--internal-addr", "0.0.0.0:9443",
        "--ledger-addr", "ledger:50061", "--ledger-addr", "ledger-2:50061",
        "--identity-addr", "127.0.0.1:50062", "--identity-addr", "127.0.0.1:50072",
        "--identity-authz-addr", "identity:50063",
        "--gateway-addr", "gateway:50064",
        "--require-client-cert", "--max-request-bytes", "65536",
        "--access-log", str(tmp_path / "access.log"),
    ]  # fmt: skip
    written = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603
    assert written.returncode == 0, written.stderr

    config_path = tmp_path / "out" / ec.CONFIG_NAME
    checked = subprocess.run(  # noqa: S603 - fixed argv
        [str(ENVOY), "--mode", "validate", "-c", str(config_path), "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"configuration '{config_path}' OK" in checked.stdout
