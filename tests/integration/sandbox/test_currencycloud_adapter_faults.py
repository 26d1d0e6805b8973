"""The Currencycloud adapter when things go wrong: throttling honoured inside the adapter,
5xx, resets and lost replies, and recovering a committed create by its request id."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.adapters.providers.currencycloud_transport import RetryPolicy
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_currencycloud_adapter_support import (
    EUR_FOR_GBP,
    GB_DETAILS,
    NAME,
    client_for,
    payout,
    state,
)

RATES = "/v2/rates/detailed"
CONVERSIONS = "/v2/conversions/create"
PAYMENTS = "/v2/payments/create"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


class Sleeps:
    """An injected sleep that records what the adapter waited, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def cc(sandbox_server: SandboxHandle, sleeps: Sleeps) -> AsyncIterator[CurrencycloudClient]:
    client = client_for(sandbox_server, sleep=sleeps)
    await client.tokens.get()  # warm: faults below then hit the API calls, not the login
    yield client
    await client.aclose()


async def requests_to(handle: SandboxHandle, path: str, method: str = "GET") -> int:
    paths = (await handle.control.stats())["requests"][NAME]["paths"]
    count: int = paths.get(f"{method} {path}", 0)
    return count


async def failure(call: Callable[[], Awaitable[object]]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call()
    return caught.value


async def quote(client: CurrencycloudClient) -> int:
    return (await client.get_rate("EUR", "USD", FixedSide.SELL, 10_000)).buy_amount_minor


async def test_a_429_is_waited_out_as_retry_after_asks_and_the_call_succeeds(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle, sleeps: Sleeps
) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="rate_limit", path=RATES, count=2, retry_after_s=0.25
    )
    assert await quote(cc) > 0
    assert sleeps.waits == [0.25, 0.25]
    assert cc.transport.throttled == 2
    assert await requests_to(sandbox_server, RATES) == 3


async def test_a_429_without_retry_after_backs_off_with_full_jitter(
    sandbox_server: SandboxHandle,
) -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(rate_limit_attempts=3, base_s=0.5, cap_s=5.0)
    client = client_for(sandbox_server, sleep=sleeps, retry=policy)
    try:
        await sandbox_server.control.add_fault(
            provider=NAME, kind="error", status=429, path=RATES, count=2
        )
        await quote(client)
    finally:
        await client.aclose()
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.5 and 0 <= sleeps.waits[1] <= 1.0


async def test_a_429_that_persists_is_retriable_after_three_tries(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle, sleeps: Sleeps
) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="rate_limit", path=RATES, count=-1, retry_after_s=0.5
    )
    error = await failure(lambda: quote(cc))
    assert (error.kind, error.code, error.raw_code, error.retry_after_s) == (
        ErrorKind.RETRIABLE,
        DeclineCode.RATE_LIMITED,
        "too_many_requests",
        0.5,
    )
    assert (len(sleeps.waits), await requests_to(sandbox_server, RATES)) == (2, 3)


async def test_a_long_retry_after_is_handed_to_the_caller_without_sleeping(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle, sleeps: Sleeps
) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="rate_limit", path=RATES, retry_after_s=30
    )
    error = await failure(lambda: quote(cc))
    assert (error.kind, error.retry_after_s, sleeps.waits) == (ErrorKind.RETRIABLE, 30.0, [])
    assert await requests_to(sandbox_server, RATES) == 1


async def test_a_503_is_retriable_and_nothing_was_booked(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="error", status=503, path=CONVERSIONS
    )
    error = await failure(lambda: cc.create_conversion(EUR_FOR_GBP, "req-503"))
    assert (error.kind, error.code, error.raw_code) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        "service_unavailable",
    )
    assert (await state(sandbox_server))["conversions"] == {}
    await cc.create_conversion(EUR_FOR_GBP, "req-503")  # the retry is the first real booking
    assert len((await state(sandbox_server))["conversions"]) == 1


async def test_a_500_is_unknown(cc: CurrencycloudClient, sandbox_server: SandboxHandle) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="error", status=500, path=CONVERSIONS
    )
    error = await failure(lambda: cc.create_conversion(EUR_FOR_GBP, "req-500"))
    assert (error.kind, error.raw_code) == (ErrorKind.UNKNOWN, "internal_server_error")


async def test_a_reset_connection_is_unknown(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    await sandbox_server.control.add_fault(provider=NAME, kind="reset", path=CONVERSIONS)
    error = await failure(lambda: cc.create_conversion(EUR_FOR_GBP, "req-reset"))
    assert (error.kind, error.sent) == (ErrorKind.UNKNOWN, True)
    assert await cc.find_conversion("req-reset") is None  # a reset before handling commits nothing


async def test_a_conversion_whose_reply_was_lost_is_found_and_never_booked_twice(
    sandbox_server: SandboxHandle,
) -> None:
    client = client_for(sandbox_server, timeout_s=0.3)
    try:
        await client.tokens.get()
        await sandbox_server.control.add_fault(
            provider=NAME, kind="commit_then_timeout", path=CONVERSIONS
        )
        error = await failure(lambda: client.create_conversion(EUR_FOR_GBP, "req-lost"))
        found = await client.find_conversion("req-lost")
        retried = await client.create_conversion(EUR_FOR_GBP, "req-lost")
    finally:
        await client.aclose()
    assert error.kind is ErrorKind.UNKNOWN
    assert found is not None
    assert retried.provider_ref == found.provider_ref
    assert list((await state(sandbox_server))["conversions"]) == [found.provider_ref]


async def test_a_payment_reset_after_commit_is_sent_once_when_retried(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    await sandbox_server.control.add_fault(provider=NAME, kind="reset_after_commit", path=PAYMENTS)
    error = await failure(lambda: cc.create_payment(payout(beneficiary.provider_ref), "req-pay"))
    retried = await cc.create_payment(payout(beneficiary.provider_ref), "req-pay")
    assert error.kind is ErrorKind.UNKNOWN
    assert list((await state(sandbox_server))["payments"]) == [retried.provider_ref]


async def test_a_refused_connection_is_retriable_and_never_sent(
    sandbox_server: SandboxHandle,
) -> None:
    with socket.socket() as probe:  # a port that was just free: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(sandbox_server, base_url=f"https://127.0.0.1:{port}/{NAME}")
    try:
        error = await failure(lambda: quote(client))
    finally:
        await client.aclose()
    assert (error.kind, error.code, error.sent) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        False,
    )
