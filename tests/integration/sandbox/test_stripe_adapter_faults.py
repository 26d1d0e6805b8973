"""The Stripe adapter when things go wrong between it and the sandbox, and lookup().

Faults are scripted through the sandbox's control API: 503 / 500 / 429 replies, connection
resets before and after the simulator commits, and a reply that never comes. What must hold:
each failure gets the ErrorKind failover depends on, and after an UNKNOWN the payment is found
(or proven absent) by ``lookup`` without creating anything.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.domain.providers import ChargeStatus, DeclineCode, ErrorKind, ProviderError
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_stripe_adapter_support import call, payments, provider_for

INTENTS = "/v1/payment_intents"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe"]


@pytest.fixture
async def stripe(sandbox_server: SandboxHandle) -> AsyncIterator[StripeProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


async def authorize_fails(stripe: StripeProvider, key: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await stripe.authorize(call(key))
    return caught.value


async def test_a_503_is_retriable_and_the_retry_makes_one_payment(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider="stripe", kind="error", status=503)
    failure = await authorize_fails(stripe, "k-503")
    assert (failure.kind, failure.code, failure.http_status) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        503,
    )
    charge = await stripe.authorize(call("k-503"))
    assert charge.status is ChargeStatus.AUTHORIZED
    assert list(await payments(sandbox_server)) == [charge.provider_ref]


async def test_a_500_is_unknown(stripe: StripeProvider, sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="stripe", kind="error", status=500)
    failure = await authorize_fails(stripe, "k-500")
    assert (failure.kind, failure.code, failure.raw_code) == (
        ErrorKind.UNKNOWN,
        DeclineCode.UNKNOWN_OUTCOME,
        "api_error",
    )


async def test_a_rate_limit_is_retriable_after_the_wait_stripe_asks(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider="stripe", kind="rate_limit", retry_after_s=2)
    failure = await authorize_fails(stripe, "k-429")
    assert (failure.kind, failure.code, failure.raw_code) == (
        ErrorKind.RETRIABLE,
        DeclineCode.RATE_LIMITED,
        "rate_limit",
    )
    assert failure.retry_after_s == 2.0


async def test_a_reset_before_stripe_acts_is_unknown_and_lookup_proves_nothing_happened(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider="stripe", kind="reset", path=INTENTS)
    failure = await authorize_fails(stripe, "k-reset")
    assert (failure.kind, failure.code) == (ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME)
    assert await stripe.lookup(call("k-reset")) is None
    assert await payments(sandbox_server) == {}


async def test_a_reply_that_never_comes_is_unknown_and_lookup_finds_the_payment(
    sandbox_server: SandboxHandle,
) -> None:
    impatient = provider_for(sandbox_server, timeout_s=0.3)
    try:
        await sandbox_server.control.add_fault(
            provider="stripe", kind="commit_then_timeout", path=INTENTS, method="POST"
        )
        with pytest.raises(ProviderError) as caught:
            await impatient.authorize(call("k-silent"))
        assert caught.value.kind is ErrorKind.UNKNOWN
        found = await impatient.lookup(call("k-silent"))
    finally:
        await impatient.aclose()
    assert found is not None
    assert (found.status, found.authorized_minor) == (ChargeStatus.AUTHORIZED, 1000)
    assert list(await payments(sandbox_server)) == [found.provider_ref]


async def test_a_reset_after_commit_replays_the_payment_on_retry(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(
        provider="stripe", kind="reset_after_commit", path=INTENTS
    )
    failure = await authorize_fails(stripe, "k-lost-reply")
    assert failure.kind is ErrorKind.UNKNOWN
    charge = await stripe.authorize(call("k-lost-reply"))
    assert list(await payments(sandbox_server)) == [charge.provider_ref]


async def test_lookup_of_an_attempt_never_sent_is_none(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    await stripe.authorize(call("k-other", attempt_id="att-sent"))
    assert await stripe.lookup(call("k-never", attempt_id="att-never-sent")) is None
    assert len(await payments(sandbox_server)) == 1


async def test_lookup_finds_a_decline_and_an_attempt_id_with_quotes(
    stripe: StripeProvider,
) -> None:
    odd = "att-'quoted'\\slash"
    declined = await stripe.authorize(call("k-odd", attempt_id=odd, number="4000000000009995"))
    found = await stripe.lookup(call("k-odd", attempt_id=odd))
    assert found is not None
    assert found.provider_ref == declined.provider_ref
    assert found.status is ChargeStatus.DECLINED


async def test_a_refused_connection_is_retriable_and_provably_unsent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = StripeProvider(
        StripeConfig(HttpConfig(base_url=f"https://127.0.0.1:{port}/stripe"), "sk_test_x")
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await closed.authorize(call("k-refused", token="pm_card_visa"))
    finally:
        await closed.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.RETRIABLE, False)
