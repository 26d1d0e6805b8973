"""The PayPal adapter when things go wrong: faults, lost replies and lookup, access tokens.

Faults are scripted through the sandbox's control API on the Orders path, after a first call
has cached the access token, so each one hits the payment call itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.paypal import PayPalProvider
from gateway_svc.domain.providers import ChargeStatus, DeclineCode, ErrorKind, ProviderError
from sandbox.config import SandboxConfig
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_paypal_adapter_support import call, provider_for

ORDERS = "/v2/checkout/orders"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["paypal"]


@pytest.fixture
async def paypal(sandbox_server: SandboxHandle) -> AsyncIterator[PayPalProvider]:
    provider = provider_for(sandbox_server)
    await provider.tokens.get()  # warm: faults below then hit the payment calls
    yield provider
    await provider.aclose()


async def payments(handle: SandboxHandle) -> dict[str, dict[str, object]]:
    state = await handle.control.state("paypal")
    found: dict[str, dict[str, object]] = state["payments"]
    return found


async def failure_of(paypal: PayPalProvider, key: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await paypal.authorize(call(key))
    return caught.value


async def test_a_503_is_retriable_and_nothing_was_created(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider="paypal", kind="error", status=503, path=ORDERS)
    error = await failure_of(paypal, "k-503")
    assert (error.kind, error.code, error.http_status) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        503,
    )
    assert error.raw_code == "SERVICE_UNAVAILABLE"
    assert await payments(sandbox_server) == {}
    # The same key afterwards is the first real execution.
    assert (await paypal.authorize(call("k-503"))).status is ChargeStatus.AUTHORIZED


async def test_a_500_is_unknown(paypal: PayPalProvider, sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(provider="paypal", kind="error", status=500, path=ORDERS)
    error = await failure_of(paypal, "k-500")
    assert (error.kind, error.raw_code) == (ErrorKind.UNKNOWN, "INTERNAL_SERVER_ERROR")


async def test_a_reset_connection_is_unknown(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider="paypal", kind="reset", path=ORDERS)
    error = await failure_of(paypal, "k-reset")
    assert (error.kind, error.sent) == (ErrorKind.UNKNOWN, True)


async def test_rate_limiting_is_retriable_with_the_wait_paypal_asked_for(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(
        provider="paypal", kind="rate_limit", retry_after_s=3, path=ORDERS
    )
    error = await failure_of(paypal, "k-429")
    assert (error.kind, error.code) == (ErrorKind.RETRIABLE, DeclineCode.RATE_LIMITED)
    assert error.retry_after_s == 3.0
    assert error.raw_code == "RATE_LIMIT_REACHED"


async def test_a_committed_order_whose_reply_was_lost_is_found_by_lookup(
    sandbox_server: SandboxHandle,
) -> None:
    provider = provider_for(sandbox_server, timeout_s=0.3)
    try:
        await provider.tokens.get()
        await sandbox_server.control.add_fault(
            provider="paypal", kind="commit_then_timeout", path=ORDERS
        )
        attempt = call("k-lost", capture=True)
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(attempt)
        assert caught.value.kind is ErrorKind.UNKNOWN
        found = await provider.lookup(attempt)
    finally:
        await provider.aclose()
    assert found is not None
    assert found.status is ChargeStatus.CAPTURED
    assert found.captured_minor == attempt.amount_minor
    assert list(await payments(sandbox_server)) == [found.provider_ref]


async def test_lookup_of_an_attempt_never_sent_is_none_and_creates_nothing(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    await paypal.authorize(call("k-other"))
    assert await paypal.lookup(call("k-never")) is None
    assert len(await payments(sandbox_server)) == 1


async def test_lookup_against_real_paypal_stays_unknown_without_any_request(
    sandbox_server: SandboxHandle,
) -> None:
    provider = provider_for(sandbox_server, order_search=False)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.lookup(call("k-real"))
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.UNKNOWN, False)
    assert provider.tokens.fetches == 0


async def test_concurrent_duplicates_create_one_payment(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    charges = await asyncio.gather(*(paypal.authorize(call("k-dup")) for _ in range(8)))
    assert len({c.provider_ref for c in charges}) == 1
    assert len(await payments(sandbox_server)) == 1


async def test_concurrent_calls_share_one_token_request(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server)
    try:
        charges = await asyncio.gather(*(provider.authorize(call(f"k-{i}")) for i in range(20)))
    finally:
        await provider.aclose()
    assert all(c.status is ChargeStatus.AUTHORIZED for c in charges)
    assert provider.tokens.fetches == 1
    assert (await sandbox_server.control.state("paypal"))["tokens_issued"] == 1


async def test_a_token_paypal_forgot_is_refreshed_once_and_the_call_succeeds(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.reset()  # the simulator forgets every token it issued
    charge = await paypal.authorize(call("k-after-reset"))
    assert charge.status is ChargeStatus.AUTHORIZED
    assert paypal.tokens.fetches == 2
    assert (await sandbox_server.control.state("paypal"))["tokens_issued"] == 1


async def test_a_token_endpoint_outage_is_retriable_and_the_payment_never_left(
    sandbox_server: SandboxHandle,
) -> None:
    provider = provider_for(sandbox_server)
    await sandbox_server.control.add_fault(
        provider="paypal", kind="error", status=500, path="/v1/oauth2/token"
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call("k-token-down"))
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.RETRIABLE, False)
    assert await payments(sandbox_server) == {}


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Short-lived tokens (PayPal's are 9 hours), so expiry is seen in a test."""
    return SandboxConfig(paypal_token_ttl_s=600)


async def test_the_token_is_reused_until_the_refresh_margin_then_renewed(
    sandbox_server: SandboxHandle,
) -> None:
    now = [1000.0]
    provider = provider_for(sandbox_server, clock=lambda: now[0])  # a clock the test moves
    try:
        await provider.authorize(call("k-t1"))
        now[0] += 299  # 600 s tokens, 300 s margin: still good
        await provider.authorize(call("k-t2"))
        assert provider.tokens.fetches == 1
        now[0] += 2  # past lifetime - margin
        await provider.authorize(call("k-t3"))
    finally:
        await provider.aclose()
    assert provider.tokens.fetches == 2
    assert (await sandbox_server.control.state("paypal"))["tokens_issued"] == 2
