"""The SPIFFE allow-list: one rule for every RPC on both listeners of a ServiceHost, over real mTLS.

The host serves an intercepted service on its main port and a hot-path service (no interceptors,
checks its own callers, as identity's Check does) on a listener of its own; health and reflection
run on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from pydantic_settings import SettingsConfigDict

from svc_kit.grpc_errors import ErrorMapper
from svc_kit.peers import PeerAllowList, peer_allow_list
from svc_kit.pki import write_dev_pki
from svc_kit.server import ServiceBinding, ServiceHost
from svc_kit.settings import ServiceSettings
from svc_kit.tls import channel_credentials, peer_spiffe_id
from tests.integration.svc_kit.tls_support import (
    error_info,
    health_status,
    odd_leaf,
    open_reflection_without_sending,
    reflected_services,
)

DOMAIN = "kit.paymesh.local"
ENVOY = "spiffe://paymesh.local/envoy"
GATEWAY = "spiffe://paymesh.local/gateway"


class KitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_PEERS_", extra="forbid")


@dataclass
class Host:
    main: int
    hot: int


async def who_am_i(request: bytes, context: Any) -> bytes:
    version = b"".join(context.auth_context().get("ssl_tls_version", ()))
    return (peer_spiffe_id(context) or "anonymous").encode() + b" " + version


def _main_service(server: grpc.aio.Server) -> None:
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(who_am_i)
    generic = grpc.method_handlers_generic_handler("kit.test.v1.Main", {"Get": handler})
    server.add_generic_rpc_handlers((generic,))


def _hot_service(peers: PeerAllowList | None) -> Any:
    async def hot(request: bytes, context: Any) -> bytes:
        refusal = peers.refusal(context) if peers is not None else None
        if refusal is not None:
            await context.abort_with_status(refusal)
        return b"hot"

    def add(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(hot)
        generic = grpc.method_handlers_generic_handler("kit.test.v1.Hot", {"Get": handler})
        server.add_generic_rpc_handlers((generic,))

    return add


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    write_dev_pki(directory, ["ledger", "gateway", "envoy"])
    # Two SPIFFE ids, Envoy's among them: ambiguous, so neither may count.
    odd_leaf(directory, "two-ids", uris=(ENVOY, GATEWAY), common_name="two-ids")
    # No SAN at all: gRPC then names the common name as the peer identity.
    odd_leaf(directory, "cn-only", uris=(), common_name=ENVOY)
    return directory


async def _start(pki: Path, allowed: list[str]) -> tuple[ServiceHost, Host]:
    settings = KitSettings(
        listen_addr="127.0.0.1:0",
        tls_cert_file=str(pki / "ledger.pem"),
        tls_key_file=str(pki / "ledger-key.pem"),
        tls_ca_file=str(pki / "ca.pem"),
        allowed_peers=allowed,
    )
    host = ServiceHost(
        name="kit-peers",
        settings=settings,
        bindings=[
            ServiceBinding("kit.test.v1.Main", _main_service),
            ServiceBinding(
                "kit.test.v1.Hot",
                _hot_service(peer_allow_list(settings, DOMAIN)),
                intercepted=False,
            ),
        ],
        error_mapper=ErrorMapper({}, domain=DOMAIN),
        hot_listen_addr="127.0.0.1:0",
    )
    main = await host.start()
    assert host.hot_port is not None
    return host, Host(main, host.hot_port)


@pytest.fixture
async def envoy_only(pki: Path) -> AsyncIterator[Host]:
    host, ports = await _start(pki, [ENVOY])
    yield ports
    await host.stop(0)


def _as(pki: Path, workload: str) -> grpc.ChannelCredentials:
    return channel_credentials(
        str(pki / f"{workload}.pem"), str(pki / f"{workload}-key.pem"), str(pki / "ca.pem")
    )


async def _get(port: int, creds: grpc.ChannelCredentials, service: str) -> bytes:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        get: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/kit.test.v1.{service}/Get"
        )
        return await get(b"", timeout=3)


async def _health(port: int, creds: grpc.ChannelCredentials) -> int:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        return await health_status(channel)


async def _reflect(port: int, creds: grpc.ChannelCredentials) -> list[str]:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        return await reflected_services(channel)


async def _call(port: int, creds: grpc.ChannelCredentials, call: str) -> object:
    if call == "health":
        return await _health(port, creds)
    if call == "reflection":
        return await _reflect(port, creds)
    return await _get(port, creds, call)


async def _refused_call(port: int, creds: grpc.ChannelCredentials, call: str) -> object:
    if call != "reflection":
        return await _call(port, creds, call)
    # A stream: opened without sending, so the refusal is what the client sees.
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        await open_reflection_without_sending(channel)
    return None


async def test_an_allowed_peer_is_served_on_every_rpc_of_both_listeners_over_tls13(
    envoy_only: Host, pki: Path
) -> None:
    envoy = _as(pki, "envoy")

    assert await _get(envoy_only.main, envoy, "Main") == f"{ENVOY} TLSv1.3".encode()
    assert await _get(envoy_only.hot, envoy, "Hot") == b"hot"
    for port in (envoy_only.main, envoy_only.hot):
        assert await _health(port, envoy) == health_pb2.HealthCheckResponse.SERVING
        assert "grpc.health.v1.Health" in await _reflect(port, envoy)


@pytest.mark.parametrize(
    ("listener", "call"),
    [
        ("main", "Main"),
        ("main", "health"),
        ("main", "reflection"),
        ("hot", "Hot"),
        ("hot", "health"),
        ("hot", "reflection"),
    ],
)
async def test_a_peer_off_the_list_is_denied_with_error_info_on_every_rpc(
    envoy_only: Host, pki: Path, listener: str, call: str
) -> None:
    port = envoy_only.main if listener == "main" else envoy_only.hot
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _refused_call(port, _as(pki, "gateway"), call)

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("PEER_NOT_ALLOWED", DOMAIN)
    assert info.metadata["peer"] == GATEWAY


async def test_a_refusal_on_the_main_listener_still_carries_the_request_id(
    envoy_only: Host, pki: Path
) -> None:
    async with grpc.aio.secure_channel(f"127.0.0.1:{envoy_only.main}", _as(pki, "gateway")) as ch:
        get: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = ch.unary_unary(
            "/kit.test.v1.Main/Get"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get(b"", metadata=(("x-request-id", "r-1"),))

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert ("x-request-id", "r-1") in tuple(caught.value.trailing_metadata() or ())


@pytest.mark.parametrize("workload", ["two-ids", "cn-only"])
async def test_a_certificate_whose_spiffe_id_is_ambiguous_or_only_a_common_name_is_denied(
    envoy_only: Host, pki: Path, workload: str
) -> None:
    for port, service in ((envoy_only.main, "Main"), (envoy_only.hot, "Hot")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _get(port, _as(pki, workload), service)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value).metadata["peer"] == ""


async def test_a_star_admits_any_certificate_of_the_ca(pki: Path) -> None:
    host, ports = await _start(pki, ["*"])
    try:
        on_main = await _get(ports.main, _as(pki, "gateway"), "Main")
        on_hot = await _get(ports.hot, _as(pki, "gateway"), "Hot")
        health = await _health(ports.hot, _as(pki, "gateway"))
    finally:
        await host.stop(0)

    assert host.peers is None
    assert on_main.startswith(GATEWAY.encode())
    assert (on_hot, health) == (b"hot", health_pb2.HealthCheckResponse.SERVING)


async def test_a_plaintext_host_ignores_the_list() -> None:
    settings = KitSettings(plaintext=True, listen_addr="127.0.0.1:0", allowed_peers=[ENVOY])
    host = ServiceHost(
        name="kit-plain",
        settings=settings,
        bindings=[ServiceBinding("kit.test.v1.Main", _main_service)],
        error_mapper=ErrorMapper({}, domain=DOMAIN),
    )
    port = await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            get: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
            get = channel.unary_unary("/kit.test.v1.Main/Get")
            reply = await get(b"", timeout=3)
    finally:
        await host.stop(0)

    assert host.peers is None
    assert reply == b"anonymous "
