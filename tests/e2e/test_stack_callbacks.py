"""`make run` points the provider sandbox's callbacks at Envoy's REST listener once Envoy is
up, so the sandbox's signed callbacks reach the gateway's public route as a provider's would.

Each test runs scripts/run_stack.py as a subprocess (ports 0, files under tmp_path) and asks
the sandbox's control API, from stack.json's URLs, where its callbacks go and what it sent.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.control_client import SandboxControl
from tests.e2e.run_stack_support import run_stack, trust

pytestmark = pytest.mark.slow


async def _callbacks(info: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sandbox's callback settings, and Stripe's deliveries once none is pending."""
    async with httpx.AsyncClient(base_url=info["sandbox_url"], verify=trust(info)) as client:
        control = SandboxControl(client)
        await control.flush_webhooks()
        return await control.webhooks(), await control.webhooks_sent("stripe")


def test_the_sandboxs_callbacks_reach_the_gateway_through_envoy(tmp_path: Path) -> None:
    with run_stack(tmp_path) as stack:
        info = stack.wait_ready()
        settings, sent = asyncio.run(_callbacks(info))
        code = stack.stop(signal.SIGINT)

    assert code == 0
    assert info["sandbox"]["webhook_target"] == info["rest_url"]
    assert (settings["target"], settings["ca_file"]) == (info["rest_url"], info["ca_cert"])
    (step,) = [line for line in stack.log().splitlines() if "] envoy ready:" in line]
    assert f"sandbox callbacks to {info['rest_url']}/v1/provider-webhooks/<provider>" in step
    # The start-up's own payment (make run's last step) made Stripe call back: Envoy passed
    # it to the gateway, which verified it and answered 200.
    assert [(r["type"], r["status"]) for r in sent] == [("payment_intent.succeeded", 200)]
    assert sent[0]["url"] == f"{info['rest_url']}/v1/provider-webhooks/stripe"


def test_a_callback_target_set_by_the_caller_is_kept(tmp_path: Path) -> None:
    with run_stack(tmp_path, env={"SANDBOX_WEBHOOK_TARGET": ""}) as stack:
        info = stack.wait_ready()
        settings, sent = asyncio.run(_callbacks(info))
        code = stack.stop(signal.SIGINT)

    assert code == 0
    assert (info["sandbox"]["webhook_target"], settings["target"]) == ("", "")
    assert "sandbox callbacks off (SANDBOX_WEBHOOK_TARGET is empty)" in stack.log()
    assert sent == []
