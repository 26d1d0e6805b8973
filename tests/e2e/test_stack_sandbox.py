"""`make run` starts the provider sandbox before the gateway and points the gateway at it.

Each test runs scripts/run_stack.py as a subprocess (ports 0, files under tmp_path) and
reads what it needs from stack.json and from the gateway's own process environment
(/proc/<pid>/environ), which is what the supervisor handed it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.config import SandboxConfig
from sandbox.control_client import SandboxControl
from tests.e2e.run_stack_support import alive, all_pids, environ_of, run_stack, trust

pytestmark = pytest.mark.slow

ELSEWHERE = "https://api-m.sandbox.paypal.invalid"


def _gateway_env(info: Mapping[str, Any]) -> dict[str, str]:
    (replica,) = info["services"]["gateway"]["replicas"]
    return environ_of(int(replica["pid"]))


async def _charge_as_the_gateway_would(env: Mapping[str, str]) -> dict[str, Any]:
    """A Stripe PaymentIntent made with the gateway's own Stripe URL and CA file."""
    verify = ssl.create_default_context(cafile=env["GATEWAY_STRIPE__CA_FILE"])
    key = SandboxConfig().stripe_secret_key  # the gateway's default credential too
    async with httpx.AsyncClient(
        base_url=env["GATEWAY_STRIPE__BASE_URL"], verify=verify, timeout=5.0
    ) as stripe:
        reply = await stripe.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "usd"},
            headers={"authorization": f"Bearer {key}"},
        )
    assert reply.status_code == 200, reply.text
    intent: dict[str, Any] = reply.json()
    return intent


async def _sandbox_seen(info: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """/healthz, and the control API's request counts, from stack.json's URLs."""
    async with httpx.AsyncClient(base_url=info["sandbox_url"], verify=trust(info)) as client:
        health = (await client.get("/healthz")).json()
        stats = await SandboxControl(client).stats()
    return health, stats


def test_the_gateway_is_given_the_sandbox_for_every_provider_the_environment_leaves_unset(
    tmp_path: Path,
) -> None:
    with run_stack(tmp_path, env={"GATEWAY_PAYPAL__BASE_URL": ELSEWHERE}) as stack:
        info = stack.wait_ready()
        env = _gateway_env(info)
        intent = asyncio.run(_charge_as_the_gateway_would(env))
        health, stats = asyncio.run(_sandbox_seen(info))
        code = stack.stop(signal.SIGINT)

    url, providers = info["sandbox_url"], info["sandbox"]["providers"]
    simulated = [p for p in providers if p != "paypal"]
    assert code == 0
    assert url.startswith("https://127.0.0.1:")
    assert set(providers) >= {"stripe", "authorizenet", "razorpay", "paypal"}
    assert sorted(health["providers"]) == sorted(providers)
    assert {p: env[f"GATEWAY_{p.upper()}__BASE_URL"] for p in simulated} == {
        p: f"{url}/{p}" for p in simulated
    }
    assert {env[f"GATEWAY_{p.upper()}__CA_FILE"] for p in simulated} == {info["ca_cert"]}
    # The caller's URL wins, and a host that is not the sandbox is not given the dev CA.
    assert env["GATEWAY_PAYPAL__BASE_URL"] == ELSEWHERE
    assert "GATEWAY_PAYPAL__CA_FILE" not in env
    assert "GATEWAY_PAYPAL__BASE_URL set: not the sandbox" in stack.log()
    assert intent["id"].startswith("pi_")
    assert stats["requests"]["stripe"]


def test_make_runs_last_step_is_a_payment_through_envoy_the_gateway_and_the_sandbox(
    tmp_path: Path,
) -> None:
    with run_stack(tmp_path) as stack:
        info = stack.wait_ready()
        _, stats = asyncio.run(_sandbox_seen(info))
        code = stack.stop(signal.SIGINT)

    (step,) = [line for line in stack.log().splitlines() if "] through envoy:" in line]
    assert code == 0
    assert re.search(r"REST POST /v1/payments with stripe: pay_\w+ CAPTURED", step), step
    # The gateway's call reached the Stripe simulator: the start-up's payment is the one.
    assert stats["requests"]["stripe"]["paths"] == {"POST /v1/payment_intents": 1}


def test_a_sandbox_killed_with_sigkill_stops_everything_with_exit_1(tmp_path: Path) -> None:
    with run_stack(tmp_path) as stack:
        info = stack.wait_ready()
        pids = all_pids(info)

        os.kill(pids["sandbox"], signal.SIGKILL)
        code = stack.wait()

    log = stack.log()
    assert code == 1, log
    assert f"sandbox (pid {pids['sandbox']}) exited: killed by SIGKILL" in log
    assert "stopping everything: sandbox exited (killed by SIGKILL)" in log
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert not stack.stack_file.exists()


def test_a_sandbox_that_cannot_start_abandons_the_start_up_and_says_why(tmp_path: Path) -> None:
    # A malformed SANDBOX_* variable stops the sandbox at once (sandbox/config.py).
    with run_stack(tmp_path, env={"SANDBOX_PAYPAL_TOKEN_TTL_S": "nine hours"}) as stack:
        code = stack.wait()

    log = stack.log()
    assert code == 1, log
    assert "sandbox exited (exit code 1)" in log
    assert "SANDBOX_PAYPAL_TOKEN_TTL_S must be an integer" in log
    assert "paymesh is up" not in log
    assert not stack.stack_file.exists()
