"""Every fault kind, as a real httpx client over TLS sees it, and what the simulator kept."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox.control_client import ControlRefused
from sandbox.testing import SandboxHandle


@pytest.fixture
def sandbox_providers() -> list[str]:
    """The echo simulator only: these tests are about the host, not any provider."""
    return []


async def _handled(sandbox: SandboxHandle) -> list[dict[str, object]]:
    state = await sandbox.control.state("echo")
    handled: list[dict[str, object]] = state["handled"]
    return handled


async def test_latency_is_measured_on_the_faulted_request(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client("echo") as client:
        await client.get("/warm")
        await sandbox_server.control.add_fault(provider="echo", kind="latency", latency_ms=200)
        started = time.perf_counter()
        reply = await client.get("/slowed")
        elapsed_s = time.perf_counter() - started
        started = time.perf_counter()
        await client.get("/normal")  # the fault was spent on /slowed
        normal_s = time.perf_counter() - started
    assert reply.status_code == 200
    assert 0.2 <= elapsed_s < 0.6
    assert normal_s < 0.1
    handled = await _handled(sandbox_server)
    assert [r["path"] for r in handled] == ["/warm", "/slowed", "/normal"]


async def test_error_answers_the_sims_fault_reply_without_handling(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error", status=503)
    async with sandbox_server.client("echo") as client:
        reply = await client.post("/charges", content=b"x")
    assert reply.status_code == 503
    assert reply.json() == {"error": {"status": 503}}
    assert await _handled(sandbox_server) == []


async def test_error_defaults_to_500(sandbox_server: SandboxHandle) -> None:
    fault = await sandbox_server.control.add_fault(provider="echo", kind="error")
    async with sandbox_server.client("echo") as client:
        reply = await client.get("/x")
    assert fault["status"] == 500
    assert reply.status_code == 500


async def test_rate_limit_answers_429_with_retry_after(sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="rate_limit", retry_after_s=2)
    async with sandbox_server.client("echo") as client:
        reply = await client.get("/x")
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "2"
    assert await _handled(sandbox_server) == []


async def test_reset_drops_the_connection_before_handling(sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="reset")
    async with sandbox_server.client("echo") as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/charges", content=b"x")
        after = await client.get("/after")  # a new connection works
    assert after.status_code == 200
    assert [r["path"] for r in await _handled(sandbox_server)] == ["/after"]


async def test_reset_after_commit_drops_the_connection_but_keeps_the_change(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="reset_after_commit")
    async with sandbox_server.client("echo") as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/charges", content=b"x")
    assert [r["path"] for r in await _handled(sandbox_server)] == ["/charges"]


async def test_commit_then_timeout_commits_and_never_answers(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="commit_then_timeout")
    async with sandbox_server.client("echo", timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/charges", content=b"x")
    assert [r["path"] for r in await _handled(sandbox_server)] == ["/charges"]
    assert sandbox_server.running.sandbox.faults.fired["echo", "commit_then_timeout"] == 1


async def test_count_applies_a_fault_to_that_many_requests(sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error", count=2)
    async with sandbox_server.client("echo") as client:
        statuses = [(await client.get(f"/{i}")).status_code for i in range(3)]
    assert statuses == [500, 500, 200]
    assert await sandbox_server.control.faults() == []  # spent faults are gone


async def test_count_minus_one_applies_until_cleared(sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error", count=-1)
    async with sandbox_server.client("echo") as client:
        statuses = [(await client.get("/x")).status_code for _ in range(4)]
        [listed] = await sandbox_server.control.faults()
        assert await sandbox_server.control.clear_faults() == 1
        after = await client.get("/x")
    assert statuses == [500] * 4
    assert (listed["remaining"], listed["fired"]) == (-1, 4)
    assert after.status_code == 200


async def test_a_fault_applies_only_to_its_path_prefix_and_method(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(
        provider="echo", kind="error", status=502, path="/v1/payment_intents", method="post"
    )
    async with sandbox_server.client("echo") as client:
        other_path = await client.post("/v1/refunds")
        other_method = await client.get("/v1/payment_intents")
        matching = await client.post("/v1/payment_intents/pi_1/capture")
    assert (other_path.status_code, other_method.status_code) == (200, 200)
    assert matching.status_code == 502


async def test_faults_of_a_provider_fire_in_the_order_scripted(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error", status=502)
    await sandbox_server.control.add_fault(provider="echo", kind="rate_limit")
    async with sandbox_server.client("echo") as client:
        statuses = [(await client.get("/x")).status_code for _ in range(3)]
    assert statuses == [502, 429, 200]


async def test_clearing_one_provider_keeps_the_others_faults(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error", count=-1)
    assert await sandbox_server.control.clear_faults("echo") == 1
    assert await sandbox_server.control.faults() == []
    async with sandbox_server.client("echo") as client:
        assert (await client.get("/x")).status_code == 200


async def test_an_invalid_fault_is_refused_with_its_reason(sandbox_server: SandboxHandle) -> None:
    with pytest.raises(ControlRefused, match="kind must be one of"):
        await sandbox_server.control.add_fault(provider="echo", kind="explode")
    with pytest.raises(ControlRefused, match="provider must be one of"):
        await sandbox_server.control.add_fault(provider="nobody", kind="reset")
    with pytest.raises(ControlRefused, match="latency_ms"):
        await sandbox_server.control.add_fault(provider="echo", kind="latency")
    assert await sandbox_server.control.faults() == []
