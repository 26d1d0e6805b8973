"""The internal listener: mTLS from our workloads, and the RBAC table read from the protos.

Which workload may call which RPC is ``INTERNAL_ACCESS`` applied to the
``paymesh.auth.v1`` options of each RPC; these tests read the options again,
independently, from the generated stubs. tests/e2e/test_edge_internal.py
proves the rules through the real Envoy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paymesh.auth.v1 import auth_pb2
from paymesh.ledger.v1 import ledger_pb2
from scripts import envoy_config as ec
from scripts.envoy_config._internal import grant
from tests.integration.edge.config_support import (
    AUDIT,
    IDENTITY,
    LEDGER,
    MERCHANT_SERVICES,
    PROVIDER_WEBHOOKS,
    downstream_tls,
    hcm,
    http_filter,
)

ANY_OF_OURS = {"authenticated": {"principal_name": {"prefix": "spiffe://paymesh.local/"}}}
GATEWAY = {"authenticated": {"principal_name": {"exact": "spiffe://paymesh.local/gateway"}}}


def _policies(config: dict[str, Any]) -> dict[str, Any]:
    rbac = http_filter(config, "internal", "envoy.filters.http.rbac")
    assert rbac["rules"]["action"] == "ALLOW"
    policies: dict[str, Any] = rbac["rules"]["policies"]
    return policies


def _paths(policy: dict[str, Any]) -> set[str]:
    return {p["url_path"]["path"]["exact"] for p in policy["permissions"]}


def _ledger_paths(permission: str) -> set[str]:
    """Read from the generated stubs, independently of the generator's own reading."""
    service = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]
    return {
        f"/{LEDGER}/{m.name}"
        for m in service.methods
        if m.GetOptions().Extensions[auth_pb2.required_permission] == permission
    }


def test_only_the_gateway_may_call_the_ledgers_write_rpcs_and_append_audit_events(
    config: dict[str, Any],
) -> None:
    gateway_only = _policies(config)["gateway"]
    record = f"/{AUDIT}/RecordAuditEvents"

    assert gateway_only["principals"] == [GATEWAY]
    assert _paths(gateway_only) - {record} == _ledger_paths("ledger:write")
    assert record in _paths(gateway_only)
    assert _paths(gateway_only) - {record} == {
        f"/{LEDGER}/{name}"
        for name in (
            "CreateAccount",
            "CloseAccount",
            "CreateTransaction",
            "CreateTransactions",
            "PostTransaction",
            "VoidTransaction",
            "ReverseTransaction",
        )
    }


def test_any_workload_of_ours_may_read_the_ledger_and_call_identity(
    config: dict[str, Any], descriptor_set: Path
) -> None:
    anyone = _policies(config)["*"]
    identity_rpcs = {rpc.path for rpc in ec.grpc_rpcs(descriptor_set) if rpc.service == IDENTITY}

    assert anyone["principals"] == [ANY_OF_OURS]
    assert _paths(anyone) == _ledger_paths("ledger:read") | identity_rpcs
    assert f"/{IDENTITY}/WhoAmI" in identity_rpcs


def test_nothing_else_is_granted(config: dict[str, Any], descriptor_set: Path) -> None:
    granted = set().union(*(_paths(p) for p in _policies(config).values()))
    every_rpc = {rpc.path for rpc in ec.grpc_rpcs(descriptor_set)}
    # The gateway's services serve merchants' API keys at the REST edge, and providers'
    # callbacks; no workload calls them (payments, FX, beneficiaries, payouts, webhooks:
    # 7 + 4 + 5 + 5 + 10 RPCs; provider callbacks: 1).
    outside = {
        rpc.path
        for rpc in ec.grpc_rpcs(descriptor_set)
        if rpc.service in (*MERCHANT_SERVICES, PROVIDER_WEBHOOKS)
    }

    assert set(_policies(config)) == {"*", "gateway"}
    assert len(outside) == 32
    assert granted == every_rpc - outside  # every other RPC is granted to someone
    assert not any(p.startswith(("/envoy.", "/grpc.")) for p in granted)


def test_an_rpc_that_declares_no_access_is_granted_to_nobody() -> None:
    undeclared = ec.Rpc(LEDGER, f"/{LEDGER}/Undeclared", access="")
    unlisted = ec.Rpc(LEDGER, f"/{LEDGER}/Other", access="payments:write")
    identity = ec.Rpc(IDENTITY, f"/{IDENTITY}/Undeclared", access="")

    assert (grant(undeclared), grant(unlisted)) == ((), ())
    assert grant(identity) == ec.ANY_WORKLOAD  # the whole service is open to our workloads


def test_the_internal_listener_takes_only_our_certificates_over_tls_13_h2(
    config: dict[str, Any],
) -> None:
    tls = downstream_tls(config, "internal")
    context = tls["common_tls_context"]

    assert tls["require_client_certificate"] is True
    assert context["tls_params"] == {"tls_minimum_protocol_version": "TLSv1_3"}
    assert context["alpn_protocols"] == ["h2"]
    assert context["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": "spiffe://paymesh.local/"}}
    ]


def test_the_internal_listener_drops_the_principal_and_forwards_the_callers_id(
    config: dict[str, Any],
) -> None:
    manager = hcm(config, "internal")

    assert manager["route_config"]["request_headers_to_remove"] == ["x-paymesh-principal"]
    assert manager["forward_client_cert_details"] == "SANITIZE_SET"
    assert manager["set_current_client_cert_details"] == {"uri": True}
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.rbac",
        "envoy.filters.http.router",
    ]


def test_internal_calls_run_until_the_callers_deadline_or_15_s(config: dict[str, Any]) -> None:
    routes = hcm(config, "internal")["route_config"]["virtual_hosts"][0]["routes"]

    assert {r["match"]["prefix"]: r["route"]["max_stream_duration"] for r in routes} == {
        f"/{service}/": {"max_stream_duration": "15s", "grpc_timeout_header_max": "0s"}
        for service in (*MERCHANT_SERVICES, PROVIDER_WEBHOOKS, AUDIT, IDENTITY, LEDGER)
    }
