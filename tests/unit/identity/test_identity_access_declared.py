"""Every RPC declares its access, and one that does not is refused (fail closed)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from google.api import annotations_pb2
from google.protobuf.descriptor import ServiceDescriptor

from identity_svc.domain import errors as e
from identity_svc.domain.permissions import Permission, Role
from identity_svc.entrypoints.routes import RouteTable, list_methods, paymesh_services
from identity_svc.service_layer.authorizer import (
    PUBLIC,
    UNDECLARED,
    Access,
    Authorizer,
    AuthzRequest,
)
from identity_svc.service_layer.key_cache import KeyCache
from identity_svc.service_layer.usage_recorder import UsageRecorder
from paymesh.auth.v1 import auth_pb2
from tests.rest_routes import rest_bindings
from tests.unit.identity.fakes import PEPPER, FakeAuthStore, ManualClock, WallClock, issue_key
from tests.unit.identity.probe_service import PROBE, probe_service

HTTP = cast(Any, annotations_pb2.http)  # typed as a plain FieldDescriptor by its stubs
OPTIONS = (auth_pb2.required_permission, auth_pb2.any_authenticated, auth_pb2.public)


def test_the_paymesh_services_are_found_and_third_party_ones_are_not() -> None:
    names = {s.full_name for s in paymesh_services()}
    assert {"paymesh.identity.v1.IdentityService", "paymesh.ledger.v1.LedgerService"} <= names
    assert not any(name.startswith("envoy.") for name in names)


def test_every_paymesh_rpc_declares_exactly_one_access_option() -> None:
    wrong = [
        f"{service.full_name}/{method.name}"
        for service in paymesh_services()
        for method in service.methods
        if sum(method.GetOptions().HasExtension(o) for o in OPTIONS) != 1
    ]
    assert wrong == []


def test_every_required_permission_names_a_permission_of_the_catalog() -> None:
    catalog = {p.value for p in Permission}
    declared = {
        method.GetOptions().Extensions[auth_pb2.required_permission]
        for service in paymesh_services()
        for method in service.methods
        if method.GetOptions().HasExtension(auth_pb2.required_permission)
    }
    assert declared, "no RPC declares a permission: the walk found nothing"
    assert declared - catalog == set()


def test_no_paymesh_rpc_resolves_to_undeclared() -> None:
    methods = list_methods(paymesh_services())
    assert len(methods) >= 28
    assert [m.full_method for m in methods if m.access is UNDECLARED] == []


# ------------------------------------------------- a service built at test time


@pytest.fixture(scope="module")
def probe() -> ServiceDescriptor:
    return probe_service()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Undeclared", UNDECLARED),
        ("Declared", Permission.LEDGER_READ),
        ("UnknownPermission", UNDECLARED),
        ("TwoOptions", UNDECLARED),
        ("AnyAuthenticatedFalse", UNDECLARED),
        ("Public", PUBLIC),
    ],
)
def test_a_method_built_at_test_time_gets_the_access_its_options_declare(
    probe: ServiceDescriptor, name: str, expected: Access
) -> None:
    route = RouteTable([probe]).lookup("GET", f"/v1/probe/{name.lower()}/7")
    assert route is not None and route.full_method == PROBE + name
    assert route.access is expected


def _authorizer(store: FakeAuthStore, routes: RouteTable) -> Authorizer:
    wall, tick = WallClock(), ManualClock()
    cache = KeyCache(store, tick)
    return Authorizer(routes, cache, UsageRecorder(store, wall), PEPPER, clock=wall, monotonic=tick)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/probe/undeclared/7"), ("POST", PROBE + "Undeclared")]
)
async def test_an_undeclared_rpc_is_refused_403_even_for_an_admin_key(
    probe: ServiceDescriptor, method: str, path: str
) -> None:
    store = FakeAuthStore()
    token = issue_key(store, role=Role.ADMIN)
    authorizer = _authorizer(store, RouteTable([probe]))
    request = AuthzRequest(method, path, {"authorization": f"Bearer {token}"}, "", "")
    decision = await authorizer.decide(request)
    assert isinstance(decision.error, e.PermissionUndeclared)
    assert decision.error.metadata == {"rpc": "probe.v1.ProbeService/Undeclared"}


async def test_a_public_rpc_from_the_descriptors_passes_without_a_key(
    probe: ServiceDescriptor,
) -> None:
    store = FakeAuthStore()
    authorizer = _authorizer(store, RouteTable([probe]))
    decision = await authorizer.decide(AuthzRequest("GET", "/v1/probe/public/7", {}, "", ""))
    assert decision.allowed and store.load_calls == []


async def test_every_rest_route_without_credentials_is_refused_401() -> None:
    store = FakeAuthStore()
    authorizer = _authorizer(store, RouteTable.for_paymesh())
    bindings = rest_bindings()
    refused = []
    for method, path in bindings:
        decision = await authorizer.decide(AuthzRequest(method, path, {}, "", ""))
        refused.append(isinstance(decision.error, e.CredentialsMissing))
    assert len(bindings) >= 29 and all(refused)
    # The one route that needs no key, on purpose: the providers sign their callbacks.
    assert rest_bindings(public=True) == [("POST", "/v1/provider-webhooks/x")]
