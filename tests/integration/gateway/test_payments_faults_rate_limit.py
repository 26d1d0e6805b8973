"""429 over REST through Envoy: Stripe rate-limits the authorize once with a Retry-After the
payment can afford to wait, so the gateway waits at least that long and repeats the same
request (same idempotency key) on Stripe, which takes it. One attempt, two tries, one charge,
no failover. (A Retry-After longer than a payment may wait fails over instead:
test_payments_idempotency.py's throttling fixture covers that.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    OwnGateway,
    faults_fired,
    own_gateway,
    postings_of,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import Merchant, card, minor, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
AMOUNT = 1_800
RETRY_AFTER_S = 0.4


@pytest_asyncio.fixture(loop_scope="package")
async def gateway(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    """A gateway of its own: the 429 costs Stripe a token of its retry budget."""
    async with own_gateway(stack, tmp_path) as own:
        yield own


@pytest_asyncio.fixture(loop_scope="package")
async def stripe_throttles_once(sandbox: SandboxHandle) -> AsyncIterator[None]:
    await sandbox.control.add_fault(
        **STRIPE_AUTHORIZE, kind="rate_limit", retry_after_s=RETRY_AFTER_S, count=1
    )
    yield
    await sandbox.control.clear_faults()


@pytest.mark.usefixtures("stripe_throttles_once")
async def test_a_429_is_retried_on_the_same_provider_after_its_retry_after(
    stack: GatewayStack,
    gateway: OwnGateway,
    merchant: Merchant,
    sandbox: SandboxHandle,
    rest: httpx.AsyncClient,
) -> None:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    sent_before = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    fired_before = await faults_fired(sandbox, "stripe", "rate_limit")

    payment = await gateway.merchant(merchant).pay(
        payment_body(AMOUNT, "USD", VISA, merchant_reference=reference)
    )

    assert (payment["status"], payment["provider"]) == ("PAYMENT_STATUS_CAPTURED", "stripe")
    [attempt] = payment["attempts"]  # retried in place: no second attempt, no failover
    assert (attempt["provider"], attempt["outcome"]) == ("stripe", "ATTEMPT_OUTCOME_SUCCEEDED")
    throttled, accepted = await gateway.tries(attempt["id"])
    assert (throttled["http_status"], throttled["error_kind"]) == (429, "retriable")
    assert throttled["retry_after_s"] == RETRY_AFTER_S
    assert accepted["error_kind"] is None
    waited_s = (
        datetime.fromisoformat(accepted["at"]) - datetime.fromisoformat(throttled["at"])
    ).total_seconds()
    assert waited_s >= RETRY_AFTER_S
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) - sent_before == 2
    assert await faults_fired(sandbox, "stripe", "rate_limit") - fired_before == 1
    [intent] = (await stripe_intents(sandbox, reference)).values()
    assert intent["captured"] == minor(payment["amount_captured"]) == AMOUNT
    await gateway.drain()
    postings = await postings_of(stack.edge, rest, payment)
    assert [p.clearing_debit for p in postings if p.clearing_debit] == [AMOUNT]
