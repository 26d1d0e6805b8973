"""ServiceHost's life: health follows the probe, reflection, metrics, graceful stop, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from svc_kit.server import run_until_signalled
from tests.integration.svc_kit.kit_probe_service import SERVICE, Probe, Running, make_host

# The typeshed stubs of HealthStub and ServerReflectionStub describe the sync API only, so
# these calls are spelled out with their serializers.
HealthRequest = health_pb2.HealthCheckRequest
HealthResponse = health_pb2.HealthCheckResponse
ReflectionRequest = reflection_pb2.ServerReflectionRequest
ReflectionResponse = reflection_pb2.ServerReflectionResponse


async def _health_of(channel: grpc.aio.Channel, service: str) -> int:
    check: grpc.aio.UnaryUnaryMultiCallable[HealthRequest, HealthResponse]
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=HealthRequest.SerializeToString,
        response_deserializer=HealthResponse.FromString,
    )
    reply = await check(HealthRequest(service=service))
    return int(reply.status)


async def _wait_for_health(channel: grpc.aio.Channel, service: str, status: int) -> None:
    """Follow Watch until ``service`` reports ``status`` (what Envoy's health checker sees)."""
    watch: grpc.aio.UnaryStreamMultiCallable[HealthRequest, HealthResponse]
    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=HealthRequest.SerializeToString,
        response_deserializer=HealthResponse.FromString,
    )
    async with asyncio.timeout(3):
        async for reply in watch(HealthRequest(service=service)):
            if reply.status == status:
                return


async def test_health_flips_to_not_serving_when_the_probe_fails_and_back(
    running: Running,
) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    assert await _health_of(running.channel, SERVICE) == serving
    running.probe.healthy = False
    await _wait_for_health(running.channel, SERVICE, not_serving)
    assert await _health_of(running.channel, "") == not_serving
    running.probe.healthy = True
    await _wait_for_health(running.channel, SERVICE, serving)
    assert await _health_of(running.channel, "") == serving


async def test_reflection_lists_the_bound_service_and_health(running: Running) -> None:
    info: grpc.aio.StreamStreamMultiCallable[ReflectionRequest, ReflectionResponse]
    info = running.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=ReflectionRequest.SerializeToString,
        response_deserializer=ReflectionResponse.FromString,
    )
    replies = [reply async for reply in info(iter([ReflectionRequest(list_services="")]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
        return str(reply.read().decode())


async def test_metrics_endpoint_counts_rpcs_by_final_code(running: Running) -> None:
    await running.method("Echo")(b"x")
    with pytest.raises(grpc.aio.AioRpcError):
        await running.method("Echo")(b"not-found")
    port = running.host.metrics_port
    assert port is not None
    text = await asyncio.to_thread(_scrape, port)
    labels = f'method="/{SERVICE}/Echo",service="kit-test"'
    assert f'rpc_requests_total{{code="OK",{labels}}}' in text
    assert f'rpc_requests_total{{code="NOT_FOUND",{labels}}}' in text
    assert f'rpc_latency_seconds_bucket{{le="0.0005",{labels}}}' in text


async def test_stop_lets_in_flight_calls_finish_then_runs_on_stop_hooks() -> None:
    probe = Probe()
    host = make_host(probe, name="kit-test-stop")
    port = await host.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        echo_rpc: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
        echo_rpc = channel.unary_unary(f"/{SERVICE}/Echo")
        slow = asyncio.ensure_future(echo_rpc(b"slow"))
        await asyncio.sleep(0.1)  # let the call reach the handler
        await host.stop()
        assert await slow == b"slow"
    assert probe.stops == ["stopped"]
    await host.stop()  # a second stop is harmless
    assert probe.stops == ["stopped"]


@pytest.fixture
def restore_sigterm() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.mark.usefixtures("restore_sigterm")
async def test_sigterm_stops_the_host_gracefully() -> None:
    probe = Probe()
    host = make_host(probe, name="kit-test-signal")
    default = signal.getsignal(signal.SIGTERM)
    task = asyncio.create_task(run_until_signalled(host))
    async with asyncio.timeout(3):
        # The loop's handler replaces the default one; signalling earlier would kill pytest.
        while signal.getsignal(signal.SIGTERM) is default:  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(3):
        await task
    assert probe.stops == ["stopped"]


async def test_a_second_server_cannot_share_a_bound_port(running: Running) -> None:
    # grpc enables SO_REUSEPORT by default; ServiceHost turns it off so that a stray replica
    # fails loudly instead of silently taking half of the traffic.
    intruder = make_host(
        Probe(), name="kit-test-intruder", listen_addr=f"127.0.0.1:{running.host.port}"
    )
    with pytest.raises(RuntimeError, match="cannot listen"):
        await intruder.start()


async def test_the_ports_file_names_every_bound_port(tmp_path: Path) -> None:
    # A supervisor starts services on port 0 and reads where they ended up from here.
    ports_file = tmp_path / "run" / "kit.json"
    host = make_host(Probe(), name="kit-test-ports", ports_file=str(ports_file))
    port = await host.start()
    try:
        published = json.loads(ports_file.read_text())
    finally:
        await host.stop(0)
    assert published == {
        "grpc": port,
        "hot": None,
        "metrics": host.metrics_port,
        "pid": os.getpid(),
    }
    assert port > 0
    assert host.metrics_port
