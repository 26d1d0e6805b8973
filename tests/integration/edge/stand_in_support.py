"""A stand-in gateway behind the real Envoy, for wire tests of what the REST edge hands it.

The stand-in is a ServiceHost presenting the gateway's certificate (Envoy's gateway cluster
checks its SPIFFE id) that serves only the handlers a test gives it, with the error mapping
the test chooses; the real ledger and identity (ext_authz) run beside it. So a test proves
what reaches the gateway, whatever state the gateway's own servicers are in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from pydantic_settings import SettingsConfigDict

from svc_kit.grpc_errors import ErrorMapper
from svc_kit.server import ServiceBinding, ServiceHost
from svc_kit.settings import ServiceSettings
from tests.e2e.stack_fixture import Edge, Services, service_tls, start_edge, start_services

GATEWAY_DOMAIN = "gateway.paymesh.local"


class _StandInSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_STAND_IN_", extra="forbid")


def _serialize(reply: Message) -> bytes:
    return reply.SerializeToString()


def unary_binding(
    service: str, handlers: dict[str, tuple[type[Message], Callable[..., Any]]]
) -> ServiceBinding:
    """``service`` serving only ``handlers`` (RPC name -> request type, async behaviour);
    every other RPC of it answers UNIMPLEMENTED."""
    methods: dict[str, grpc.RpcMethodHandler[Message, Message]] = {
        rpc: grpc.unary_unary_rpc_method_handler(
            behaviour, request_deserializer=request_type.FromString, response_serializer=_serialize
        )
        for rpc, (request_type, behaviour) in handlers.items()
    }
    generic = grpc.method_handlers_generic_handler(service, methods)
    return ServiceBinding(service, lambda server: server.add_generic_rpc_handlers([generic]))


@dataclass
class StandInEdge:
    """The running services, the Envoy in front of them, and the stand-in gateway."""

    services: Services
    edge: Edge
    gateway: ServiceHost


@asynccontextmanager
async def gateway_stand_in(
    workdir: Path, bindings: Sequence[ServiceBinding], error_mapper: ErrorMapper | None = None
) -> AsyncIterator[StandInEdge]:
    """The real services, and an Envoy whose gateway cluster is a stand-in serving ``bindings``.

    ``error_mapper`` maps what the handlers raise; by default none of their errors is mapped
    (an unmapped DomainError answers INTERNAL, as in the gateway).
    """
    async with start_services(workdir) as services:
        stand_in = ServiceHost(
            name="gateway-stand-in",
            settings=_StandInSettings(
                listen_addr="127.0.0.1:0", **service_tls(services.pki, "gateway")
            ),
            bindings=list(bindings),
            error_mapper=error_mapper or ErrorMapper({}, GATEWAY_DOMAIN),
        )
        port = await stand_in.start()
        upstreams = {**services.upstreams(), "gateway": [f"127.0.0.1:{port}"]}
        try:
            async with start_edge(services, workdir / "edge", upstreams=upstreams) as edge:
                yield StandInEdge(services, edge, stand_in)
        finally:
            await stand_in.stop(0)
