"""A replay after a restart, over REST through Envoy: the gateway's host is stopped and a new
one serves the same database on the same port behind the same Envoy. The same request with
the same Idempotency-Key answers the stored response, byte for byte, without calling the
provider again: the key and its response live in the database, not in the process.

And a restart while the outbox relay is delivering must not strand the postings it had
claimed: the new host delivers them at once, not after the claim's lease (30 s) runs out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    OwnGateway,
    black_hole,
    own_gateway,
    postings_of,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import Merchant, card, new_key, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
CLAIMED_WITHIN_S = 0.3


@pytest_asyncio.fixture(loop_scope="package")
async def gateway(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    async with own_gateway(stack, tmp_path) as own:
        yield own


async def test_a_replay_after_a_restart_is_the_stored_response_and_calls_no_provider(
    stack: GatewayStack,
    gateway: OwnGateway,
    merchant: Merchant,
    sandbox: SandboxHandle,
    rest: httpx.AsyncClient,
) -> None:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    body = payment_body(2_700, "USD", VISA, provider="stripe", merchant_reference=reference)
    key = new_key()
    first = await gateway.merchant(merchant).create(body, key=key)
    assert first.status_code == 200, first.text
    await gateway.drain()  # (a restart mid-delivery is the next test's subject)
    stripe_calls = await requests_to(sandbox, "stripe")
    old_port = gateway.host.port

    await gateway.restart()
    replay = await gateway.merchant(merchant).create(body, key=key)

    assert gateway.host.port == old_port
    assert replay.status_code == 200, replay.text
    assert replay.content == first.content
    assert await requests_to(sandbox, "stripe") == stripe_calls  # not even a lookup
    payment = first.json()["payment"]
    assert list(await stripe_intents(sandbox, reference)) == [payment["provider_reference"]]
    await gateway.drain()
    postings = await postings_of(stack.edge, rest, payment)
    assert [p.clearing_debit for p in postings if p.clearing_debit] == [2_700]


@pytest_asyncio.fixture(loop_scope="package")
async def ledger_unanswering(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    """A gateway whose ledger address accepts connections and never answers, so its relay
    is mid-delivery (waiting for the ledger) whenever the test stops it."""
    with black_hole() as nowhere:
        async with own_gateway(stack, tmp_path, ledger_addr=nowhere) as own:
            yield own


@pytest.mark.slow  # about 1 s; 3.5 s while the postings stay stranded
async def test_a_restart_mid_delivery_hands_the_claimed_postings_to_the_new_host(
    stack: GatewayStack,
    ledger_unanswering: OwnGateway,
    merchant: Merchant,
    rest: httpx.AsyncClient,
) -> None:
    gateway = ledger_unanswering
    reference = f"order-{uuid.uuid4().hex[:12]}"
    payment = await gateway.merchant(merchant).pay(
        payment_body(1_900, "USD", VISA, provider="stripe", merchant_reference=reference)
    )

    # Phase d's commit kicked the relay, which claims the postings within milliseconds and
    # then waits on the silent ledger for its 5 s deadline: restart well inside that window.
    await asyncio.sleep(CLAIMED_WITHIN_S)
    await gateway.restart(ledger_addr=stack.edge.internal_target)
    try:
        await gateway.parts.payments.relay.drain(timeout_s=3.0)
    except TimeoutError as exc:
        raise AssertionError(f"after the restart: {exc} (claimed by the stopped host)") from exc

    postings = await postings_of(stack.edge, rest, payment)
    assert [p.clearing_debit for p in postings if p.clearing_debit] == [1_900]
