"""The PayPal adapter against the sandbox's PayPal simulator, over real TLS.

Money paths (authorize, partial capture, two refunds; authorize then void; automatic
capture), every test card's normalized decline, 3-D Secure, idempotency, credentials, live
mode and PayPal's own currency rules. Tokens, faults and lookup are in the sibling modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.paypal import PayPalProvider
from gateway_svc.domain.providers import (
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    ProviderError,
    RefundStatus,
)
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_paypal_adapter_support import THREE_DS, call, provider_for


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["paypal"]


@pytest.fixture
async def paypal(sandbox_server: SandboxHandle) -> AsyncIterator[PayPalProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


async def test_authorize_partial_capture_and_two_refunds_match_the_simulator(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await paypal.authorize(call(amount=10_000))
    assert charge.status is ChargeStatus.AUTHORIZED
    assert charge.authorized_minor == 10_000
    assert charge.refs["authorization_id"] and charge.refs["intent"] == "AUTHORIZE"

    captured = await paypal.capture(charge, 6_000, "USD", "cap-1")
    assert captured.status is ChargeStatus.CAPTURED
    assert (captured.authorized_minor, captured.captured_minor) == (10_000, 6_000)
    # 3.49% of 60.00 is 2.094 -> 2.09, plus the fixed 0.49.
    assert captured.fee_minor == 258

    first = await paypal.refund(captured, 1_000, "USD", "ref-1")
    second = await paypal.refund(captured, 2_500, "USD", "ref-2")
    assert (first.status, second.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert (first.amount_minor, second.amount_minor) == (1_000, 2_500)
    assert first.provider_ref != second.provider_ref

    fetched = await paypal.fetch(captured)
    assert fetched.status is ChargeStatus.CAPTURED
    assert (fetched.captured_minor, fetched.refunded_minor) == (6_000, 3_500)
    state = (await sandbox_server.control.state("paypal"))["payments"][charge.provider_ref]
    assert state["authorization"]["status"] == "CAPTURED"  # the rest was released
    assert (state["captured_minor"], state["refunded_minor"]) == (6_000, 3_500)


async def test_refunding_more_than_is_left_is_invalid(paypal: PayPalProvider) -> None:
    charge = await paypal.authorize(call(capture=True, amount=2_000))
    await paypal.refund(charge, 1_500, "USD", "ref-a")
    with pytest.raises(ProviderError) as caught:
        await paypal.refund(charge, 600, "USD", "ref-b")
    assert caught.value.kind is ErrorKind.INVALID
    assert caught.value.code is DeclineCode.AMOUNT_INVALID
    assert caught.value.raw_code == "REFUND_AMOUNT_EXCEEDED"


async def test_authorize_then_cancel_voids_the_authorization(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await paypal.authorize(call())
    canceled = await paypal.cancel(charge, "void-1")
    assert canceled.status is ChargeStatus.CANCELED
    assert canceled.raw_status == "VOIDED"
    assert (await paypal.fetch(charge)).status is ChargeStatus.CANCELED
    with pytest.raises(ProviderError) as caught:
        await paypal.capture(charge, 100, "USD", "cap-after-void")
    assert caught.value.kind is ErrorKind.INVALID
    assert caught.value.raw_code == "AUTHORIZATION_VOIDED"
    state = await sandbox_server.control.state("paypal")
    assert state["payments"][charge.provider_ref]["captured_minor"] == 0


async def test_automatic_capture_completes_in_one_call(paypal: PayPalProvider) -> None:
    charge = await paypal.authorize(call(capture=True, amount=2_599))
    assert charge.status is ChargeStatus.CAPTURED
    assert (charge.authorized_minor, charge.captured_minor) == (2_599, 2_599)
    assert charge.refs["capture_id"] and "authorization_id" not in charge.refs
    assert charge.fee_minor == 140  # 0.907 -> 0.91, plus 0.49


@pytest.mark.parametrize(
    ("number", "code", "raw_code"),
    [
        ("4000000000000002", DeclineCode.GENERIC_DECLINE, "5100"),
        ("4000000000009995", DeclineCode.INSUFFICIENT_FUNDS, "5120"),
        ("4000000000009987", DeclineCode.LOST_CARD, "9520"),
        ("4000000000009979", DeclineCode.STOLEN_CARD, "5150"),
        ("4000000000000069", DeclineCode.EXPIRED_CARD, "5400"),
        ("4000000000000127", DeclineCode.INCORRECT_CVC, "00N7"),
        ("4000000000000119", DeclineCode.PROCESSING_ERROR, "9100"),
        ("4242424242424241", DeclineCode.INCORRECT_NUMBER, "5180"),
    ],
)
@pytest.mark.parametrize("capture", [False, True])
async def test_each_test_card_declines_with_its_normalized_code(
    paypal: PayPalProvider, number: str, code: DeclineCode, raw_code: str, capture: bool
) -> None:
    charge = await paypal.authorize(call(number=number, capture=capture))
    assert charge.status is ChargeStatus.DECLINED
    assert charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == (code, raw_code)
    assert charge.provider_ref  # PayPal created (and completed) the order
    assert number not in repr(charge)


@pytest.mark.parametrize("number", ["5555555555554444", "4111111111111111", "370000000000002"])
async def test_the_approving_test_cards_authorize(paypal: PayPalProvider, number: str) -> None:
    assert (await paypal.authorize(call(number=number))).status is ChargeStatus.AUTHORIZED


async def test_a_vault_id_pays_without_card_data(paypal: PayPalProvider) -> None:
    charge = await paypal.authorize(call(token="8kk8451t", capture=True))
    assert charge.status is ChargeStatus.CAPTURED


async def test_three_ds_requires_action_until_the_payer_authenticates(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    charge = await paypal.authorize(call(number=THREE_DS))
    assert charge.status is ChargeStatus.REQUIRES_ACTION
    assert charge.action_url.startswith(sandbox_server.config.public_url)
    assert (await paypal.complete_action(charge, "done-1")).status is ChargeStatus.REQUIRES_ACTION

    async with sandbox_server.client() as browser:  # the payer's browser follows the link
        assert (await browser.get(charge.action_url)).status_code == 200
    assert (await paypal.fetch(charge)).status is ChargeStatus.PENDING
    done = await paypal.complete_action(charge, "done-2")
    assert done.status is ChargeStatus.AUTHORIZED
    assert done.authorized_minor == 10_000


async def test_the_same_key_twice_is_one_payment(
    paypal: PayPalProvider, sandbox_server: SandboxHandle
) -> None:
    first = await paypal.authorize(call("same-key", capture=True))
    again = await paypal.authorize(call("same-key", capture=True))
    assert first == again
    state = await sandbox_server.control.state("paypal")
    assert list(state["payments"]) == [first.provider_ref]


async def test_the_same_key_with_another_amount_is_refused(paypal: PayPalProvider) -> None:
    await paypal.authorize(call("reused"))
    with pytest.raises(ProviderError) as caught:
        await paypal.authorize(call("reused", amount=999))
    assert caught.value.kind is ErrorKind.INVALID
    assert caught.value.raw_code == "DUPLICATE_REQUEST_ID"


async def test_wrong_credentials_are_invalid_and_nothing_is_sent(
    sandbox_server: SandboxHandle,
) -> None:
    provider = provider_for(sandbox_server, secret="not-the-secret")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call())
    finally:
        await provider.aclose()
    assert caught.value.kind is ErrorKind.INVALID
    assert caught.value.raw_code == "invalid_client"
    assert caught.value.sent is False
    assert (await sandbox_server.control.state("paypal"))["payments"] == {}


async def test_live_mode_refuses_a_raw_card_before_any_io(sandbox_server: SandboxHandle) -> None:
    provider = provider_for(sandbox_server, sandbox=False)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.authorize(call())
    finally:
        await provider.aclose()
    assert (caught.value.kind, caught.value.sent) == (ErrorKind.INVALID, False)
    assert provider.tokens.fetches == 0
    stats = await sandbox_server.control.stats()
    assert "paypal" not in stats.get("requests", {})


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (1_050, "HUF", DeclineCode.AMOUNT_INVALID),  # PayPal takes no HUF decimals
        (1_000, "INR", DeclineCode.CURRENCY_NOT_SUPPORTED),
        (0, "USD", DeclineCode.AMOUNT_INVALID),
    ],
)
async def test_amounts_paypal_cannot_take_are_refused_before_any_io(
    paypal: PayPalProvider, amount: int, currency: str, code: DeclineCode
) -> None:
    with pytest.raises(ProviderError) as caught:
        await paypal.authorize(call(amount=amount, currency=currency))
    assert (caught.value.kind, caught.value.code, caught.value.sent) == (
        ErrorKind.INVALID,
        code,
        False,
    )
    assert paypal.tokens.fetches == 0


@pytest.mark.parametrize(("amount", "currency"), [(1_000, "HUF"), (500, "JPY"), (1_234, "EUR")])
async def test_paypal_precision_round_trips(
    paypal: PayPalProvider, sandbox_server: SandboxHandle, amount: int, currency: str
) -> None:
    charge = await paypal.authorize(call(amount=amount, currency=currency, capture=True))
    assert charge.captured_minor == amount
    state = (await sandbox_server.control.state("paypal"))["payments"][charge.provider_ref]
    assert state["captured_minor"] == amount
