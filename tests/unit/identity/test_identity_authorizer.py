"""The Authorizer decides every outside request, against an in-memory store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import grpc.aio
import pytest

from identity_svc.domain import errors as e
from identity_svc.domain.keys import new_token
from identity_svc.domain.model import MerchantStatus
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.entrypoints.authz import build_authz
from identity_svc.entrypoints.routes import RouteTable
from identity_svc.service_layer.authorizer import Authorizer, AuthzRequest, Decision
from identity_svc.service_layer.key_cache import KeyCache, StoreUnavailable
from identity_svc.service_layer.usage_recorder import UsageRecorder
from paymesh.third_party.envoy import core_pb2
from paymesh.third_party.envoy.external_auth_pb2 import CheckResponse
from paymesh.third_party.envoy.external_auth_pb2_grpc import AuthorizationStub
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from tests.unit.identity.fakes import (
    NOW,
    PEPPER,
    FakeAuthStore,
    ManualClock,
    WallClock,
    envoy_check,
    issue_key,
    key_id_of,
    rotate_key,
)

WHOAMI = "/paymesh.identity.v1.IdentityService/WhoAmI"
ROUTES = RouteTable.for_paymesh()


@dataclass
class World:
    store: FakeAuthStore
    wall: WallClock
    tick: ManualClock
    cache: KeyCache
    recorder: UsageRecorder
    authorizer: Authorizer

    async def decide(self, path: str = "/v1/me", method: str = "GET", **headers: str) -> Decision:
        request = AuthzRequest(method, path, headers, "203.0.113.7:50123", "")
        return await self.authorizer.decide(request)


@pytest.fixture
async def world() -> World:
    store, wall, tick = FakeAuthStore(), WallClock(), ManualClock()
    cache = KeyCache(store, tick)
    await cache.sync_once()  # the follower is current; the manual clock never makes it stale
    recorder = UsageRecorder(store, wall)
    authorizer = Authorizer(ROUTES, cache, recorder, PEPPER, clock=wall, monotonic=tick)
    return World(store, wall, tick, cache, recorder, authorizer)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_valid_key_is_allowed_with_its_principal_and_without_its_secret(
    world: World,
) -> None:
    token = issue_key(world.store, role=Role.VIEWER, merchant_id="mer_7")
    decision = await world.decide("/v1/me?verbose=1", **bearer(token))
    assert decision.allowed
    headers = dict(decision.headers)
    principal = EdgePrincipal.from_header(headers[PRINCIPAL_HEADER])
    assert principal == EdgePrincipal(
        "mer_7", key_id_of(token), "viewer", "test", "203.0.113.7:50123"
    )
    assert headers["x-request-id"] == decision.request_id and len(decision.request_id) == 32
    assert set(decision.headers_to_remove) == {"authorization", "x-api-key"}


async def test_a_client_request_id_is_kept_and_not_set_again(world: World) -> None:
    token = issue_key(world.store)
    decision = await world.decide(**bearer(token), **{"x-request-id": "req-abc"})
    assert decision.allowed and decision.request_id == "req-abc"
    assert [name for name, _ in decision.headers] == [PRINCIPAL_HEADER]


async def test_an_x_api_key_header_is_accepted(world: World) -> None:
    token = issue_key(world.store)
    decision = await world.decide(**{"x-api-key": token})
    assert decision.allowed


async def test_a_second_request_is_answered_from_the_cache(world: World) -> None:
    token = issue_key(world.store)
    first = await world.decide(**bearer(token))
    second = await world.decide(**bearer(token))
    assert first.allowed and second.allowed
    assert world.store.load_calls == [key_id_of(token)]


async def test_a_request_without_a_key_is_refused_401(world: World) -> None:
    decision = await world.decide()
    assert isinstance(decision.error, e.CredentialsMissing)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer not-a-paymesh-key"},
        {"x-api-key": "pm_test_short"},
    ],
)
async def test_a_malformed_key_is_refused_401_without_touching_the_store(
    world: World, headers: dict[str, str]
) -> None:
    decision = await world.decide(**headers)
    assert isinstance(decision.error, e.CredentialsMalformed)
    assert world.store.load_calls == []


async def test_a_key_with_a_typo_is_refused_401_without_touching_the_store(
    world: World,
) -> None:
    token = issue_key(world.store)
    typo = token[:-10] + ("x" if token[-10] != "x" else "y") + token[-9:]
    decision = await world.decide(**bearer(typo))
    assert isinstance(decision.error, e.ChecksumMismatch)
    assert world.store.load_calls == []


async def test_an_unknown_key_and_a_wrong_secret_are_both_refused_as_invalid(
    world: World,
) -> None:
    token = issue_key(world.store)
    unknown = new_token("test", "0000000000000000")
    wrong_secret = new_token("test", key_id_of(token))
    assert isinstance((await world.decide(**bearer(unknown))).error, e.CredentialsInvalid)
    assert isinstance((await world.decide(**bearer(wrong_secret))).error, e.CredentialsInvalid)


async def test_revoked_expired_and_suspended_keys_are_refused_401(world: World) -> None:
    revoked = issue_key(world.store, merchant_id="mer_r")
    world.store.update_key(key_id_of(revoked), revoke_time=NOW)
    expired = issue_key(world.store, merchant_id="mer_e", expire_time=NOW)
    suspended = issue_key(world.store, merchant_id="mer_s")
    world.store.set_merchant_status("mer_s", MerchantStatus.SUSPENDED)
    assert isinstance((await world.decide(**bearer(revoked))).error, e.CredentialsRevoked)
    assert isinstance((await world.decide(**bearer(expired))).error, e.CredentialsExpired)
    assert isinstance((await world.decide(**bearer(suspended))).error, e.MerchantSuspended)


async def test_a_rotated_out_secret_works_during_the_overlap_and_not_after(
    world: World,
) -> None:
    old = issue_key(world.store)
    new = rotate_key(world.store, old, overlap_until=NOW + timedelta(hours=1))
    assert (await world.decide(**bearer(old))).allowed
    assert (await world.decide(**bearer(new))).allowed
    world.wall.now = NOW + timedelta(hours=1)
    assert isinstance((await world.decide(**bearer(old))).error, e.CredentialsExpired)
    assert (await world.decide(**bearer(new))).allowed


async def test_a_role_without_the_declared_permission_is_refused_403(world: World) -> None:
    token = issue_key(world.store, role=Role.DEVELOPER)
    decision = await world.decide("/v1/api-keys/abc:revoke", "POST", **bearer(token))
    assert isinstance(decision.error, e.PermissionMissing)
    assert decision.error.metadata == {"permission": "keys:manage", "role": "developer"}


async def test_an_unknown_route_is_404_for_a_key_and_401_without_one(world: World) -> None:
    token = issue_key(world.store, role=Role.ADMIN)
    with_key = await world.decide("/v1/secret-admin", **bearer(token))
    without = await world.decide("/v1/secret-admin")
    assert isinstance(with_key.error, e.RouteNotFound)
    assert isinstance(without.error, e.CredentialsMissing)


async def test_the_burst_is_allowed_then_429_with_retry_after_then_refilled(
    world: World,
) -> None:
    token = issue_key(world.store, rate_limit=RateLimit(requests_per_second=0.5, burst=2))
    results = [await world.decide(**bearer(token)) for _ in range(3)]
    assert [d.allowed for d in results] == [True, True, False]
    assert isinstance(results[2].error, e.RateLimited)
    assert results[2].retry_after_s == 2
    assert results[2].error.metadata == {"retry_after_s": "2"}
    world.tick.advance(2.0)
    assert (await world.decide(**bearer(token))).allowed
    usage = world.recorder.pending()
    assert [(u.rpc, u.allowed, u.throttled) for u in usage] == [(WHOAMI[1:], 3, 1)]


async def test_a_changed_rate_limit_reshapes_the_bucket(world: World) -> None:
    token = issue_key(world.store, rate_limit=RateLimit(requests_per_second=1, burst=5))
    assert (await world.decide(**bearer(token))).allowed
    world.store.update_key(key_id_of(token), rate_limit=RateLimit(requests_per_second=1, burst=1))
    await world.cache.sync_once()
    # The new burst caps the 4 tokens left at 1: one more, then refused.
    assert (await world.decide(**bearer(token))).allowed
    assert isinstance((await world.decide(**bearer(token))).error, e.RateLimited)


@pytest.mark.parametrize(
    "path",
    ["/v1/provider-webhooks/stripe", "/healthz", "/grpc.health.v1.Health/Check"],
)
async def test_public_paths_pass_without_a_key_and_without_a_principal(
    world: World, path: str
) -> None:
    decision = await world.decide(path, "POST", **{PRINCIPAL_HEADER: "merchant_id=forged"})
    assert decision.allowed
    assert PRINCIPAL_HEADER not in dict(decision.headers)
    assert PRINCIPAL_HEADER in decision.headers_to_remove
    assert world.store.load_calls == []


async def test_a_store_outage_on_a_miss_raises_store_unavailable(world: World) -> None:
    token = issue_key(world.store)
    world.store.fail_loads = True
    with pytest.raises(StoreUnavailable):
        await world.decide(**bearer(token))


# --------------------------------------------------- the Check RPC, over the wire
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


@pytest.fixture
async def check() -> AsyncIterator[tuple[FakeAuthStore, AuthorizationStub]]:
    """A real grpc.aio server on loopback serving build_authz over the fake store."""
    store = FakeAuthStore()
    authz = build_authz(store, PEPPER)
    server = grpc.aio.server()
    authz.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await authz.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield store, AuthorizationStub(channel)
    finally:
        await authz.stop()
        await server.stop(None)


def denial(response: CheckResponse) -> tuple[int, dict[str, str], dict[str, Any]]:
    denied = response.denied_response
    headers = {h.header.key: h.header.value for h in denied.headers}
    return int(denied.status.code), headers, json.loads(denied.body)


async def test_check_allows_with_headers_that_overwrite_and_remove(check) -> None:
    store, stub = check
    token = issue_key(store, role=Role.VIEWER, merchant_id="mer_9")
    response = await stub.Check(envoy_check("/v1/me?x=1", **bearer(token)))
    assert response.status.code == 0 and response.HasField("ok_response")
    ok = response.ok_response
    assert [h.append_action for h in ok.headers] == [
        core_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    ]
    principal = EdgePrincipal.from_header(ok.headers[0].header.value)
    assert ok.headers[0].header.key == PRINCIPAL_HEADER
    assert principal is not None and principal.merchant_id == "mer_9"
    assert principal.source_address == "203.0.113.7:50123"
    assert set(ok.headers_to_remove) == {"authorization", "x-api-key"}


async def test_check_denies_401_with_a_json_status_body(check) -> None:
    _, stub = check
    response = await stub.Check(envoy_check("/v1/me"))
    http_status, headers, body = denial(response)
    assert response.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert http_status == 401
    assert headers["content-type"] == "application/json"
    assert headers["www-authenticate"] == "Bearer"
    assert headers["x-request-id"] == "envoy-req-1"
    assert body["code"] == 16 and body["message"]
    assert body["details"] == [
        {"@type": ERROR_INFO, "reason": "API_KEY_MISSING", "domain": "identity.paymesh.local"}
    ]


async def test_check_denies_403_when_the_role_lacks_the_permission(check) -> None:
    store, stub = check
    token = issue_key(store, role=Role.VIEWER)
    response = await stub.Check(envoy_check("/v1/merchants", "POST", **bearer(token)))
    http_status, headers, body = denial(response)
    assert response.status.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert http_status == 403 and "www-authenticate" not in headers
    assert body["details"][0]["reason"] == "PERMISSION_MISSING"
    assert body["details"][0]["metadata"] == {"permission": "merchants:manage", "role": "viewer"}


async def test_check_denies_429_with_retry_after(check) -> None:
    store, stub = check
    token = issue_key(store, rate_limit=RateLimit(requests_per_second=0.2, burst=1))
    first = await stub.Check(envoy_check("/v1/me", **{"x-api-key": token}))
    second = await stub.Check(envoy_check("/v1/me", **{"x-api-key": token}))
    http_status, headers, body = denial(second)
    assert first.status.code == 0
    assert second.status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert http_status == 429 and headers["retry-after"] == "5"
    assert body["details"][0]["reason"] == "RATE_LIMITED"


async def test_check_lets_a_public_route_through_and_strips_a_forged_principal(check) -> None:
    _, stub = check
    forged = {PRINCIPAL_HEADER: "merchant_id=mer_x&key_id=k&role=admin&environment=live"}
    response = await stub.Check(envoy_check("/v1/provider-webhooks/stripe", "POST", **forged))
    assert response.status.code == 0
    assert PRINCIPAL_HEADER in response.ok_response.headers_to_remove
    assert [h.header.key for h in response.ok_response.headers] == []


async def test_check_fails_unavailable_when_the_store_cannot_be_read(check) -> None:
    store, stub = check
    token = issue_key(store)
    store.fail_loads = True
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Check(envoy_check("/v1/me", **bearer(token)))
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_check_reuses_answers_but_each_key_gets_its_own_principal(check) -> None:
    store, stub = check
    tokens = [issue_key(store, merchant_id=m) for m in ("mer_a", "mer_b", "mer_a")]
    merchants = []
    for token in tokens * 2:
        response = await stub.Check(envoy_check("/v1/me", **bearer(token)))
        principal = EdgePrincipal.from_header(response.ok_response.headers[0].header.value)
        assert principal is not None and principal.key_id == key_id_of(token)
        merchants.append(principal.merchant_id)
    assert merchants == ["mer_a", "mer_b", "mer_a"] * 2
