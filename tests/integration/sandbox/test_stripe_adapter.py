"""The Stripe adapter against the sandbox's Stripe simulator, over real TLS.

Money paths (authorize, partial capture, refunds, cancel, automatic capture), every test card's
normalized decline, 3DS, idempotency, credentials and the live-mode refusal. Faults and lookup
are in test_stripe_adapter_faults.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.stripe import StripeProvider
from gateway_svc.domain.providers import (
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderError,
    RefundStatus,
)
from gateway_svc.service_layer.ports import PaymentProvider
from sandbox.cards import CARDS, Outcome
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_stripe_adapter_support import (
    THREE_DS,
    call,
    complete_3ds,
    payments,
    provider_for,
)

DECLINES = {
    Outcome.GENERIC_DECLINE: DeclineCode.GENERIC_DECLINE,
    Outcome.INSUFFICIENT_FUNDS: DeclineCode.INSUFFICIENT_FUNDS,
    Outcome.LOST_CARD: DeclineCode.LOST_CARD,
    Outcome.STOLEN_CARD: DeclineCode.STOLEN_CARD,
    Outcome.EXPIRED_CARD: DeclineCode.EXPIRED_CARD,
    Outcome.INCORRECT_CVC: DeclineCode.INCORRECT_CVC,
    Outcome.PROCESSING_ERROR: DeclineCode.PROCESSING_ERROR,
}
DECLINING = [(card.number, card.outcome) for card in CARDS if card.outcome in DECLINES]


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe"]


@pytest.fixture
async def stripe(sandbox_server: SandboxHandle) -> AsyncIterator[StripeProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


async def test_it_is_a_payment_provider(stripe: StripeProvider) -> None:
    provider: PaymentProvider = stripe
    assert provider.name is Provider.STRIPE
    assert provider.sandbox is True


async def test_authorize_partial_capture_and_two_refunds(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await stripe.authorize(call("k-happy"))
    assert (charge.status, charge.authorized_minor) == (ChargeStatus.AUTHORIZED, 1000)
    assert charge.provider_ref.startswith("pi_") and charge.raw_status == "requires_capture"
    assert charge.fee_minor is None  # nothing captured, nothing charged yet
    captured = await stripe.capture(charge, 600, "USD", "k-happy-capture")
    assert (captured.status, captured.captured_minor, captured.refunded_minor) == (
        ChargeStatus.CAPTURED,
        600,
        0,
    )
    assert captured.fee_minor == 47  # 2.9% of 6.00 rounded, plus 0.30
    first = await stripe.refund(captured, 250, "USD", "k-happy-refund-1")
    second = await stripe.refund(captured, 350, "USD", "k-happy-refund-2")
    assert (first.status, first.amount_minor) == (RefundStatus.SUCCEEDED, 250)
    assert second.provider_ref.startswith("re_") and second.provider_ref != first.provider_ref
    after = await stripe.fetch(captured)
    assert (after.captured_minor, after.refunded_minor, after.fee_minor) == (600, 600, 47)
    state = (await payments(sandbox_server))[charge.provider_ref]
    assert (state["authorized"], state["captured"], state["refunded"]) == (1000, 600, 600)
    assert state["metadata"] == {
        "merchant": "m_1",
        "paymesh_attempt_id": "att-k-happy",
        "paymesh_reference": "order-42",
    }


async def test_authorize_then_cancel(stripe: StripeProvider) -> None:
    charge = await stripe.authorize(call("k-void"))
    canceled = await stripe.cancel(charge, "k-void-cancel")
    assert (canceled.status, canceled.captured_minor) == (ChargeStatus.CANCELED, 0)
    with pytest.raises(ProviderError) as caught:
        await stripe.capture(canceled, 1000, "USD", "k-void-capture")
    assert (caught.value.kind, caught.value.raw_code) == (
        ErrorKind.INVALID,
        "payment_intent_unexpected_state",
    )


async def test_automatic_capture_captures_at_once(stripe: StripeProvider) -> None:
    charge = await stripe.authorize(call("k-auto", capture=True, amount_minor=10_000))
    assert (charge.status, charge.captured_minor, charge.fee_minor) == (
        ChargeStatus.CAPTURED,
        10_000,
        320,
    )
    assert charge.refs["latest_charge"].startswith("ch_")


@pytest.mark.parametrize(("number", "outcome"), DECLINING)
async def test_every_test_card_declines_with_its_normalized_code(
    stripe: StripeProvider, number: str, outcome: Outcome
) -> None:
    charge = await stripe.authorize(call(f"k-{number}", number=number))
    assert charge.status is ChargeStatus.DECLINED
    assert charge.decline is not None
    assert charge.decline.code is DECLINES[outcome]
    assert charge.decline.raw_code == outcome.value
    assert charge.provider_ref.startswith("pi_")
    assert number not in charge.decline.message


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", DeclineCode.INSUFFICIENT_FUNDS),
        ("pm_card_radarBlock", DeclineCode.FRAUD_SUSPECTED),
    ],
)
async def test_a_declining_token_declines_too(
    stripe: StripeProvider, token: str, code: DeclineCode
) -> None:
    charge = await stripe.authorize(call(f"k-{token}", token=token))
    assert charge.decline is not None and charge.decline.code is code


async def test_a_number_failing_luhn_is_an_incorrect_number(stripe: StripeProvider) -> None:
    charge = await stripe.authorize(call("k-luhn", number="4242424242424241"))
    assert charge.decline is not None
    assert charge.decline.code is DeclineCode.INCORRECT_NUMBER


async def test_3ds_requires_action_then_authorizes_once_the_payer_completes(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await stripe.authorize(call("k-3ds", number=THREE_DS))
    assert charge.status is ChargeStatus.REQUIRES_ACTION
    assert charge.action_url.startswith(sandbox_server.url + "/stripe/3d_secure_2/hosted?")
    await complete_3ds(sandbox_server, charge.action_url)
    after = await stripe.fetch(charge)
    assert (after.status, after.authorized_minor) == (ChargeStatus.AUTHORIZED, 1000)


async def test_a_failed_3ds_is_an_authentication_decline(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await stripe.authorize(call("k-3ds-fail", token="pm_card_threeDSecure2Required"))
    await complete_3ds(sandbox_server, charge.action_url, "fail")
    after = await stripe.fetch(charge)
    assert after.status is ChargeStatus.DECLINED
    assert after.decline is not None
    assert after.decline.code is DeclineCode.AUTHENTICATION_REQUIRED


async def test_the_same_key_twice_is_one_payment(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    first = await stripe.authorize(call("k-twice"))
    again = await stripe.authorize(call("k-twice"))
    assert again.provider_ref == first.provider_ref
    assert len(await payments(sandbox_server)) == 1
    declined = await stripe.authorize(call("k-twice-decline", number="4000000000000002"))
    replayed = await stripe.authorize(call("k-twice-decline", number="4000000000000002"))
    assert replayed == declined


async def test_over_refund_and_over_capture_are_invalid_amounts(stripe: StripeProvider) -> None:
    charge = await stripe.authorize(call("k-over"))
    with pytest.raises(ProviderError) as over_capture:
        await stripe.capture(charge, 1001, "USD", "k-over-capture-1")
    assert over_capture.value.code is DeclineCode.AMOUNT_INVALID
    captured = await stripe.capture(charge, 1000, "USD", "k-over-capture-2")
    await stripe.refund(captured, 900, "USD", "k-over-refund-1")
    with pytest.raises(ProviderError) as over_refund:
        await stripe.refund(captured, 101, "USD", "k-over-refund-2")
    assert (over_refund.value.kind, over_refund.value.code) == (
        ErrorKind.INVALID,
        DeclineCode.AMOUNT_INVALID,
    )
    assert over_refund.value.raw_code == "amount_too_large"


@pytest.mark.parametrize(("currency", "minor", "wire"), [("JPY", 500, 500), ("ISK", 800, 80_000)])
async def test_stripes_currency_units_are_converted_both_ways(
    stripe: StripeProvider, sandbox_server: SandboxHandle, currency: str, minor: int, wire: int
) -> None:
    charge = await stripe.authorize(call(f"k-{currency}", currency=currency, amount_minor=minor))
    assert charge.authorized_minor == minor
    assert (await payments(sandbox_server))[charge.provider_ref]["amount"] == wire


async def test_wrong_credentials_are_invalid(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server, secret_key="sk_test_not_the_sandbox_key")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call("k-bad-key"))
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.INVALID, 401)
    assert "sk_test" not in str(caught.value)
    assert await payments(sandbox_server) == {}


async def test_live_mode_refuses_a_raw_card_before_any_io(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server, sandbox=False)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call("k-live"))
        stats = await sandbox_server.control.stats()
        assert "stripe" not in stats["requests"]
        # A token is fine in live mode, and is counted: the count above is not vacuous.
        await provider.authorize(call("k-live-token", token="pm_card_visa"))
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.code, caught.value.sent) == (
        ErrorKind.INVALID,
        DeclineCode.PROVIDER_REJECTED,
        False,
    )
    assert "4242424242424242" not in str(caught.value)
    stats = await sandbox_server.control.stats()
    assert stats["requests"]["stripe"]["total"] == 1


async def test_a_live_key_refuses_a_raw_card_even_in_sandbox_mode(
    sandbox_server: SandboxHandle,
) -> None:
    provider = provider_for(sandbox_server, secret_key="sk_live_misconfigured_1234")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call("k-live-key"))
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.INVALID, False)
    assert "sk_live" not in str(caught.value)


async def test_caller_metadata_cannot_shadow_the_attempt_id(
    stripe: StripeProvider, sandbox_server: SandboxHandle
) -> None:
    spoof = call("k-spoof", attempt_id="att-real")
    spoof.metadata["paymesh_attempt_id"] = "att-fake"
    charge = await stripe.authorize(spoof)
    state = (await payments(sandbox_server))[charge.provider_ref]
    assert state["metadata"]["paymesh_attempt_id"] == "att-real"
    assert await stripe.lookup(call("k-x", attempt_id="att-fake")) is None
