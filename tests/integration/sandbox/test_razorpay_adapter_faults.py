"""The Razorpay adapter under scripted faults: each failure gets the ErrorKind failover needs.

The faults come from the sandbox's control API and hit the simulator's real paths, so the
same HTTP and socket failures reach the adapter as a real outage would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.razorpay import RazorpayConfig, RazorpayProvider
from gateway_svc.domain.providers import (
    AuthorizeCall,
    Card,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    PaymentMethod,
    ProviderError,
)
from sandbox.testing import SandboxHandle

CREATE_PAYMENT = "/v1/payments/create/json"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["razorpay"]


def provider_for(handle: SandboxHandle, timeout_s: float = 10.0) -> RazorpayProvider:
    http_config = HttpConfig(
        base_url=handle.base_url("razorpay"), ca_file=str(handle.ca_file), timeout_s=timeout_s
    )
    config = handle.config
    return RazorpayProvider(
        RazorpayConfig(http_config, config.razorpay_key_id, config.razorpay_key_secret)
    )


@pytest.fixture
async def razorpay(sandbox_server: SandboxHandle) -> AsyncIterator[RazorpayProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


def call(key: str = "fault-key-0001", capture: bool = False) -> AuthorizeCall:
    return AuthorizeCall(
        attempt_id=f"att_{key}",
        idempotency_key=key,
        amount_minor=50_000,
        currency="INR",
        method=PaymentMethod(card=Card("4242424242424242", 12, 2030, "123")),
        capture=capture,
    )


async def authorize_error(provider: RazorpayProvider, key: str) -> ProviderError:
    with pytest.raises(ProviderError) as failed:
        await provider.authorize(call(key))
    return failed.value


async def test_a_503_creating_the_order_is_retriable_and_a_retry_succeeds(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    await sandbox_server.control.add_fault(
        provider="razorpay", kind="error", status=503, path="/v1/orders", method="POST"
    )
    error = await authorize_error(razorpay, "k-503-000001")
    assert (error.kind, error.code, error.http_status) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        503,
    )
    assert (await sandbox_server.control.state("razorpay"))["orders"] == {}
    assert (await razorpay.authorize(call("k-503-000001"))).status is ChargeStatus.AUTHORIZED


async def test_a_500_creating_the_payment_is_unknown(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    await sandbox_server.control.add_fault(
        provider="razorpay", kind="error", status=500, path=CREATE_PAYMENT
    )
    error = await authorize_error(razorpay, "k-500-000001")
    assert (error.kind, error.raw_code, error.http_status) == (
        ErrorKind.UNKNOWN,
        "SERVER_ERROR",
        500,
    )
    # The fault answered without handling: the order exists, no payment does.
    assert await razorpay.lookup(call("k-500-000001")) is None


async def test_a_502_gateway_error_is_unknown(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    await sandbox_server.control.add_fault(
        provider="razorpay", kind="error", status=502, path=CREATE_PAYMENT
    )
    error = await authorize_error(razorpay, "k-502-000001")
    assert (error.kind, error.raw_code) == (ErrorKind.UNKNOWN, "GATEWAY_ERROR")


async def test_a_reset_after_sending_is_unknown(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    await sandbox_server.control.add_fault(provider="razorpay", kind="reset", path=CREATE_PAYMENT)
    error = await authorize_error(razorpay, "k-reset-00001")
    assert (error.kind, error.code) == (ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME)


async def test_rate_limiting_is_retriable_with_the_wait_razorpay_asked_for(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    await sandbox_server.control.add_fault(provider="razorpay", kind="rate_limit", retry_after_s=2)
    error = await authorize_error(razorpay, "k-429-000001")
    assert (error.kind, error.code, error.retry_after_s) == (
        ErrorKind.RETRIABLE,
        DeclineCode.RATE_LIMITED,
        2.0,
    )


async def test_a_payment_committed_without_a_reply_is_unknown_then_found_by_lookup(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(
        provider="razorpay", kind="commit_then_timeout", path=CREATE_PAYMENT
    )
    impatient = provider_for(sandbox_server, timeout_s=0.3)
    try:
        error = await authorize_error(impatient, "k-commit-0001")
        assert error.kind is ErrorKind.UNKNOWN
        found = await impatient.lookup(call("k-commit-0001"))
        assert found is not None and found.status is ChargeStatus.AUTHORIZED
        # Repeating the authorization returns that payment instead of making a second one.
        again = await impatient.authorize(call("k-commit-0001"))
    finally:
        await impatient.aclose()
    assert again.provider_ref == found.provider_ref
    assert len((await sandbox_server.control.state("razorpay"))["payments"]) == 1


async def test_a_refund_whose_reply_was_lost_is_done_once_when_repeated(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call("k-refund-0001", capture=True))
    await sandbox_server.control.add_fault(
        provider="razorpay", kind="reset_after_commit", path="/v1/payments/", method="POST"
    )
    with pytest.raises(ProviderError) as lost:
        await razorpay.refund(charge, 10_000, "INR", "refund-lost-0001")
    assert lost.value.kind is ErrorKind.UNKNOWN
    refund = await razorpay.refund(charge, 10_000, "INR", "refund-lost-0001")
    state = await sandbox_server.control.state("razorpay")
    assert state["payments"][charge.provider_ref]["refunded"] == 10_000
    assert list(state["refunds"]) == [refund.provider_ref]


async def test_an_unreachable_razorpay_is_retriable_and_provably_unsent() -> None:
    # Port 1 on loopback: nothing listens, the connect is refused.
    http_config = HttpConfig(base_url="https://127.0.0.1:1/razorpay", connect_timeout_s=0.5)
    provider = RazorpayProvider(RazorpayConfig(http_config, "rzp_test_x", "secret-x"))
    try:
        error = await authorize_error(provider, "k-down-000001")
    finally:
        await provider.aclose()
    assert (error.kind, error.sent) == (ErrorKind.RETRIABLE, False)
