"""Check on a listener of its own: the hot path with no interceptors, the rest unchanged."""

from __future__ import annotations

from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2

from identity_svc.app import create_app
from identity_svc.settings import IdentitySettings
from paymesh.identity.v1 import identity_pb2 as pb
from paymesh.identity.v1 import identity_pb2_grpc
from paymesh.third_party.envoy import external_auth_pb2, external_auth_pb2_grpc
from tests.integration.identity.support import check_request


async def test_check_is_served_on_its_own_listener_and_only_there(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    settings = IdentitySettings(
        plaintext=True,
        listen_addr="127.0.0.1:0",
        authz_listen_addr="127.0.0.1:0",
        database_url=sqlite_database_url,
        key_pepper_file=str(tmp_path / "pepper"),
    )
    host = await create_app(settings)
    port = await host.start()
    try:
        hot_port = host.hot_port
        assert hot_port is not None and hot_port != port
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{hot_port}") as hot,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as main,
        ):
            request = check_request("GET", "/v1/me", {})
            check = hot.unary_unary(
                "/envoy.service.auth.v3.Authorization/Check",
                request_serializer=external_auth_pb2.CheckRequest.SerializeToString,
                response_deserializer=external_auth_pb2.CheckResponse.FromString,
            )
            denied = await check(request)
            health = hot.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            status = await health(health_pb2.HealthCheckRequest())
            with pytest.raises(grpc.aio.AioRpcError) as on_main:
                await external_auth_pb2_grpc.AuthorizationStub(main).Check(request)
            with pytest.raises(grpc.aio.AioRpcError) as identity_on_main:
                await identity_pb2_grpc.IdentityServiceStub(main).WhoAmI(pb.WhoAmIRequest())
    finally:
        await host.stop(0)

    assert denied.denied_response.status.code == 401
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert on_main.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert identity_on_main.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_check_listener_must_be_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        IdentitySettings(
            plaintext=True, listen_addr="127.0.0.1:0", authz_listen_addr="0.0.0.0:50063"
        )
