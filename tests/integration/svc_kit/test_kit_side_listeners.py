"""ServiceHost's side listeners: started with the servers, published, told the host's health,
stopped after the gRPC servers drained."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import grpc.aio
import pytest

from svc_kit.server import ServiceBinding, ServiceHost
from tests.integration.svc_kit.kit_probe_service import (
    MAPPER,
    SERVICE,
    KitSettings,
    Probe,
    add_probe_service,
)


class LineListener:
    """A real asyncio listener that answers each connection with one line: SERVING or not."""

    def __init__(self, name: str, events: list[str], *, fail: bool = False) -> None:
        self._name = name
        self._events = events
        self._fail = fail
        self._server: asyncio.Server | None = None
        self.stopped_at: float | None = None
        """``time.monotonic()`` when the host stopped it."""

    @property
    def name(self) -> str:
        return self._name

    async def start(self, serving: Callable[[], bool]) -> int | None:
        self._events.append(f"start {self._name}")
        if self._fail:
            raise RuntimeError(f"{self._name} cannot listen")

        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SERVING\n" if serving() else b"NOT_SERVING\n")
            writer.close()

        self._server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        self.stopped_at = time.monotonic()
        self._events.append(f"stop {self._name}")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def _host(probe: Probe, listeners: list[LineListener], ports_file: str = "") -> ServiceHost:
    settings = KitSettings(
        listen_addr="127.0.0.1:0",
        plaintext=True,
        ports_file=ports_file,
        health_probe_interval_s=0.05,
        shutdown_grace_s=1.0,
    )
    return ServiceHost(
        name="kit-side",
        settings=settings,
        bindings=[ServiceBinding(SERVICE, add_probe_service)],
        error_mapper=MAPPER,
        health_probe=probe,
        on_stop=[probe.on_stop],
        side_listeners=listeners,
    )


async def _line(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    line = await reader.readline()
    writer.close()
    return line


async def test_a_side_listener_is_published_and_follows_the_hosts_health(tmp_path: Path) -> None:
    probe, events = Probe(), list[str]()
    ports_file = tmp_path / "kit.json"
    host = _host(probe, [LineListener("side", events)], str(ports_file))
    await host.start()
    try:
        port = host.side_ports["side"]
        assert port is not None
        published = json.loads(ports_file.read_text())
        healthy = await _line(port)
        probe.healthy = False
        await asyncio.sleep(0.2)  # a few probes
        unhealthy = await _line(port)
    finally:
        await host.stop(0)

    assert published["side"] == port
    assert (healthy, unhealthy) == (b"SERVING\n", b"NOT_SERVING\n")


async def test_side_listeners_stop_after_in_flight_rpcs_finish_and_before_on_stop() -> None:
    probe, events = Probe(), list[str]()
    listener = LineListener("side", events)
    host = _host(probe, [listener])
    port = await host.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        echo: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICE}/Echo"
        )
        called = time.monotonic()
        slow = asyncio.ensure_future(echo(b"slow"))
        await asyncio.sleep(0.1)  # the call is in the handler
        stopping = asyncio.ensure_future(host.stop())
        answer = await slow
        await stopping

    # The handler sleeps 0.3 s and answers; only then may the side listener stop. (Compared
    # by time, not by the order of the client's and the host's continuations, which share
    # the loop and may run either way round once the answer is sent.)
    assert answer == b"slow" and events == ["start side", "stop side"]
    assert listener.stopped_at is not None and listener.stopped_at - called >= 0.3
    assert probe.stops == ["stopped"]
    assert not host.is_serving()


async def test_a_side_listener_that_cannot_start_fails_the_start_and_stops_the_others() -> None:
    events: list[str] = []
    host = _host(
        Probe(), [LineListener("first", events), LineListener("second", events, fail=True)]
    )

    with pytest.raises(RuntimeError, match="second cannot listen"):
        await host.start()

    assert events == ["start first", "start second", "stop first"]


@pytest.mark.parametrize("names", [["grpc"], ["side", "side"]])
def test_side_listener_names_must_be_new_and_unique(names: list[str]) -> None:
    with pytest.raises(ValueError, match="unique"):
        _host(Probe(), [LineListener(name, []) for name in names])
