"""The Idempotency-Key header over REST: it reaches the gateway as ``request_id`` through
Envoy's transcoder, a repeat answers the first response (errors included, byte for byte) and
charges once, and a key that disagrees with the request is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox.testing import SandboxHandle
from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    new_key,
    payment_body,
    violated_fields,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")


async def _intents_for(sandbox: SandboxHandle, reference: str) -> list[str]:
    """The Stripe PaymentIntents the sandbox holds for a merchant reference."""
    state = await sandbox.control.state("stripe")
    return [
        intent_id
        for intent_id, intent in state["payments"].items()
        if intent["metadata"].get("paymesh_reference") == reference
    ]


async def test_the_same_key_twice_is_one_payment_and_one_charge(
    merchant: Merchant, sandbox: SandboxHandle
) -> None:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    body = payment_body(4_200, "USD", VISA, provider="stripe", merchant_reference=reference)
    key = new_key()

    first = await merchant.create(body, key=key)
    again = await merchant.create(body, key=key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["payment"]["status"] == "PAYMENT_STATUS_CAPTURED"
    intents = await _intents_for(sandbox, reference)
    assert intents == [first.json()["payment"]["provider_reference"]]


async def test_the_header_and_an_equal_request_id_are_one_key(merchant: Merchant) -> None:
    key = new_key()
    body = payment_body(1_000, "USD", VISA)

    by_field = await merchant.create({**body, "request_id": key}, key=None)
    by_both = await merchant.create({**body, "request_id": key}, key=key)
    by_header = await merchant.create(body, key=key)

    ids = {r.json()["payment"]["id"] for r in (by_field, by_both, by_header)}
    assert len(ids) == 1


async def test_a_header_that_differs_from_request_id_is_refused(merchant: Merchant) -> None:
    body = {**payment_body(1_000, "USD", VISA), "request_id": new_key()}

    reply = await merchant.create(body, key=new_key())

    assert reply.status_code == 400
    assert violated_fields(reply) == ["request_id"]


async def test_a_key_reused_with_another_request_is_refused_409(merchant: Merchant) -> None:
    key = new_key()
    first = await merchant.create(payment_body(1_000, "USD", VISA), key=key)

    reused = await merchant.create(payment_body(1_001, "USD", VISA), key=key)

    assert first.status_code == 200
    assert reused.status_code == 409
    assert error_info(reused)["reason"] == "IDEMPOTENCY_KEY_REUSED"


@pytest_asyncio.fixture(loop_scope="package")
async def card_providers_throttling(sandbox: SandboxHandle) -> AsyncIterator[None]:
    """Stripe and Authorize.net each answer one 429 asking for a minute's wait: longer than
    a payment may wait in-line, so routing fails over at once and runs out of providers."""
    for provider in ("stripe", "authorizenet"):
        await sandbox.control.add_fault(
            provider=provider, kind="rate_limit", retry_after_s=60, count=1
        )
    yield
    await sandbox.control.clear_faults()


@pytest.mark.usefixtures("card_providers_throttling")
async def test_a_stored_error_is_replayed_byte_for_byte(merchant: Merchant) -> None:
    key = new_key()
    body = payment_body(1_000, "EUR", VISA)

    first = await merchant.create(body, key=key)
    replay = await merchant.create(body, key=key)  # the providers would take it now

    assert first.status_code == 503
    assert error_info(first)["reason"] == "NO_PROVIDER_AVAILABLE"
    assert replay.status_code == 503
    assert replay.content == first.content
