"""Routing, faults and control through Sandbox.dispatch, with no socket; config and stats."""

from __future__ import annotations

import json

import pytest

from sandbox.config import SandboxConfig
from sandbox.http_wire import Abort, Action, Hold, Reply
from sandbox.server import Sandbox
from sandbox.stats import MAX_PATHS_PER_PROVIDER, OTHER, RequestStats
from sandbox.testing import EchoSim


@pytest.fixture
def sim() -> EchoSim:
    return EchoSim(SandboxConfig())


@pytest.fixture
def sandbox(sim: EchoSim) -> Sandbox:
    return Sandbox({"echo": sim}, hold_cap_s=5.0)


def _json(action: Action) -> object:
    assert isinstance(action, Reply)
    return json.loads(action.response.body)


async def test_the_prefix_is_stripped_and_the_query_parsed(sandbox: Sandbox) -> None:
    action = await sandbox.dispatch("GET", "/echo/v1/a?x=1&x=2&y=", {"h": "v"}, b"")
    echoed = _json(action)
    assert isinstance(echoed, dict)
    assert (echoed["path"], echoed["query"], echoed["headers"]) == (
        "/v1/a",
        {"x": "2", "y": ""},
        {"h": "v"},
    )


async def test_an_unknown_prefix_is_404(sandbox: Sandbox) -> None:
    action = await sandbox.dispatch("GET", "/nobody", {}, b"")
    assert isinstance(action, Reply) and action.response.status == 404


async def test_reset_is_an_abort_without_handling(sandbox: Sandbox, sim: EchoSim) -> None:
    sandbox.faults.add({"provider": "echo", "kind": "reset"})
    assert isinstance(await sandbox.dispatch("POST", "/echo/x", {}, b""), Abort)
    assert sim.handled == []


async def test_reset_after_commit_is_an_abort_after_handling(
    sandbox: Sandbox, sim: EchoSim
) -> None:
    sandbox.faults.add({"provider": "echo", "kind": "reset_after_commit"})
    assert isinstance(await sandbox.dispatch("POST", "/echo/x", {}, b""), Abort)
    assert len(sim.handled) == 1


async def test_commit_then_timeout_holds_with_the_cap(sandbox: Sandbox, sim: EchoSim) -> None:
    sandbox.faults.add({"provider": "echo", "kind": "commit_then_timeout"})
    assert await sandbox.dispatch("POST", "/echo/x", {}, b"") == Hold(5.0)
    assert len(sim.handled) == 1


async def test_a_rate_limit_carries_the_sims_retry_after(sandbox: Sandbox) -> None:
    sandbox.faults.add({"provider": "echo", "kind": "rate_limit", "retry_after_s": 1.5})
    action = await sandbox.dispatch("GET", "/echo/x", {}, b"")
    assert isinstance(action, Reply)
    assert (action.response.status, action.response.headers["retry-after"]) == (429, "1.5")


async def test_control_scripts_and_lists_faults(sandbox: Sandbox) -> None:
    body = json.dumps({"provider": "echo", "kind": "error", "status": 503}).encode()
    added = await sandbox.dispatch("POST", "/_control/faults", {}, body)
    assert isinstance(added, Reply) and added.response.status == 201
    listed = _json(await sandbox.dispatch("GET", "/_control/faults", {}, b""))
    assert listed == {"faults": [json.loads(added.response.body)]}
    cleared = _json(await sandbox.dispatch("DELETE", "/_control/faults?provider=echo", {}, b""))
    assert cleared == {"cleared": 1}


async def test_control_refuses_a_body_that_is_not_an_object(sandbox: Sandbox) -> None:
    action = await sandbox.dispatch("POST", "/_control/faults", {}, b"[1]")
    assert isinstance(action, Reply) and action.response.status == 400


def test_config_reads_sandbox_variables() -> None:
    config = SandboxConfig.from_env(
        {"SANDBOX_STRIPE_SECRET_KEY": "sk_test_other", "SANDBOX_PAYPAL_TOKEN_TTL_S": "60"}
    )
    assert config.stripe_secret_key == "sk_test_other"
    assert config.paypal_token_ttl_s == 60
    assert config.razorpay_key_id == SandboxConfig().razorpay_key_id


def test_config_refuses_a_non_integer_for_an_int_field() -> None:
    with pytest.raises(ValueError, match="SANDBOX_PAYPAL_TOKEN_TTL_S"):
        SandboxConfig.from_env({"SANDBOX_PAYPAL_TOKEN_TTL_S": "nine hours"})


def test_the_currencycloud_api_key_is_64_hex_characters() -> None:
    key = SandboxConfig().currencycloud_api_key
    assert len(key) == 64 and int(key, 16) >= 0


def test_stats_lump_paths_past_the_cap_but_keep_the_total() -> None:
    stats = RequestStats()
    for i in range(MAX_PATHS_PER_PROVIDER + 5):
        stats.count("stripe", "GET", f"/v1/payment_intents/pi_{i}")
    stats.count("stripe", "GET", "/v1/payment_intents/pi_0")
    view = stats.to_json()["stripe"]
    assert isinstance(view, dict)
    assert view["total"] == MAX_PATHS_PER_PROVIDER + 6
    assert view["paths"][OTHER] == 5
    assert view["paths"]["GET /v1/payment_intents/pi_0"] == 2
