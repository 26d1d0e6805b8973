"""Provider faults scripted in the sandbox: failover, the breaker, 429, commit-then-timeout."""

from __future__ import annotations

import socket

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.domain.attempts import Outcome
from gateway_svc.domain.breaker import BreakerPolicy, BreakerState
from gateway_svc.domain.errors import NoProviderAvailable
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.providers import Card, DeclineCode, PaymentMethod, Provider
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import (
    body,
    render_payment,
    sandbox_providers_for,
)
from tests.integration.gateway_store.test_service_create import create

# Authorize.net's published test Visa: both routed card providers accept it in the sandbox.
ANET_VISA = PaymentMethod(card=Card("4111111111111111", 12, 2040, "123"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stripe_down(gateway: Gateway, **extra: object) -> None:
    await gateway.sandbox.control.add_fault(
        provider="stripe", kind="error", status=503, count=-1, **extra
    )


async def test_a_primary_answering_503_fails_over_and_both_attempts_are_recorded(
    gateway: Gateway,
) -> None:
    await stripe_down(gateway)
    answer = await gateway.service.create_payment(create(method=ANET_VISA), render_payment)
    assert answer.result is not None
    p, attempts = answer.result.payment, answer.result.attempts
    assert (p.status, p.provider) == (PaymentStatus.CAPTURED, Provider.AUTHORIZENET)
    assert [(a.provider, a.outcome) for a in attempts] == [
        (Provider.STRIPE, Outcome.RETRIABLE_ERROR),
        (Provider.AUTHORIZENET, Outcome.SUCCEEDED),
    ]
    assert [a.routing.position for a in attempts if a.routing] == [0, 1]
    assert attempts[0].http_status == 503 and attempts[0].latency_ms is not None
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        tries = await uow.attempts.tries(attempts[0].id)
    assert len(tries) == 3 and all(t["http_status"] == 503 for t in tries)
    assert len(gateway.sleeps) == 2  # backoff between the three tries, none before failover


async def test_a_primary_refusing_connections_fails_over(
    make_gateway: GatewayFactory, sandbox_server: object
) -> None:
    adapters = sandbox_providers_for(sandbox_server)  # type: ignore[arg-type]
    await adapters[Provider.STRIPE].aclose()
    dead = HttpConfig(base_url=f"https://127.0.0.1:{closed_port()}/stripe", connect_timeout_s=0.5)
    adapters[Provider.STRIPE] = StripeProvider(StripeConfig(dead, "sk_test_x"))
    gateway = make_gateway(providers=adapters)
    answer = await gateway.service.create_payment(create(method=ANET_VISA), render_payment)
    assert answer.result is not None
    attempts = answer.result.attempts
    assert [(a.provider, a.outcome) for a in attempts] == [
        (Provider.STRIPE, Outcome.RETRIABLE_ERROR),
        (Provider.AUTHORIZENET, Outcome.SUCCEEDED),
    ]
    assert attempts[0].decline_code is DeclineCode.PROVIDER_UNAVAILABLE


async def test_when_every_provider_fails_the_payment_fails_and_that_error_is_stored(
    gateway: Gateway,
) -> None:
    await stripe_down(gateway)
    await gateway.sandbox.control.add_fault(provider="authorizenet", kind="error", status=503,
                                            count=-1)  # fmt: skip
    answer = await gateway.service.create_payment(create(method=ANET_VISA), render_payment)
    assert answer.response.status_code == 14
    assert isinstance(answer.error, NoProviderAvailable)
    assert body(answer.response)["reason"] == "NO_PROVIDER_AVAILABLE"
    again = await gateway.service.create_payment(create(method=ANET_VISA), render_payment)
    assert again.replayed and again.response == answer.response
    pid = answer.error.metadata["payment_id"]
    view = await gateway.service.get_payment("m_1", pid)
    assert view.payment.status is PaymentStatus.FAILED
    assert view.payment.decline is not None
    assert view.payment.decline.code is DeclineCode.PROVIDER_UNAVAILABLE


async def test_the_breaker_opens_skips_the_provider_and_recovers_after_its_cool_down(
    make_gateway: GatewayFactory,
) -> None:
    policy = BreakerPolicy(window_s=60, min_calls=3, failure_rate=0.5, cooldown_s=30)
    gateway = make_gateway(breaker=policy)
    await stripe_down(gateway)
    first = await gateway.service.create_payment(create("k1", method=ANET_VISA), render_payment)
    assert first.result is not None and first.result.payment.provider is Provider.AUTHORIZENET
    breaker = gateway.runtime.breakers[Provider.STRIPE]
    assert breaker.state(gateway.clock.monotonic()) is BreakerState.OPEN

    second = await gateway.service.create_payment(create("k2", method=ANET_VISA), render_payment)
    assert second.result is not None
    [attempt] = second.result.attempts
    assert attempt.provider is Provider.AUTHORIZENET
    assert attempt.routing is not None
    assert [(s.provider, s.reason) for s in attempt.routing.skipped] == [
        (Provider.STRIPE, "breaker_open")
    ]

    await gateway.sandbox.control.clear_faults()
    gateway.clock.advance(31)
    third = await gateway.service.create_payment(create("k3", method=ANET_VISA), render_payment)
    assert third.result is not None and third.result.payment.provider is Provider.STRIPE
    assert breaker.state(gateway.clock.monotonic()) is BreakerState.CLOSED


async def test_a_429_is_retried_after_the_providers_retry_after(gateway: Gateway) -> None:
    await gateway.sandbox.control.add_fault(
        provider="stripe", kind="rate_limit", retry_after_s=0.5, count=1
    )
    answer = await gateway.service.create_payment(create(), render_payment)
    assert answer.result is not None
    [attempt] = answer.result.attempts
    assert (attempt.provider, attempt.outcome) == (Provider.STRIPE, Outcome.SUCCEEDED)
    assert gateway.sleeps == [0.5]  # the jittered backoff is smaller: Retry-After wins
    state = await gateway.sandbox.control.state("stripe")
    assert len(state["payments"]) == 1


async def test_commit_then_timeout_ends_unknown_then_settles_without_a_second_charge(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(timeout_s=0.15)
    await gateway.sandbox.control.add_fault(
        provider="stripe", kind="commit_then_timeout", path="/v1/payment_intents",
        method="POST", count=-1,
    )  # fmt: skip
    answer = await gateway.service.create_payment(
        create(capture=CaptureMethod.AUTOMATIC), render_payment
    )
    assert answer.result is not None
    p = answer.result.payment
    assert p.status is PaymentStatus.UNKNOWN
    assert [(a.provider, a.outcome) for a in answer.result.attempts] == [
        (Provider.STRIPE, Outcome.UNKNOWN)
    ]  # never failed over: Stripe may have charged
    await gateway.sandbox.control.clear_faults()

    assert (await gateway.reconciler.run_once()).payments == 0  # not due yet
    gateway.clock.advance(6)
    report = await gateway.reconciler.run_once()
    assert report.payments == 1
    view = await gateway.service.get_payment("m_1", p.id)
    assert (view.payment.status, view.payment.captured_minor) == (PaymentStatus.CAPTURED, 1000)
    state = await gateway.sandbox.control.state("stripe")
    assert len(state["payments"]) == 1
    await gateway.relay.drain()
    assert [rid for _, rid in gateway.ledger.calls if rid.endswith("capture:auto")] == [
        f"{p.id}:capture:auto"
    ]
    assert "gateway.payment.reconcile" in gateway.audit.actions()
