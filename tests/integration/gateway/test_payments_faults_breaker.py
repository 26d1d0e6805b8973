"""Stripe's circuit breaker over REST through Envoy: failing authorizes open it at the
thresholds of the default policy; an open breaker keeps payments away from Stripe (the
routing record says "breaker_open" and the sandbox sees no request); after the cool-down one
probe goes to Stripe and its success closes the breaker.

No GATEWAY_* setting reaches the breaker policy (wiring builds ``Breakers()`` with the
defaults), and the default cool-down is 30 s. The test keeps the default thresholds and
shortens only the cool-down, through the runtime the process builds
(``GatewayRuntime.breakers``, the seam the service layer exposes for exactly this).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway_svc.domain.breaker import BreakerPolicy, Breakers, BreakerState, Transition
from gateway_svc.domain.providers import Provider
from gateway_svc.service_layer.runtime import GatewayRuntime
from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    NoJitter,
    OwnGateway,
    own_gateway,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import Merchant, card, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

ANET_VISA = card("4111111111111111")
POLICY = BreakerPolicy(cooldown_s=0.5)
"""The default thresholds (10 calls in 60 s, half of them failed), a short cool-down."""


class Recorder:
    """Installs breakers with ``POLICY`` and keeps every transition they report."""

    def __init__(self) -> None:
        self.transitions: list[Transition] = []

    def __call__(self, runtime: GatewayRuntime) -> None:
        runtime.breakers = Breakers(POLICY, on_transition=self.transitions.append)
        # Zero backoff: the retries still happen (and count), without the test sleeping.
        runtime.rng = NoJitter()

    def moves(self) -> list[tuple[str, str]]:
        return [(t.from_state.value, t.to_state.value) for t in self.transitions]


@pytest_asyncio.fixture(loop_scope="package")
async def recorder(
    stack: GatewayStack, tmp_path: Path
) -> AsyncIterator[tuple[OwnGateway, Recorder]]:
    recorder = Recorder()
    async with own_gateway(stack, tmp_path, tune=recorder) as own:
        yield own, recorder
    await stack.services.sandbox.control.clear_faults()


async def _pay(merchant: Merchant) -> dict[str, Any]:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    payment = await merchant.pay(
        payment_body(1_200, "USD", ANET_VISA, merchant_reference=reference)
    )
    payment["reference"] = reference
    return payment


async def _fail_stripe_until_open(
    gateway: OwnGateway, merchant: Merchant, sandbox: SandboxHandle
) -> tuple[int, list[dict[str, Any]]]:
    """Pay until Stripe's breaker opens: (Stripe calls it took, the payments made)."""
    breaker = gateway.runtime.breakers[Provider.STRIPE]
    first = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    payments: list[dict[str, Any]] = []
    while breaker.state(gateway.runtime.monotonic()) is BreakerState.CLOSED:
        assert len(payments) < POLICY.min_calls, "the breaker never opened"
        payments.append(await _pay(merchant))
    return await requests_to(sandbox, "stripe", STRIPE_CREATE) - first, payments


@pytest.mark.slow  # the cool-down is waited for in real time: about 1 s in all
async def test_the_breaker_opens_keeps_payments_off_stripe_and_a_probe_closes_it(
    recorder: tuple[OwnGateway, Recorder], merchant: Merchant, sandbox: SandboxHandle
) -> None:
    gateway, transitions = recorder
    m = gateway.merchant(merchant)
    await sandbox.control.add_fault(**STRIPE_AUTHORIZE, kind="error", status=503, count=-1)

    calls, failing = await _fail_stripe_until_open(gateway, m, sandbox)
    sent_while_open = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    skipped = await _pay(m)

    # Opened by exactly min_calls failed calls (the retry budget shortens later payments'
    # retries, so it takes more payments than calls / max_attempts).
    assert calls == POLICY.min_calls
    assert {p["provider"] for p in failing} == {"authorizenet"}
    assert transitions.moves() == [("closed", "open")]
    [attempt] = skipped["attempts"]
    assert (attempt["provider"], attempt["outcome"]) == (
        "authorizenet",
        "ATTEMPT_OUTCOME_SUCCEEDED",
    )
    assert attempt["routing"]["candidates"] == ["authorizenet"]
    assert attempt["routing"]["skipped"] == [{"provider": "stripe", "reason": "breaker_open"}]
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == sent_while_open

    await sandbox.control.clear_faults()  # Stripe is back; the breaker does not know yet
    await asyncio.sleep(POLICY.cooldown_s)
    probe = await _pay(m)
    after = await _pay(m)

    assert transitions.moves()[1:] == [("open", "half_open"), ("half_open", "closed")]
    for payment in (probe, after):
        [attempt] = payment["attempts"]
        assert (payment["status"], payment["provider"]) == ("PAYMENT_STATUS_CAPTURED", "stripe")
        assert attempt["routing"]["candidates"] == ["stripe", "authorizenet"]
        assert attempt["routing"].get("skipped", []) == []
        intents = await stripe_intents(sandbox, payment["reference"])
        assert [i["captured"] for i in intents.values()] == [1_200]
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == sent_while_open + 2
