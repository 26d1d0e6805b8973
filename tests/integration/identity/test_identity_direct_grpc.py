"""IdentityService called over gRPC with the caller's own key, without the edge."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from paymesh.identity.v1 import identity_pb2 as pb
from tests.integration.identity.support import Edge, bearer
from tests.integration.identity.test_identity_key_lifecycle import new_key, new_merchant


async def test_a_grpc_caller_with_its_own_key_is_authenticated_like_at_the_edge(
    edge: Edge,
) -> None:
    merchant_id = await new_merchant(edge)
    key_id, secret = await new_key(edge, merchant_id, pb.ROLE_DEVELOPER)

    reply = await edge.stub.WhoAmI(  # type: ignore[misc]
        pb.WhoAmIRequest(), metadata=tuple(bearer(secret).items())
    )

    assert (reply.principal.key_id, reply.principal.role) == (key_id, pb.ROLE_DEVELOPER)


async def test_a_grpc_caller_without_the_permission_is_refused(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    _, viewer = await new_key(edge, merchant_id, pb.ROLE_VIEWER)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.stub.ListApiKeys(  # type: ignore[misc]
            pb.ListApiKeysRequest(merchant_id=merchant_id), metadata=tuple(bearer(viewer).items())
        )

    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_grpc_caller_with_a_bad_key_is_unauthenticated(edge: Edge) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.stub.WhoAmI(  # type: ignore[misc]
            pb.WhoAmIRequest(), metadata=(("authorization", "Bearer pm_test_nope"),)
        )

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_check_counts_its_own_decisions_since_it_bypasses_the_interceptors(
    edge: Edge,
) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value("paymesh_authz_decisions_total", {"outcome": outcome})
        return value or 0.0

    allowed_before, missing_before = count("allow"), count("API_KEY_MISSING")
    await edge.check("GET", "/v1/me", bearer(edge.admin_token))
    await edge.check("GET", "/v1/me", {})

    assert count("allow") == allowed_before + 1
    assert count("API_KEY_MISSING") == missing_before + 1
