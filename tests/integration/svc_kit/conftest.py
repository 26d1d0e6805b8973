"""Fixtures of the svc_kit integration tests: a started ServiceHost and a channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio
import pytest

from tests.integration.svc_kit.kit_probe_service import Probe, Running, make_host


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    probe = Probe()
    host = make_host(probe)
    port = await host.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Running(host, channel, probe)
    await host.stop(0)
