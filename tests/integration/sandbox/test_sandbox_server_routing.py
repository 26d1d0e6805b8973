"""Routing to simulators, health, 404s and the control endpoints, over TLS."""

from __future__ import annotations

import pytest

from sandbox.control_client import ControlRefused
from sandbox.testing import SandboxHandle


@pytest.fixture
def sandbox_providers() -> list[str]:
    """The echo simulator only: these tests are about the host, not any provider."""
    return []


async def test_a_request_reaches_its_sim_with_the_prefix_stripped(
    sandbox_server: SandboxHandle,
) -> None:
    async with sandbox_server.client("echo") as client:
        reply = await client.post(
            "/v1/payment_intents/pi_1/capture?expand[]=charges&a=1&a=2",
            content=b'{"x":1}',
            headers=[("X-Idem", "k1"), ("X-Twice", "a"), ("X-Twice", "b")],
        )
    echoed = reply.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/v1/payment_intents/pi_1/capture"
    assert echoed["query"] == {"expand[]": "charges", "a": "2"}
    assert echoed["headers"]["x-idem"] == "k1"
    assert echoed["headers"]["x-twice"] == "a, b"
    assert echoed["body"] == '{"x":1}'
    assert reply.headers["content-type"] == "application/json"


async def test_the_provider_root_is_the_path_slash(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client() as client:
        bare, slashed = await client.get("/echo"), await client.get("/echo/")
    assert bare.json()["path"] == slashed.json()["path"] == "/"


async def test_an_unknown_prefix_is_a_json_404(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client() as client:
        reply = await client.get("/nobody/v1/x")
        root = await client.get("/")
    assert reply.status_code == root.status_code == 404
    assert reply.json() == {"error": "no simulator mounted at /nobody"}


async def test_healthz_says_ok_and_lists_the_providers(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client() as client:
        reply = await client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "providers": ["echo"]}


async def test_a_sim_that_raises_answers_500_and_keeps_serving(
    sandbox_server: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    async with sandbox_server.client("echo") as client:
        crashed = await client.get("/raise")
        after = await client.get("/after")
    assert crashed.status_code == 500
    assert "simulator raised" in crashed.json()["error"]
    assert after.status_code == 200
    assert "asked to raise" in caplog.text


async def test_the_sims_status_and_headers_are_sent_as_they_are(
    sandbox_server: SandboxHandle,
) -> None:
    async with sandbox_server.client("echo") as client:
        reply = await client.get("/status/402")
    assert reply.status_code == 402
    assert reply.headers["x-echo-count"] == "1"


async def test_state_returns_the_sims_snapshot(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client("echo") as client:
        await client.put("/a", content=b"1")
    state = await sandbox_server.control.state("echo")
    assert state == {"handled": [{"method": "PUT", "path": "/a", "query": {}, "body": "1"}]}


async def test_state_of_an_unknown_provider_is_404(sandbox_server: SandboxHandle) -> None:
    with pytest.raises(ControlRefused, match="404"):
        await sandbox_server.control.state("nobody")


async def test_reset_forgets_sim_state_and_clears_faults(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client("echo") as client:
        await client.get("/a")
    await sandbox_server.control.add_fault(provider="echo", kind="error", count=-1)
    await sandbox_server.control.reset()
    assert await sandbox_server.control.state("echo") == {"handled": []}
    assert await sandbox_server.control.faults() == []


async def test_stats_count_requests_by_path_and_faults_by_kind(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(provider="echo", kind="error")
    async with sandbox_server.client("echo") as client:
        for _ in range(2):
            await client.get("/a")
        await client.post("/b")
    stats = await sandbox_server.control.stats()
    assert stats["requests"] == {"echo": {"total": 3, "paths": {"GET /a": 2, "POST /b": 1}}}
    assert stats["faults_fired"] == {"echo": {"error": 1}}
    assert stats["connections_accepted"] >= 1


async def test_the_fault_list_shows_remaining_and_fired(sandbox_server: SandboxHandle) -> None:
    added = await sandbox_server.control.add_fault(
        provider="echo", kind="rate_limit", count=3, path="/v1"
    )
    async with sandbox_server.client("echo") as client:
        await client.get("/v1/x")
    [listed] = await sandbox_server.control.faults()
    assert listed == {**added, "remaining": 2, "fired": 1}
    assert added["id"].startswith("flt_")


async def test_a_wrong_method_on_a_control_route_is_405(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client() as client:
        reset = await client.get("/_control/reset")
        faults = await client.put("/_control/faults")
        nowhere = await client.get("/_control/nowhere")
        not_json = await client.post("/_control/faults", content=b"{")
    assert (reset.status_code, reset.headers["allow"]) == (405, "POST")
    assert faults.status_code == 405
    assert nowhere.status_code == 404
    assert not_json.status_code == 400
