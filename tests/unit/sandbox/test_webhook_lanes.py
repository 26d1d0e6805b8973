"""The sandbox's callback lanes: events about one object go out in order, one at a time;
with more than one lane, events about different objects go out side by side. Driven against
a real local HTTP receiver that holds each request for a while and records the overlap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import pytest_asyncio

from sandbox.config import SandboxConfig
from sandbox.webhooks.events import Event
from sandbox.webhooks.sender import WebhookSender

HOLD_S = 0.05


@dataclass
class SlowReceiver:
    url: str = ""
    in_flight: int = 0
    most_in_flight: int = 0
    arrived: list[tuple[str, int]] = field(default_factory=list)
    """(object, sequence number) of each callback, in arrival order."""


async def _serve(state: SlowReceiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))  # fmt: skip
            body = json.loads(await reader.readexactly(length))
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
            state.arrived.append((body["about"], body["n"]))
            await asyncio.sleep(HOLD_S)
            state.in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[SlowReceiver]:
    state = SlowReceiver()
    server = await asyncio.start_server(lambda r, w: _serve(state, r, w), "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield state
    server.close()


def _event(about: str, n: int) -> Event:
    body = json.dumps({"about": about, "n": n}).encode()
    return Event("stripe", f"evt_{about}_{n}", "payment_intent.succeeded", body, about)


async def _send_all(receiver: SlowReceiver, lanes: int, objects: int, per_object: int) -> None:
    config = SandboxConfig(webhook_target=receiver.url, webhook_delay_ms=0, webhook_lanes=lanes)
    sender = WebhookSender(config)
    try:
        for n in range(per_object):
            for i in range(objects):
                sender.submit(partial(_event, f"pi_{i}", n))
        await sender.flush(timeout_s=20)
    finally:
        await sender.close()


def _in_order_per_object(arrived: list[tuple[str, int]]) -> bool:
    seen: dict[str, list[int]] = {}
    for about, n in arrived:
        seen.setdefault(about, []).append(n)
    return all(ns == sorted(ns) for ns in seen.values())


async def test_one_lane_sends_a_providers_events_one_at_a_time_in_order(receiver) -> None:
    await _send_all(receiver, lanes=1, objects=4, per_object=3)
    assert receiver.most_in_flight == 1
    expected = [(f"pi_{i}", n) for n in range(3) for i in range(4)]
    assert receiver.arrived == expected


async def test_more_lanes_send_different_objects_side_by_side_each_in_order(receiver) -> None:
    await _send_all(receiver, lanes=8, objects=16, per_object=3)
    assert len(receiver.arrived) == 48
    assert receiver.most_in_flight > 1
    assert _in_order_per_object(receiver.arrived)
