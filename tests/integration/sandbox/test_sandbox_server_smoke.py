"""The fixture itself: a TLS sandbox answers through the echo simulator."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxHandle


@pytest.fixture
def sandbox_providers() -> list[str]:
    """The echo simulator only: these tests are about the host, not any provider."""
    return []


async def test_the_echo_simulator_answers_over_tls(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client("echo") as client:
        reply = await client.post("/things?a=1", content=b"hi")
    assert reply.status_code == 200
    assert reply.json()["path"] == "/things"
    assert reply.json()["query"] == {"a": "1"}
    assert (await sandbox_server.control.state("echo"))["handled"][0]["body"] == "hi"
