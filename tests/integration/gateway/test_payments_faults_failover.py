"""The primary provider down, over REST through Envoy: the card payment fails over to the
next provider the routing rule lists, the attempts record both providers with the routing
decision, and the money is taken once, by the provider that answered.

Two ways to be down: Stripe answering 503 to every authorize (a sandbox fault; the request
reached it, so the retries carry the same idempotency key), and Stripe refusing connections
(the gateway's Stripe points at a port nobody listens on; nothing was ever sent).
Each test runs a gateway of its own (faults_support.own_gateway): the retries spend Stripe's
retry budget and count against its breaker, which the package's gateway must not inherit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway_svc.domain.retry import RetryPolicy
from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    OwnGateway,
    anet_transaction,
    faults_fired,
    own_gateway,
    postings_of,
    refusing_port,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import Merchant, card, minor, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]
# slow: three Stripe tries with real full-jitter backoff between them, up to 1.5 s

# Authorize.net's published test Visa: both card providers of the "cards" rule accept it.
ANET_VISA = card("4111111111111111")
AMOUNT = 2_300


@pytest_asyncio.fixture(loop_scope="package")
async def gateway(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    async with own_gateway(stack, tmp_path) as own:
        yield own


@pytest_asyncio.fixture(loop_scope="package")
async def stripe_503(sandbox: SandboxHandle) -> AsyncIterator[None]:
    await sandbox.control.add_fault(**STRIPE_AUTHORIZE, kind="error", status=503, count=-1)
    yield
    await sandbox.control.clear_faults()


async def _pay(merchant: Merchant, reference: str) -> dict[str, Any]:
    return await merchant.pay(payment_body(AMOUNT, "USD", ANET_VISA, merchant_reference=reference))


def _routing(attempt: dict[str, Any]) -> tuple[list[str], int, str]:
    routing = attempt["routing"]
    return routing["candidates"], routing.get("position", 0), routing["rule"]


async def _charged_once_by_authorizenet(
    stack: GatewayStack, gateway: OwnGateway, rest: httpx.AsyncClient, payment: dict[str, Any]
) -> None:
    """The money facts of a failed-over payment: Authorize.net captured it, once, and the
    ledger posted it once."""
    transaction = await anet_transaction(stack.services.sandbox, payment["provider_reference"])
    assert transaction is not None
    assert (transaction["status"], transaction["captured_minor"]) == (
        "capturedPendingSettlement",
        AMOUNT,
    )
    await gateway.drain()
    postings = await postings_of(stack.edge, rest, payment)
    assert [(p.status, p.clearing_debit) for p in postings if p.clearing_debit] == [
        ("TRANSACTION_STATUS_POSTED", AMOUNT)
    ]


@pytest.mark.usefixtures("stripe_503")
async def test_stripe_answering_503_fails_over_to_authorizenet_after_its_retries(
    stack: GatewayStack, gateway: OwnGateway, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    sandbox = stack.services.sandbox
    reference = f"order-{uuid.uuid4().hex[:12]}"
    sent_before = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    fired_before = await faults_fired(sandbox, "stripe", "error")

    payment = await _pay(gateway.merchant(merchant), reference)

    assert (payment["status"], payment["provider"]) == ("PAYMENT_STATUS_CAPTURED", "authorizenet")
    assert minor(payment["amount_captured"]) == AMOUNT
    stripe, anet = payment["attempts"]
    assert (stripe["provider"], stripe["outcome"]) == ("stripe", "ATTEMPT_OUTCOME_RETRIABLE_ERROR")
    assert (stripe["error_kind"], stripe["http_status"]) == ("retriable", 503)
    assert (anet["provider"], anet["outcome"]) == ("authorizenet", "ATTEMPT_OUTCOME_SUCCEEDED")
    assert _routing(stripe) == (["stripe", "authorizenet"], 0, "cards")
    assert _routing(anet) == (["stripe", "authorizenet"], 1, "cards")
    # Each retry repeated the same request with the same idempotency key: nothing to undo.
    tries = await gateway.tries(stripe["id"])
    assert [t["http_status"] for t in tries] == [503] * RetryPolicy().max_attempts
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) - sent_before == len(tries)
    assert await faults_fired(sandbox, "stripe", "error") - fired_before == len(tries)
    assert await stripe_intents(sandbox, reference) == {}
    await _charged_once_by_authorizenet(stack, gateway, rest, payment)


@pytest_asyncio.fixture(loop_scope="package")
async def stripe_unreachable(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    """A gateway whose Stripe base URL is a port that refuses every connection."""
    with refusing_port() as port:
        dead = {"base_url": f"https://127.0.0.1:{port}/stripe", "connect_timeout_s": 0.5}
        async with own_gateway(stack, tmp_path, providers={"stripe": dead}) as own:
            yield own


async def test_stripe_refusing_connections_fails_over_and_nothing_reached_it(
    stack: GatewayStack,
    stripe_unreachable: OwnGateway,
    merchant: Merchant,
    rest: httpx.AsyncClient,
) -> None:
    sandbox = stack.services.sandbox
    reference = f"order-{uuid.uuid4().hex[:12]}"
    # Creates only: the package gateway's reconciler may look up (GET) other tests' payments
    # at Stripe meanwhile, which says nothing about this one.
    stripe_requests_before = await requests_to(sandbox, "stripe", STRIPE_CREATE)

    payment = await _pay(stripe_unreachable.merchant(merchant), reference)

    assert (payment["status"], payment["provider"]) == ("PAYMENT_STATUS_CAPTURED", "authorizenet")
    stripe, anet = payment["attempts"]
    # Never sent: no HTTP status, a retriable "provider unavailable", and then the failover.
    assert (stripe["provider"], stripe["outcome"]) == ("stripe", "ATTEMPT_OUTCOME_RETRIABLE_ERROR")
    assert (stripe.get("http_status", 0), stripe["error_code"]) == (0, "provider_unavailable")
    assert (anet["provider"], anet["outcome"]) == ("authorizenet", "ATTEMPT_OUTCOME_SUCCEEDED")
    assert _routing(anet) == (["stripe", "authorizenet"], 1, "cards")
    tries = await stripe_unreachable.tries(stripe["id"])
    assert tries and all(t["http_status"] is None for t in tries)
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == stripe_requests_before
    intents = (await sandbox.control.state("stripe"))["payments"].values()
    assert not [i for i in intents if i["metadata"].get("paymesh_attempt_id") == stripe["id"]]
    await _charged_once_by_authorizenet(stack, stripe_unreachable, rest, payment)
