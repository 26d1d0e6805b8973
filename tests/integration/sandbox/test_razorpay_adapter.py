"""The Razorpay adapter against the sandbox's Razorpay simulator, over real TLS.

Covers the money paths (authorize, the refused partial capture, full capture, partial
refunds, automatic capture, the missing void and the lapse that replaces it), every test
card's normalized decline, 3DS, idempotency, credentials and live-mode refusals. Transport
and HTTP faults are in test_razorpay_adapter_faults.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
    ProviderCharge,
    ProviderError,
    RefundStatus,
)
from sandbox.testing import SandboxHandle

VISA = "4242424242424242"
THREE_DS = "4000002500003155"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["razorpay"]


def provider_for(handle: SandboxHandle, **http: Any) -> RazorpayProvider:
    config = handle.config
    http_config = HttpConfig(
        base_url=handle.base_url("razorpay"), ca_file=str(handle.ca_file), **http
    )
    return RazorpayProvider(
        RazorpayConfig(http_config, config.razorpay_key_id, config.razorpay_key_secret)
    )


@pytest.fixture
async def razorpay(sandbox_server: SandboxHandle) -> AsyncIterator[RazorpayProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


def call(
    key: str = "idem-key-0001",
    *,
    number: str = VISA,
    amount: int = 50_000,
    currency: str = "INR",
    capture: bool = False,
    token: str | None = None,
    metadata: dict[str, str] | None = None,
) -> AuthorizeCall:
    method = (
        PaymentMethod(token=token)
        if token is not None
        else PaymentMethod(card=Card(number, 12, 2030, "123"))
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


async def payments_of(sandbox: SandboxHandle) -> dict[str, Any]:
    state = await sandbox.control.state("razorpay")
    payments: dict[str, Any] = state["payments"]
    return payments


async def test_authorize_refused_partial_capture_full_capture_and_two_partial_refunds(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call())
    assert charge.status is ChargeStatus.AUTHORIZED
    assert (charge.authorized_minor, charge.captured_minor) == (50_000, 0)
    assert charge.provider_ref.startswith("pay_") and charge.refs["order_id"].startswith("order_")

    with pytest.raises(ProviderError) as partial:
        await razorpay.capture(charge, 20_000, "INR", "cap-1")
    assert (partial.value.kind, partial.value.sent) == (ErrorKind.INVALID, False)
    assert (await payments_of(sandbox_server))[charge.provider_ref]["status"] == "authorized"

    captured = await razorpay.capture(charge, 50_000, "INR", "cap-2")
    assert captured.status is ChargeStatus.CAPTURED
    assert (captured.captured_minor, captured.fee_minor) == (50_000, 1_180)

    first = await razorpay.refund(captured, 10_000, "INR", "refund-one-0001")
    second = await razorpay.refund(captured, 15_000, "INR", "refund-two-0002")
    assert [first.status, second.status] == [RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED]
    assert first.provider_ref != second.provider_ref
    assert (await razorpay.fetch(captured)).refunded_minor == 25_000
    view = (await payments_of(sandbox_server))[charge.provider_ref]
    assert (view["authorized"], view["captured"], view["refunded"]) == (50_000, 50_000, 25_000)


async def test_refunding_more_than_is_left_is_invalid(razorpay: RazorpayProvider) -> None:
    charge = await razorpay.authorize(call(capture=True))
    await razorpay.refund(charge, 40_000, "INR", "refund-a-0001")
    with pytest.raises(ProviderError) as over:
        await razorpay.refund(charge, 20_000, "INR", "refund-b-0002")
    assert (over.value.kind, over.value.code) == (ErrorKind.INVALID, DeclineCode.AMOUNT_INVALID)
    assert over.value.http_status == 400


async def test_automatic_capture_captures_at_once_and_reports_the_fee(
    razorpay: RazorpayProvider,
) -> None:
    charge = await razorpay.authorize(call(capture=True, amount=12_345))
    assert charge.status is ChargeStatus.CAPTURED
    # 2% of 12345 = 246.9 -> 247, GST 18% of 247 = 44.46 -> 44.
    assert (charge.captured_minor, charge.fee_minor, charge.raw_status) == (12_345, 291, "captured")


async def test_cancel_is_refused_until_razorpay_releases_the_authorization(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call())
    with pytest.raises(ProviderError) as refused:
        await razorpay.cancel(charge, "cancel-1")
    assert (refused.value.kind, refused.value.sent) == (ErrorKind.INVALID, False)
    assert "no void" in refused.value.message

    config = sandbox_server.config
    auth = (config.razorpay_key_id, config.razorpay_key_secret)
    async with sandbox_server.client("razorpay", auth=auth) as client:
        lapsed = await client.post(f"/_sandbox/payments/{charge.provider_ref}/lapse")
    assert lapsed.json()["status"] == "refunded"

    canceled = await razorpay.cancel(charge, "cancel-2")
    assert (canceled.status, canceled.captured_minor) == (ChargeStatus.CANCELED, 0)
    assert (await razorpay.fetch(charge)).status is ChargeStatus.CANCELED


DECLINES = [
    ("4000000000000002", DeclineCode.GENERIC_DECLINE, "card_declined"),
    ("4000000000009995", DeclineCode.INSUFFICIENT_FUNDS, "insufficient_funds"),
    ("4000000000009987", DeclineCode.LOST_CARD, "debit_instrument_blocked"),
    ("4000000000009979", DeclineCode.FRAUD_SUSPECTED, "payment_risk_check_failed"),
    ("4000000000000069", DeclineCode.EXPIRED_CARD, "card_expired"),
    ("4000000000000127", DeclineCode.INCORRECT_CVC, "incorrect_cvv"),
    ("4000000000000119", DeclineCode.PROCESSING_ERROR, "gateway_technical_error"),
    ("4242424242424241", DeclineCode.INCORRECT_NUMBER, "card_number_invalid"),
    ("4100280000090000", DeclineCode.PROCESSING_ERROR, "payment_timed_out"),
    ("4100280000080001", DeclineCode.INSUFFICIENT_FUNDS, "insufficient_funds"),
    ("4100280000070002", DeclineCode.GENERIC_DECLINE, "payment_cancelled"),
    ("5305620000030003", DeclineCode.GENERIC_DECLINE, "card_declined"),
    ("4100280000030006", DeclineCode.GENERIC_DECLINE, "card_disabled_for_online_payments"),
    ("4100280000010008", DeclineCode.INCORRECT_NUMBER, "card_number_invalid"),
    ("5305620000090007", DeclineCode.PROCESSING_ERROR, "gateway_technical_error"),
    ("4100280000000009", DeclineCode.AUTHENTICATION_REQUIRED, "authentication_failed"),
]


@pytest.mark.parametrize(("number", "code", "raw"), DECLINES)
async def test_each_test_card_declines_with_its_normalized_code(
    sandbox_server: SandboxHandle,
    razorpay: RazorpayProvider,
    number: str,
    code: DeclineCode,
    raw: str,
) -> None:
    charge = await razorpay.authorize(call(number=number))
    assert charge.status is ChargeStatus.DECLINED and charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == (code, raw)
    assert number not in charge.decline.message
    view = (await payments_of(sandbox_server))[charge.provider_ref]
    assert (view["status"], view["error_reason"]) == ("failed", raw)
    # Read back, the failed payment normalizes to the same decline.
    fetched = await razorpay.fetch(charge)
    assert fetched.decline == charge.decline


@pytest.mark.parametrize("number", ["5555555555554444", "4100280000001007", "6527658900001005"])
async def test_success_cards_authorize(razorpay: RazorpayProvider, number: str) -> None:
    assert (await razorpay.authorize(call(number=number))).status is ChargeStatus.AUTHORIZED


async def complete_3ds(sandbox: SandboxHandle, charge: ProviderCharge, outcome: str) -> int:
    assert charge.action_url.startswith(sandbox.url + "/razorpay/v1/payments/")
    async with sandbox.client() as browser:
        page = await browser.get(charge.action_url)
        assert page.status_code == 200 and "Success" in page.text
        done = await browser.post(charge.action_url, data={"outcome": outcome})
    return done.status_code


async def test_3ds_card_requires_action_then_authorizes_after_the_bank_page(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call(number=THREE_DS))
    assert (charge.status, charge.raw_status) == (ChargeStatus.REQUIRES_ACTION, "created")
    fetched = await razorpay.fetch(charge)
    assert (fetched.status, fetched.action_url) == (ChargeStatus.REQUIRES_ACTION, charge.action_url)
    assert await complete_3ds(sandbox_server, charge, "success") == 200
    after = await razorpay.fetch(charge)
    assert (after.status, after.authorized_minor) == (ChargeStatus.AUTHORIZED, 50_000)


async def test_failed_3ds_declines_as_authentication_required(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call(number=THREE_DS))
    assert await complete_3ds(sandbox_server, charge, "failure") == 400
    after = await razorpay.fetch(charge)
    assert after.status is ChargeStatus.DECLINED and after.decline is not None
    assert after.decline.code is DeclineCode.AUTHENTICATION_REQUIRED


async def test_the_same_key_twice_gives_the_same_payment_and_creates_one(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    first = await razorpay.authorize(call("same-key-0001"))
    again = await razorpay.authorize(call("same-key-0001"))
    assert again.provider_ref == first.provider_ref and again.status is ChargeStatus.AUTHORIZED
    declined = await razorpay.authorize(call("same-key-0002", number="4000000000000002"))
    replayed = await razorpay.authorize(call("same-key-0002", number="4000000000000002"))
    assert replayed.provider_ref == declined.provider_ref
    assert replayed.status is ChargeStatus.DECLINED
    state = await sandbox_server.control.state("razorpay")
    assert len(state["payments"]) == 2 and len(state["orders"]) == 2


async def test_a_key_reused_for_another_amount_is_invalid(razorpay: RazorpayProvider) -> None:
    await razorpay.authorize(call("reused-key-01"))
    with pytest.raises(ProviderError) as reused:
        await razorpay.authorize(call("reused-key-01", amount=60_000))
    assert reused.value.kind is ErrorKind.INVALID


async def test_repeated_capture_and_refund_act_once(
    sandbox_server: SandboxHandle, razorpay: RazorpayProvider
) -> None:
    charge = await razorpay.authorize(call())
    first = await razorpay.capture(charge, 50_000, "INR", "cap-key")
    again = await razorpay.capture(charge, 50_000, "INR", "cap-key")
    assert again.status is ChargeStatus.CAPTURED and again.captured_minor == first.captured_minor
    refund = await razorpay.refund(first, 5_000, "INR", "refund-key-001")
    repeat = await razorpay.refund(first, 5_000, "INR", "refund-key-001")
    assert repeat.provider_ref == refund.provider_ref
    assert (await payments_of(sandbox_server))[charge.provider_ref]["refunded"] == 5_000


async def test_lookup_finds_what_authorize_made_and_nothing_for_an_unsent_key(
    razorpay: RazorpayProvider,
) -> None:
    assert await razorpay.lookup(call("never-sent-01")) is None
    made = await razorpay.authorize(call("looked-up-01"))
    found = await razorpay.lookup(call("looked-up-01"))
    assert found is not None and found.provider_ref == made.provider_ref


async def test_wrong_credentials_are_invalid(sandbox_server: SandboxHandle) -> None:
    http_config = HttpConfig(
        base_url=sandbox_server.base_url("razorpay"), ca_file=str(sandbox_server.ca_file)
    )
    secret = "not-the-sandbox-secret"
    provider = RazorpayProvider(RazorpayConfig(http_config, "rzp_test_paymesh", secret))
    try:
        with pytest.raises(ProviderError) as denied:
            await provider.authorize(call())
    finally:
        await provider.aclose()
    assert (denied.value.kind, denied.value.http_status) == (ErrorKind.INVALID, 401)
    assert secret not in str(denied.value) and secret not in repr(denied.value)
    assert secret not in repr(RazorpayConfig(http_config, "rzp_test_paymesh", secret))


async def test_live_mode_refuses_a_raw_card_before_any_request(
    sandbox_server: SandboxHandle,
) -> None:
    live = provider_for(sandbox_server, sandbox=False)
    try:
        with pytest.raises(ProviderError) as refused:
            await live.authorize(call())
    finally:
        await live.aclose()
    assert (refused.value.kind, refused.value.sent) == (ErrorKind.INVALID, False)
    assert VISA not in str(refused.value)
    stats = await sandbox_server.control.stats()
    assert "razorpay" not in str(stats), stats


async def test_a_saved_card_token_needs_a_customer_and_then_authorizes(
    razorpay: RazorpayProvider,
) -> None:
    with pytest.raises(ProviderError) as missing:
        await razorpay.authorize(call(token="token_Abc123"))
    assert (missing.value.kind, missing.value.sent) == (ErrorKind.INVALID, False)
    with pytest.raises(ProviderError):
        await razorpay.authorize(call(token="pm_card_visa"))
    charge = await razorpay.authorize(
        call(token="token_Abc123", metadata={"razorpay_customer_id": "cust_K6fNE0WJZWGqtN"})
    )
    assert charge.status is ChargeStatus.AUTHORIZED


async def test_amounts_razorpay_cannot_take_are_refused_before_any_request(
    razorpay: RazorpayProvider,
) -> None:
    with pytest.raises(ProviderError) as kwd:
        await razorpay.authorize(call(amount=99_991, currency="KWD"))
    assert (kwd.value.code, kwd.value.sent) == (DeclineCode.AMOUNT_INVALID, False)
    with pytest.raises(ProviderError) as unknown:
        await razorpay.authorize(call(currency="XYZ"))
    assert unknown.value.code is DeclineCode.CURRENCY_NOT_SUPPORTED


async def test_an_amount_below_razorpays_minimum_is_invalid_with_its_field(
    razorpay: RazorpayProvider,
) -> None:
    with pytest.raises(ProviderError) as small:
        await razorpay.authorize(call(amount=50))
    assert (small.value.kind, small.value.code) == (ErrorKind.INVALID, DeclineCode.AMOUNT_INVALID)
    assert small.value.raw_code == "input_validation_failed"
