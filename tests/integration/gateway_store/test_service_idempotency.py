"""Stripe-semantics idempotency of CreatePayment: replay, reuse, concurrency, restarts."""

from __future__ import annotations

import asyncio

import pytest

from gateway_svc.domain.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from gateway_svc.domain.payments import CaptureMethod
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import render_payment
from tests.integration.gateway_store.test_service_create import card, create


async def test_a_replay_returns_the_stored_bytes_without_calling_the_provider(
    gateway: Gateway,
) -> None:
    first = await gateway.service.create_payment(create(), render_payment)
    stats = await gateway.sandbox.control.stats()
    again = await gateway.service.create_payment(create(), render_payment)
    assert again.replayed and again.result is None
    assert again.response == first.response
    assert await gateway.sandbox.control.stats() == stats


async def test_a_declined_payment_replays_as_declined(gateway: Gateway) -> None:
    cmd = create(method=card("4000000000000002"))
    first = await gateway.service.create_payment(cmd, render_payment)
    again = await gateway.service.create_payment(cmd, render_payment)
    assert again.replayed and again.response == first.response


async def test_the_same_key_with_another_request_is_refused(gateway: Gateway) -> None:
    await gateway.service.create_payment(create(amount=1000), render_payment)
    with pytest.raises(IdempotencyKeyReused):
        await gateway.service.create_payment(create(amount=1001), render_payment)
    # Keys belong to a merchant: another merchant's identical key is a new request.
    other = await gateway.service.create_payment(create(merchant="m_2"), render_payment)
    assert other.result is not None and not other.replayed


async def test_fifty_concurrent_identical_creates_charge_once_and_hold_once(
    gateway: Gateway,
) -> None:
    cmd = create("req-50", capture=CaptureMethod.MANUAL)
    results = await asyncio.gather(
        *(gateway.service.create_payment(cmd, render_payment) for _ in range(50)),
        return_exceptions=True,
    )
    executed = [r for r in results if not isinstance(r, BaseException) and not r.replayed]
    replayed = [r for r in results if not isinstance(r, BaseException) and r.replayed]
    in_use = [r for r in results if isinstance(r, IdempotencyKeyInUse)]
    assert len(executed) == 1, results
    assert len(executed) + len(replayed) + len(in_use) == 50, results
    assert all(r.response == executed[0].response for r in replayed)
    state = await gateway.sandbox.control.state("stripe")
    assert len(state["payments"]) == 1
    await gateway.relay.drain()
    assert len(gateway.ledger.holds()) == 1


async def test_a_replay_after_a_restart_returns_the_stored_response(
    make_gateway: GatewayFactory,
) -> None:
    first_process = make_gateway()
    first = await first_process.service.create_payment(create(), render_payment)
    restarted = make_gateway()
    again = await restarted.service.create_payment(create(), render_payment)
    assert again.replayed and again.response == first.response
