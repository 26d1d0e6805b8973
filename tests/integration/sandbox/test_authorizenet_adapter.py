"""The Authorize.net adapter against the sandbox's Authorize.net simulator, over real TLS.

Money paths (authorize, partial capture, repeated partial refunds, void, automatic capture),
every test card's normalized decline, Authorize.net's own sandbox triggers, the payer-approval
(3DS) flow, idempotency through the duplicate window, credentials and live-mode refusals.
Transport and HTTP faults, and lookup, are in test_authorizenet_adapter_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
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
    Provider,
    ProviderError,
    RefundStatus,
)
from gateway_svc.service_layer.ports import PaymentProvider
from sandbox.testing import SandboxHandle

VISA = "4111111111111111"
THREE_DS = "4000002500003155"
REASON_BY_AMOUNT = "4222222222222"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["authorizenet"]


def provider_for(
    handle: SandboxHandle, *, transaction_key: str | None = None, **http: Any
) -> AuthorizeNetProvider:
    config = handle.config
    http_config = HttpConfig(
        base_url=handle.base_url("authorizenet"), ca_file=str(handle.ca_file), **http
    )
    return AuthorizeNetProvider(
        AuthorizeNetConfig(
            http_config,
            config.authorizenet_login_id,
            transaction_key or config.authorizenet_transaction_key,
        )
    )


@pytest.fixture
async def anet(sandbox_server: SandboxHandle) -> AsyncIterator[AuthorizeNetProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


def call(
    key: str = "idem-key-0001",
    *,
    number: str = VISA,
    cvc: str = "123",
    amount: int = 10_000,
    currency: str = "USD",
    capture: bool = False,
    token: str | None = None,
    metadata: dict[str, str] | None = None,
) -> AuthorizeCall:
    method = (
        PaymentMethod(token=token)
        if token is not None
        else PaymentMethod(card=Card(number, 12, 2030, cvc))
    )
    return AuthorizeCall(
        attempt_id=f"att_{key}",
        idempotency_key=key,
        amount_minor=amount,
        currency=currency,
        method=method,
        capture=capture,
        description="Order 42",
        reference="ref-42",
        metadata=metadata or {},
    )


async def payments(handle: SandboxHandle) -> dict[str, Any]:
    state: dict[str, Any] = await handle.control.state("authorizenet")
    return state


def test_the_adapter_is_a_payment_provider(anet: AuthorizeNetProvider) -> None:
    provider: PaymentProvider = anet  # mypy checks the protocol here
    assert provider.name is Provider.AUTHORIZENET
    assert provider.sandbox


async def test_authorize_capture_part_and_refund_twice(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await anet.authorize(call())
    assert charge.status is ChargeStatus.AUTHORIZED
    assert charge.authorized_minor == 10_000
    assert charge.refs["last4"] == "1111"

    captured = await anet.capture(charge, 6_000, "USD", "cap-1")
    assert (captured.status, captured.captured_minor) == (ChargeStatus.CAPTURED, 6_000)
    first = await anet.refund(captured, 2_500, "USD", "ref-1")
    second = await anet.refund(captured, 1_500, "USD", "ref-2")
    assert first.status is second.status is RefundStatus.SUCCEEDED
    assert first.provider_ref != second.provider_ref

    state = await payments(sandbox_server)
    payment = state["payments"][charge.provider_ref]
    assert payment["authorized_minor"] == 10_000
    assert payment["captured_minor"] == 6_000
    assert payment["refunded_minor"] == 4_000
    assert sorted(r["amount_minor"] for r in state["refunds"].values()) == [1_500, 2_500]
    fetched = await anet.fetch(captured)
    assert (fetched.status, fetched.captured_minor) == (ChargeStatus.CAPTURED, 6_000)


async def test_an_authorization_is_voided_and_a_repeated_void_returns_it(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await anet.authorize(call())
    canceled = await anet.cancel(charge, "void-1")
    again = await anet.cancel(charge, "void-1")
    assert canceled.status is again.status is ChargeStatus.CANCELED
    assert (await payments(sandbox_server))["payments"][charge.provider_ref]["status"] == "voided"


async def test_automatic_capture_captures_at_once(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call(capture=True))
    assert (charge.status, charge.captured_minor) == (ChargeStatus.CAPTURED, 10_000)


async def test_a_repeated_capture_returns_the_first_capture(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call())
    first = await anet.capture(charge, 4_000, "USD", "cap-1")
    again = await anet.capture(charge, 4_000, "USD", "cap-1")
    assert again.provider_ref == first.provider_ref
    assert (again.status, again.captured_minor) == (ChargeStatus.CAPTURED, 4_000)


async def test_capturing_more_than_authorized_is_invalid(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call())
    with pytest.raises(ProviderError) as caught:
        await anet.capture(charge, 10_001, "USD", "cap-1")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.INVALID, DeclineCode.AMOUNT_INVALID)
    assert caught.value.raw_code == "47"


async def test_refunding_past_the_capture_is_invalid(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call(capture=True))
    await anet.refund(charge, 9_000, "USD", "ref-1")
    with pytest.raises(ProviderError) as caught:
        await anet.refund(charge, 1_001, "USD", "ref-2")
    assert (caught.value.kind, caught.value.raw_code) == (ErrorKind.INVALID, "55")


@pytest.mark.parametrize(
    ("number", "code", "raw"),
    [
        ("4000000000000002", DeclineCode.GENERIC_DECLINE, "2"),
        # Authorize.net reports insufficient funds as a general decline.
        ("4000000000009995", DeclineCode.GENERIC_DECLINE, "2"),
        # Lost and stolen share reason 4, "pick up card".
        ("4000000000009987", DeclineCode.LOST_CARD, "4"),
        ("4000000000009979", DeclineCode.LOST_CARD, "4"),
        ("4000000000000069", DeclineCode.EXPIRED_CARD, "8"),
        ("4000000000000127", DeclineCode.INCORRECT_CVC, "44"),
        ("4111111111111112", DeclineCode.INCORRECT_NUMBER, "6"),
    ],
)
async def test_every_declining_test_card_is_normalized(
    anet: AuthorizeNetProvider, number: str, code: DeclineCode, raw: str
) -> None:
    charge = await anet.authorize(call(number=number))
    assert charge.status is ChargeStatus.DECLINED
    assert charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == (code, raw)
    assert number not in repr(charge)


async def test_the_processing_error_card_is_retriable(anet: AuthorizeNetProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call(number="4000000000000119"))
    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROCESSING_ERROR,
    )
    assert caught.value.raw_code == "19"


@pytest.mark.parametrize(
    ("kwargs", "code", "raw"),
    [
        ({"metadata": {"billing_zip": "46282"}}, DeclineCode.GENERIC_DECLINE, "2"),
        ({"cvc": "901"}, DeclineCode.INCORRECT_CVC, "65"),
        ({"number": REASON_BY_AMOUNT, "amount": 2_700}, DeclineCode.GENERIC_DECLINE, "27"),
        ({"number": REASON_BY_AMOUNT, "amount": 25_000}, DeclineCode.FRAUD_SUSPECTED, "250"),
    ],
)
async def test_authorizenet_sandbox_triggers_decline(
    anet: AuthorizeNetProvider, kwargs: dict[str, Any], code: DeclineCode, raw: str
) -> None:
    charge = await anet.authorize(call(**kwargs))
    assert charge.decline is not None
    assert (charge.status, charge.decline.code, charge.decline.raw_code) == (
        ChargeStatus.DECLINED,
        code,
        raw,
    )


async def test_a_held_transaction_is_pending(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call(number=REASON_BY_AMOUNT, amount=25_200))
    assert charge.status is ChargeStatus.PENDING
    assert (await anet.fetch(charge)).status is ChargeStatus.PENDING


async def test_the_3ds_card_requires_action_until_the_payer_approves(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await anet.authorize(call(number=THREE_DS))
    assert charge.status is ChargeStatus.REQUIRES_ACTION
    assert charge.action_url.startswith(sandbox_server.config.public_url + "/authorizenet/")
    assert (await anet.fetch(charge)).action_url == charge.action_url

    async with httpx.AsyncClient(verify=sandbox_server.ssl_context()) as client:
        page = await client.get(charge.action_url)
        approved = await client.post(charge.action_url, data={"decision": "approve"})
    assert page.status_code == approved.status_code == 200
    after = await anet.fetch(charge)
    assert (after.status, after.authorized_minor) == (ChargeStatus.AUTHORIZED, 10_000)


async def test_the_same_key_twice_is_one_payment(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    first = await anet.authorize(call("key-A"))
    second = await anet.authorize(call("key-A"))
    other = await anet.authorize(call("key-B"))
    assert second.provider_ref == first.provider_ref != other.provider_ref
    assert second.status is ChargeStatus.AUTHORIZED
    assert len((await payments(sandbox_server))["payments"]) == 2


async def test_concurrent_attempts_with_one_key_are_one_payment(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charges = await asyncio.gather(*(anet.authorize(call("key-C")) for _ in range(5)))
    assert len({charge.provider_ref for charge in charges}) == 1
    assert {charge.status for charge in charges} == {ChargeStatus.AUTHORIZED}
    assert len((await payments(sandbox_server))["payments"]) == 1


async def test_a_repeated_decline_is_the_same_decline(anet: AuthorizeNetProvider) -> None:
    first = await anet.authorize(call("key-D", number="4000000000000002"))
    again = await anet.authorize(call("key-D", number="4000000000000002"))
    assert again.provider_ref == first.provider_ref
    assert again.decline is not None
    assert again.decline.code is DeclineCode.GENERIC_DECLINE


async def test_the_same_refund_key_twice_is_one_refund(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await anet.authorize(call(capture=True))
    first = await anet.refund(charge, 1_000, "USD", "refund-key")
    again = await anet.refund(charge, 1_000, "USD", "refund-key")
    assert again.provider_ref == first.provider_ref
    assert again.status is RefundStatus.SUCCEEDED
    assert len((await payments(sandbox_server))["refunds"]) == 1


async def test_a_token_is_sent_as_an_accept_nonce(anet: AuthorizeNetProvider) -> None:
    charge = await anet.authorize(call(token="pm_card_visa"))
    assert charge.status is ChargeStatus.AUTHORIZED
    assert charge.refs["last4"] == "4242"


async def test_a_currency_the_merchant_does_not_process_is_invalid(
    anet: AuthorizeNetProvider,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call(currency="INR"))
    assert (caught.value.kind, caught.value.code, caught.value.raw_code) == (
        ErrorKind.INVALID,
        DeclineCode.CURRENCY_NOT_SUPPORTED,
        "39",
    )


async def test_wrong_credentials_are_invalid(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server, transaction_key="0000000000000000")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call())
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.raw_code) == (ErrorKind.INVALID, "E00007")
    assert "0000000000000000" not in str(caught.value)


async def test_live_mode_refuses_a_raw_card_before_any_io(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server, sandbox=False)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call())
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.INVALID, False)
    assert VISA not in str(caught.value)
    assert "authorizenet" not in (await sandbox_server.control.stats()).get("requests", {})


async def test_a_currency_outside_iso_4217_is_refused_before_any_io(
    anet: AuthorizeNetProvider, sandbox_server: SandboxHandle
) -> None:
    with pytest.raises(ProviderError) as caught:
        await anet.authorize(call(currency="ABC"))
    assert (caught.value.kind, caught.value.code, caught.value.sent) == (
        ErrorKind.INVALID,
        DeclineCode.CURRENCY_NOT_SUPPORTED,
        False,
    )
    assert "authorizenet" not in (await sandbox_server.control.stats()).get("requests", {})
