"""Concurrent duplicates over REST through Envoy: fifty identical CreatePayment requests with
one Idempotency-Key make one provider charge and one ledger posting, every success names the
same payment with the same bytes, and every other answer is 409 IDEMPOTENCY_KEY_IN_USE. A
different request sent with the key while the first runs is refused and charges nothing.

The provider's authorize is slowed (a sandbox latency fault) so that the first request is
still at the provider when its duplicates arrive: that is the window where a second charge
could happen, and the fault makes it wide instead of hoping the scheduler opens it.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import pytest_asyncio

from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    postings_of,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    minor,
    new_key,
    payment_body,
)
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
DUPLICATES = 50
AUTHORIZE_LATENCY_MS = 600


@pytest_asyncio.fixture(loop_scope="package")
async def slow_stripe_authorize(sandbox: SandboxHandle) -> AsyncIterator[None]:
    """The next Stripe authorize answers after AUTHORIZE_LATENCY_MS (and then normally)."""
    await sandbox.control.add_fault(
        **STRIPE_AUTHORIZE, kind="latency", latency_ms=AUTHORIZE_LATENCY_MS, count=1
    )
    yield
    await sandbox.control.clear_faults()


@pytest_asyncio.fixture(loop_scope="package")
async def wide(stack: GatewayStack, merchant: Merchant) -> AsyncIterator[Merchant]:
    """The merchant on a client with a connection per duplicate: the fifty requests must
    reach Envoy together, not queue for a pooled connection."""
    limits = httpx.Limits(max_connections=DUPLICATES, max_keepalive_connections=DUPLICATES)
    trust = ssl.create_default_context(cafile=stack.pki.ca)
    async with httpx.AsyncClient(
        base_url=stack.edge.rest_url, verify=trust, limits=limits, timeout=10.0
    ) as client:
        yield replace(merchant, rest=client)


@pytest.mark.slow  # the provider is held for 0.6 s on purpose; about 1.2 s in all
@pytest.mark.usefixtures("slow_stripe_authorize")
async def test_fifty_concurrent_identical_creates_charge_once_and_post_once(
    stack: GatewayStack, wide: Merchant, sandbox: SandboxHandle, rest: httpx.AsyncClient
) -> None:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    body = payment_body(5_000, "USD", VISA, provider="stripe", merchant_reference=reference)
    key = new_key()
    creates_before = await requests_to(sandbox, "stripe", STRIPE_CREATE)

    replies = await asyncio.gather(*(wide.create(body, key=key) for _ in range(DUPLICATES)))

    ok = [r for r in replies if r.status_code == 200]
    busy = [r for r in replies if r.status_code == 409]
    assert len(ok) + len(busy) == DUPLICATES, sorted({r.status_code for r in replies})
    assert ok and busy  # one executed; its twins arrived while Stripe held it
    assert {r.content for r in ok} == {ok[0].content}  # replays are the first answer's bytes
    assert {error_info(r)["reason"] for r in busy} == {"IDEMPOTENCY_KEY_IN_USE"}
    payment = ok[0].json()["payment"]
    assert (payment["status"], minor(payment["amount_captured"])) == (
        "PAYMENT_STATUS_CAPTURED",
        5_000,
    )

    intents = await stripe_intents(sandbox, reference)
    assert list(intents) == [payment["provider_reference"]]
    assert intents[payment["provider_reference"]]["captured"] == 5_000
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == creates_before + 1

    await stack.parts.payments.relay.drain()
    postings = await postings_of(stack.edge, rest, payment)
    captures = [p for p in postings if p.clearing_debit]
    assert [(p.status, p.clearing_debit) for p in captures] == [
        ("TRANSACTION_STATUS_POSTED", 5_000)
    ]
    # The rest of the payment's postings is Stripe's reported fee, once.
    fee = intents[payment["provider_reference"]]["fee"] or 0
    assert sum(p.clearing_credit for p in postings) == fee
    assert len(postings) == 1 + (1 if fee else 0)


@pytest.mark.usefixtures("slow_stripe_authorize")
async def test_another_request_with_a_key_in_flight_is_refused_and_charges_nothing(
    merchant: Merchant, sandbox: SandboxHandle
) -> None:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    key = new_key()
    first_body = payment_body(1_000, "USD", VISA, provider="stripe", merchant_reference=reference)
    other_body = {**first_body, "amount": {"currency_code": "USD", "minor_units": "9999"}}

    first = asyncio.create_task(merchant.create(first_body, key=key))
    await asyncio.sleep(AUTHORIZE_LATENCY_MS / 3000)  # the first is at the provider now
    other = await merchant.create(other_body, key=key)
    first_reply = await first
    after = await merchant.create(other_body, key=key)

    assert first_reply.status_code == 200, first_reply.text
    # The fingerprint is compared before the lock (idempotency.begin): a different request
    # is named a reuse even while the first one still runs.
    assert (other.status_code, error_info(other)["reason"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert (after.status_code, error_info(after)["reason"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    intents = await stripe_intents(sandbox, reference)
    assert [i["amount"] for i in intents.values()] == [1_000]
