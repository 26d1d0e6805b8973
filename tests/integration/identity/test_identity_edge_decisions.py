"""Check over gRPC, with the real store: what Envoy is told for each kind of request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from identity_svc.adapters.pepper import load_pepper
from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.entrypoints.authz import build_authz
from identity_svc.entrypoints.routes import RouteTable, paymesh_services
from paymesh.identity.v1 import identity_pb2 as pb
from paymesh.third_party.envoy import external_auth_pb2_grpc
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from tests.integration.identity.support import Denied, Edge, bearer, check_request
from tests.integration.identity.test_identity_key_lifecycle import new_key, new_merchant, whoami
from tests.unit.identity.probe_service import PROBE, probe_service


def denial(response: object) -> tuple[int, str, dict[str, str]]:
    """(HTTP status, ErrorInfo reason, headers) of a denied CheckResponse."""
    denied = response.denied_response  # type: ignore[attr-defined]
    body = json.loads(denied.body)
    info = next(d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))
    assert info["domain"] == "identity.paymesh.local"
    return (
        int(denied.status.code),
        str(info["reason"]),
        {h.header.key: h.header.value for h in denied.headers},
    )


async def test_an_allowed_request_carries_the_principal_and_loses_its_key(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, secret = await new_key(edge, merchant_id, pb.ROLE_VIEWER)

    response = await edge.check("GET", "/v1/me?x=1", bearer(secret))

    assert response.status.code == 0
    ok = response.ok_response
    set_headers = {h.header.key: h.header.value for h in ok.headers}
    principal = EdgePrincipal.from_header(set_headers[PRINCIPAL_HEADER])
    assert principal is not None
    assert (principal.merchant_id, principal.key_id, principal.role) == (
        merchant_id,
        key_id,
        "viewer",
    )
    assert principal.source_address.startswith("203.0.113.7")
    assert "authorization" in ok.headers_to_remove
    assert "x-request-id" not in set_headers  # Envoy's own id is kept, never replaced


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "API_KEY_MISSING"),
        ({"authorization": "Bearer not-a-key"}, "API_KEY_MALFORMED"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "API_KEY_MALFORMED"),
    ],
)
async def test_requests_without_a_usable_key_get_401(
    edge: Edge, headers: dict[str, str], reason: str
) -> None:
    response = await edge.check("GET", "/v1/merchants", headers)

    status, got_reason, out_headers = denial(response)
    assert response.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert (status, got_reason) == (401, reason)
    assert out_headers["www-authenticate"].startswith("Bearer")
    assert out_headers["content-type"] == "application/json"


async def test_a_typo_in_a_real_key_is_refused_as_a_checksum_mismatch(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    _, secret = await new_key(edge, merchant_id)
    typo = secret[:-10] + ("A" if secret[-10] != "A" else "B") + secret[-9:]

    status, reason, _ = denial(await edge.check("GET", "/v1/me", bearer(typo)))

    assert (status, reason) == (401, "API_KEY_CHECKSUM_MISMATCH")


async def test_the_x_api_key_header_is_accepted_too(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    _, secret = await new_key(edge, merchant_id)

    response = await edge.check("GET", "/v1/me", {"x-api-key": secret})

    assert response.status.code == 0
    assert "x-api-key" in response.ok_response.headers_to_remove


async def test_a_role_without_the_declared_permission_gets_403(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    _, viewer = await new_key(edge, merchant_id, pb.ROLE_VIEWER)

    status, reason, _ = denial(
        await edge.check("POST", f"/v1/merchants/{merchant_id}/api-keys", bearer(viewer))
    )

    assert (status, reason) == (403, "PERMISSION_MISSING")


async def test_a_key_past_its_burst_gets_429_with_retry_after(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    _, secret = await new_key(
        edge, merchant_id, rate_limit=pb.RateLimit(requests_per_second=1, burst=3)
    )

    results = [await edge.check("GET", "/v1/me", bearer(secret)) for _ in range(5)]

    assert [r.status.code for r in results[:3]] == [0, 0, 0]
    status, reason, headers = denial(results[3])
    assert (status, reason) == (429, "RATE_LIMITED")
    assert int(headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/provider-webhooks/stripe"),
        ("GET", "/healthz"),
        ("POST", "/grpc.health.v1.Health/Check"),
    ],
)
async def test_public_routes_need_no_key_and_drop_a_forged_principal(
    edge: Edge, method: str, path: str
) -> None:
    forged = EdgePrincipal("mer_x", "k", "admin", "test").to_header()

    response = await edge.check(method, path, {PRINCIPAL_HEADER: forged})

    assert response.status.code == 0
    assert PRINCIPAL_HEADER in response.ok_response.headers_to_remove


async def test_an_unknown_route_is_401_without_a_key_and_404_with_one(edge: Edge) -> None:
    anonymous = await edge.check("GET", "/v1/nothing-here", {})
    known = await edge.check("GET", "/v1/nothing-here", bearer(edge.admin_token))

    assert denial(anonymous)[:2] == (401, "API_KEY_MISSING")
    assert denial(known)[:2] == (404, "ROUTE_NOT_FOUND")


async def test_usage_counts_allowed_and_throttled_requests_per_key_and_rpc(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, secret = await new_key(
        edge, merchant_id, rate_limit=pb.RateLimit(requests_per_second=1, burst=4)
    )
    for _ in range(6):
        await edge.check("GET", "/v1/me", bearer(secret))
    await asyncio.sleep(0.5)  # two usage flushes

    usage = await edge.call(
        "GetUsage",
        pb.GetUsageRequest(merchant_id=merchant_id, key_id=key_id),
        "GET",
        f"/v1/merchants/{merchant_id}/usage",
        edge.admin_token,
    )

    assert [(r.rpc, r.allowed_count, r.throttled_count) for r in usage.records] == [
        ("paymesh.identity.v1.IdentityService/WhoAmI", 4, 2)
    ]
    assert (usage.total_allowed, usage.total_throttled) == (4, 2)
    key = await edge.call(
        "GetApiKey",
        pb.GetApiKeyRequest(key_id=key_id),
        "GET",
        f"/v1/api-keys/{key_id}",
        edge.admin_token,
    )
    assert key.api_key.HasField("last_used_time")


async def test_calling_the_service_directly_without_the_edge_is_unauthenticated(
    edge: Edge,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.stub.WhoAmI(pb.WhoAmIRequest())  # type: ignore[misc]

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_whoami_through_the_edge_still_works_after_denials(edge: Edge) -> None:
    with pytest.raises(Denied):
        await whoami(edge, "pm_test_" + "x" * 55)

    assert (await whoami(edge, edge.admin_token)).principal.role == pb.ROLE_ADMIN


async def test_an_rpc_without_a_declared_permission_is_refused_403_even_for_admin(
    edge: Edge, tmp_path: Path
) -> None:
    # A Check server whose route table also holds a service built at test time: a real
    # store and key, but a route no shipped proto could leave undeclared.
    routes = RouteTable([*paymesh_services(), probe_service()])
    pepper = load_pepper(str(tmp_path / "pepper"), environment="test")
    authz = build_authz(SqlIdentityStore(edge.engine), pepper, routes=routes)
    server = grpc.aio.server()
    authz.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await authz.start()
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = external_auth_pb2_grpc.AuthorizationStub(channel)
            rest = await stub.Check(
                check_request("GET", "/v1/probe/undeclared/7", bearer(edge.admin_token))
            )
            over_grpc = await stub.Check(
                check_request("POST", PROBE + "Undeclared", bearer(edge.admin_token))
            )
    finally:
        await server.stop(0)
        await authz.stop()

    assert denial(rest)[:2] == (403, "PERMISSION_UNDECLARED")
    assert denial(over_grpc)[:2] == (403, "PERMISSION_UNDECLARED")
