"""identity's AuditService at the edge: only the gateway's SPIFFE id may call it on the
internal listener, no API key may call it at the REST edge, and the gateway's services for
merchants' keys at the REST edge (payments, FX, beneficiaries, payouts) are granted to no
workload on the internal listener.

tests/integration/gateway/ proves the same rules through a real Envoy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from identity_svc.domain.permissions import Permission, Role, grants
from identity_svc.entrypoints.routes import RouteTable
from scripts import envoy_config as ec
from scripts.envoy_config._internal import grant
from tests.integration.edge.config_support import MERCHANT_SERVICES, hcm, http_filter

AUDIT = "paymesh.identity.v1.AuditService"
RECORD = f"/{AUDIT}/RecordAuditEvents"
GATEWAY = {"authenticated": {"principal_name": {"exact": "spiffe://paymesh.local/gateway"}}}


@pytest.fixture(scope="module")
def with_gateway(cfg: ec.EdgeConfig) -> dict[str, Any]:
    """The edge with a gateway cluster, as make run and docker-compose deploy it."""
    upstreams = {**cfg.upstreams, "gateway": ["127.0.0.1:50064"]}
    return ec.render(dataclasses.replace(cfg, upstreams=upstreams))


def _policies(config: dict[str, Any]) -> dict[str, Any]:
    policies: dict[str, Any] = http_filter(config, "internal", "envoy.filters.http.rbac")["rules"][
        "policies"
    ]
    return policies


def _paths(policy: dict[str, Any]) -> set[str]:
    return {p["url_path"]["path"]["exact"] for p in policy["permissions"]}


def test_record_audit_events_declares_audit_write_and_is_granted_to_the_gateway_only(
    descriptor_set: Path,
) -> None:
    [rpc] = [r for r in ec.grpc_rpcs(descriptor_set) if r.service == AUDIT]

    assert (rpc.path, rpc.access) == (RECORD, "audit:write")
    assert tuple(grant(rpc)) == ("gateway",)


def test_in_the_rendered_rbac_only_the_gateway_policy_opens_record_audit_events(
    with_gateway: dict[str, Any],
) -> None:
    policies = _policies(with_gateway)
    opening = [name for name, policy in policies.items() if RECORD in _paths(policy)]

    assert opening == ["gateway"]
    assert policies["gateway"]["principals"] == [GATEWAY]


@pytest.mark.parametrize(
    ("service", "rpcs"), list(zip(MERCHANT_SERVICES, (5, 4, 7, 5, 10), strict=True))
)
def test_no_workload_may_call_the_gateways_merchant_services_on_the_internal_listener(
    with_gateway: dict[str, Any], descriptor_set: Path, service: str, rpcs: int
) -> None:
    granted = set().union(*(_paths(p) for p in _policies(with_gateway).values()))
    paths = {r.path for r in ec.grpc_rpcs(descriptor_set) if r.service == service}

    assert len(paths) == rpcs
    assert not paths & granted


def test_the_rest_edge_routes_the_merchant_services_to_the_gateway_cluster(
    with_gateway: dict[str, Any],
) -> None:
    routes = hcm(with_gateway, "rest")["route_config"]["virtual_hosts"][0]["routes"]
    clusters = {r["match"]["prefix"]: r.get("route", {}).get("cluster") for r in routes}

    assert {clusters[f"/{service}/"] for service in MERCHANT_SERVICES} == {"gateway"}
    assert clusters[f"/{AUDIT}/"] == "identity"


def test_no_role_grants_audit_write_so_the_rest_edge_refuses_every_key() -> None:
    route = RouteTable.for_paymesh().lookup("POST", "/v1/audit-events:record")

    assert route is not None and route.full_method == RECORD
    assert route.access is Permission.AUDIT_WRITE
    assert not any(grants(role, Permission.AUDIT_WRITE) for role in Role)
