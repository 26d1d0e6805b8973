"""A tiny gRPC service on raw bytes, hosted by ServiceHost, for the svc_kit integration tests.

Generic handlers (no generated code) let svc_kit be proven on its own; each request value picks
a behaviour: a mapped DomainError, field violations, a crash, the handler's own abort.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from pydantic_settings import SettingsConfigDict

from svc_kit.faults import DomainError, FieldViolation
from svc_kit.grpc_errors import ErrorMapper
from svc_kit.server import ServiceBinding, ServiceHost
from svc_kit.settings import ServiceSettings

SERVICE = "kit.test.v1.Probe"
Context = Any  # grpc.aio.ServicerContext; the stubs' generic form is not subscriptable at runtime


class KitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_TEST_", extra="forbid")


class ThingNotFoundError(DomainError):
    reason = "THING_NOT_FOUND"


class ThingInvalidError(DomainError):
    reason = "THING_INVALID"


MAPPER = ErrorMapper(
    {
        ThingNotFoundError: grpc.StatusCode.NOT_FOUND,
        ThingInvalidError: grpc.StatusCode.INVALID_ARGUMENT,
    },
    domain="kit.paymesh.local",
)
SECRET = "postgresql://u:hunter2@db/ledger"


async def echo(request: bytes, context: Context) -> bytes:
    if request == b"not-found":
        raise ThingNotFoundError("no such thing", metadata={"thing_id": "t1"})
    if request == b"invalid":
        raise ThingInvalidError("bad thing", violations=[FieldViolation("thing.name", "required")])
    if request == b"crash":
        raise RuntimeError(f"cannot connect to {SECRET}")
    if request == b"abort":
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "the handler's own abort")
    if request == b"slow":
        await asyncio.sleep(0.3)
    return request


async def count(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()
    raise ThingNotFoundError("ran out of things")


async def count_by_writing(request: bytes, context: Context) -> None:
    await context.write(b"0")
    raise ThingInvalidError("stop writing")


async def total(requests: AsyncIterator[bytes], context: Context) -> bytes:
    size = 0
    async for request in requests:
        size += len(request)
    if size == 0:
        raise ThingInvalidError("nothing to add up")
    return str(size).encode()


async def shout(requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
    async for request in requests:
        if request == b"crash":
            raise RuntimeError(SECRET)
        yield request.upper()


def add_probe_service(server: grpc.aio.Server) -> None:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "CountByWriting": grpc.unary_stream_rpc_method_handler(count_by_writing),
        "Total": grpc.stream_unary_rpc_method_handler(total),
        "Shout": grpc.stream_stream_rpc_method_handler(shout),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@dataclass
class Probe:
    healthy: bool = True
    stops: list[str] = field(default_factory=list)

    async def __call__(self) -> bool:
        return self.healthy

    async def on_stop(self) -> None:
        self.stops.append("stopped")


@dataclass
class Running:
    host: ServiceHost
    channel: grpc.aio.Channel
    probe: Probe

    def method(self, name: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
        return self.channel.unary_unary(f"/{SERVICE}/{name}")

    def streaming(self, name: str) -> grpc.aio.UnaryStreamMultiCallable[bytes, bytes]:
        return self.channel.unary_stream(f"/{SERVICE}/{name}")


def make_host(
    probe: Probe, name: str = "kit-test", listen_addr: str = "127.0.0.1:0", ports_file: str = ""
) -> ServiceHost:
    settings = KitSettings(
        listen_addr=listen_addr,
        ports_file=ports_file,
        plaintext=True,
        metrics_addr="127.0.0.1:0",
        health_probe_interval_s=0.05,
        shutdown_grace_s=1.0,
    )
    return ServiceHost(
        name=name,
        settings=settings,
        bindings=[ServiceBinding(SERVICE, add_probe_service)],
        error_mapper=MAPPER,
        health_probe=probe,
        on_stop=[probe.on_stop],
    )
