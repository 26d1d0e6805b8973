"""The Authorize.net adapter under scripted faults, and lookup() reconciling the unknowns.

Every call goes to the one endpoint (/xml/v1/request.api), so a fault with ``count: 1`` hits
the next call only; the lookup that follows it goes through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway_svc.adapters.providers.authorizenet import AuthorizeNetConfig, AuthorizeNetProvider
from gateway_svc.adapters.providers.http import HttpConfig
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

ENDPOINT = "/xml/v1/request.api"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["authorizenet"]


@pytest.fixture
async def anet(sandbox_server: SandboxHandle) -> AsyncIterator[AuthorizeNetProvider]:
    config = sandbox_server.config
    http_config = HttpConfig(
        base_url=sandbox_server.base_url("authorizenet"),
        ca_file=str(sandbox_server.ca_file),
        timeout_s=0.5,
    )
    provider = AuthorizeNetProvider(
        AuthorizeNetConfig(
            http_config, config.authorizenet_login_id, config.authorizenet_transaction_key
        )
    )
    yield provider
    await provider.aclose()


def call(key: str = "fault-key-1", *, capture: bool = False) -> AuthorizeCall:
    return AuthorizeCall(
        attempt_id=f"att_{key}",
        idempotency_key=key,
        amount_minor=4_200,
        currency="USD",
        method=PaymentMethod(card=Card("5424000000000015", 11, 2031, "321")),
        capture=capture,
    )


async def fault(handle: SandboxHandle, kind: str, **spec: Any) -> None:
    await handle.control.add_fault(provider="authorizenet", kind=kind, path=ENDPOINT, **spec)


async def payment_count(handle: SandboxHandle) -> int:
    return len((await handle.control.state("authorizenet"))["payments"])


async def test_a_503_is_retriable_and_nothing_was_charged(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await fault(sandbox_server, "error", status=503)
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call())
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.RETRIABLE, 503)
    assert await payment_count(sandbox_server) == 0
    assert await anet.lookup(call()) is None


async def test_a_500_is_unknown(anet: AuthorizeNetProvider, sandbox_server: SandboxHandle) -> None:
    await fault(sandbox_server, "error", status=500)
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call())
    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.UNKNOWN,
        DeclineCode.UNKNOWN_OUTCOME,
    )


async def test_a_reset_before_handling_is_unknown_and_lookup_proves_nothing_happened(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await fault(sandbox_server, "reset")
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call())
    assert caught.value.kind is ErrorKind.UNKNOWN
    assert await anet.lookup(call()) is None


async def test_rate_limiting_is_retriable_with_the_wait_asked_for(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await fault(sandbox_server, "rate_limit", retry_after_s=2)
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call())
    assert (caught.value.kind, caught.value.code) == (ErrorKind.RETRIABLE, DeclineCode.RATE_LIMITED)
    assert caught.value.retry_after_s == 2.0


async def test_a_commit_then_timeout_is_unknown_and_lookup_finds_the_payment(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await fault(sandbox_server, "commit_then_timeout")
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call())
    assert caught.value.kind is ErrorKind.UNKNOWN

    found = await anet.lookup(call())
    assert found is not None
    assert (found.status, found.authorized_minor) == (ChargeStatus.AUTHORIZED, 4_200)
    assert found.refs["last4"] == "0015"
    # The caller's retry with the same key is a duplicate: the same payment, not a second.
    retried = await anet.authorize(call())
    assert retried.provider_ref == found.provider_ref
    assert await payment_count(sandbox_server) == 1


async def test_a_reset_after_commit_is_found_by_lookup(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await fault(sandbox_server, "reset_after_commit")
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call(capture=True))
    assert caught.value.kind is ErrorKind.UNKNOWN
    found = await anet.lookup(call(capture=True))
    assert found is not None
    assert (found.status, found.captured_minor) == (ChargeStatus.CAPTURED, 4_200)


async def test_a_refund_retried_after_a_lost_reply_refunds_once(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await anet.authorize(call(capture=True))
    await fault(sandbox_server, "reset_after_commit")
    with pytest.raises(ProviderError):
        await anet.refund(charge, 1_000, "USD", "refund-lost")
    refund = await anet.refund(charge, 1_000, "USD", "refund-lost")
    state = await sandbox_server.control.state("authorizenet")
    assert list(state["refunds"]) == [refund.provider_ref]
    assert state["payments"][charge.provider_ref]["refunded_minor"] == 1_000


async def test_lookup_of_an_attempt_never_sent_is_none(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    await anet.authorize(call("some-other-key"))
    assert await anet.lookup(call("never-sent")) is None
    assert await payment_count(sandbox_server) == 1
