"""The Currencycloud adapter against the TLS sandbox: rates, conversions, beneficiaries, payouts,
idempotent creates and validation errors as field violations."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    ConversionStatus,
    ConversionTerms,
    FieldViolation,
    FixedSide,
    PaymentType,
    PayoutStatus,
    ProviderNotFound,
    ProviderValidationError,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_currencycloud_adapter_support import (
    EUR_FOR_GBP,
    GB_DETAILS,
    NAME,
    client_for,
    control,
    payout,
    state,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


@pytest.fixture
async def cc(sandbox_server: SandboxHandle) -> AsyncIterator[CurrencycloudClient]:
    client = client_for(sandbox_server)
    yield client
    await client.aclose()


async def test_a_rate_is_quoted_in_minor_units_with_its_digits_kept(
    cc: CurrencycloudClient,
) -> None:
    quote = await cc.get_rate("GBP", "USD", FixedSide.BUY, 1_000_000)
    assert (quote.buy_amount_minor, quote.sell_amount_minor) == (1_000_000, 1_272_200)
    assert (quote.client_rate, quote.mid_market_rate, quote.currency_pair) == (
        "1.2722",
        "1.2658",
        "GBPUSD",
    )
    assert quote.settlement_cut_off is not None


@pytest.mark.parametrize(
    ("buy", "sell", "side", "amount", "expected"),
    [
        ("JPY", "USD", FixedSide.BUY, 10_000, (10_000, 6_647)),
        ("KWD", "USD", FixedSide.BUY, 100_000, (100_000, 32_691)),
        ("JPY", "KWD", FixedSide.SELL, 100_500, (49_169, 100_500)),
    ],
)
async def test_rates_in_zero_and_three_decimal_currencies_are_exact(
    cc: CurrencycloudClient,
    buy: str,
    sell: str,
    side: FixedSide,
    amount: int,
    expected: tuple[int, int],
) -> None:
    quote = await cc.get_rate(buy, sell, side, amount)
    assert (quote.buy_amount_minor, quote.sell_amount_minor) == expected


async def test_a_conversion_is_booked_read_found_and_settles(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    booked = await cc.create_conversion(EUR_FOR_GBP, "req-conv-1")
    assert (booked.status, booked.buy_amount_minor, booked.sell_amount_minor) == (
        ConversionStatus.AWAITING_FUNDS,
        100_000,
        86_300,
    )
    assert booked.unique_request_id == "paymesh-conversion-req-conv-1"
    await control(sandbox_server, f"conversions/{booked.provider_ref}/advance")
    await control(sandbox_server, f"conversions/{booked.provider_ref}/advance")
    settled = await cc.get_conversion(booked.provider_ref)
    assert (settled.status, settled.raw_status) == (ConversionStatus.TRADE_SETTLED, "trade_settled")
    assert (await cc.find_conversion("req-conv-1")) == settled
    assert await cc.find_conversion("req-never-sent") is None


async def test_a_repeated_conversion_request_books_one_conversion(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    first = await cc.create_conversion(EUR_FOR_GBP, "req-twice")
    again = await cc.create_conversion(EUR_FOR_GBP, "req-twice")
    assert again.provider_ref == first.provider_ref
    assert len((await state(sandbox_server))["conversions"]) == 1


async def test_a_request_id_reused_for_other_terms_is_refused(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    await cc.create_conversion(EUR_FOR_GBP, "req-reused")
    other = ConversionTerms("EUR", "GBP", FixedSide.BUY, 200_000)
    with pytest.raises(ProviderValidationError) as caught:
        await cc.create_conversion(other, "req-reused")
    assert (caught.value.kind, caught.value.raw_code) == (
        ErrorKind.INVALID,
        "conversion_create_failed",
    )
    assert [v.field for v in caught.value.violations] == ["request_id"]
    assert len((await state(sandbox_server))["conversions"]) == 1


async def test_a_conversion_refused_for_its_fields_names_them(cc: CurrencycloudClient) -> None:
    with pytest.raises(ProviderValidationError) as caught:
        await cc.create_conversion(ConversionTerms("USD", "XAF", FixedSide.SELL, 5_000), "r")
    assert (caught.value.code, caught.value.violations) == (
        DeclineCode.CURRENCY_NOT_SUPPORTED,
        (FieldViolation("", "ccy_pair_is_not_tradeable", "Given currency pair is not tradeable"),),
    )


async def test_beneficiary_details_are_validated_without_saving(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    view = await cc.validate_beneficiary(GB_DETAILS)
    assert (view.provider_ref, view.details.account_number) == ("", "12345678")
    assert (await state(sandbox_server))["beneficiaries"] == {}


async def test_bad_bank_details_become_field_violations(cc: CurrencycloudClient) -> None:
    bad = BeneficiaryDetails(
        "Muster", "Muster", "DE", "EUR", iban="DE89370400440532013001", bic_swift="NWBKGB2L"
    )
    with pytest.raises(ProviderValidationError) as caught:
        await cc.validate_beneficiary(bad)
    assert caught.value.raw_code == "beneficiary_not_valid"
    assert {field: [v.code for v in vs] for field, vs in caught.value.fields().items()} == {
        "iban": ["iban_is_invalid"],
        "bic_swift": ["bic_swift_is_invalid"],
    }


async def test_a_beneficiary_is_created_once_per_request_and_deleted(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    created = await cc.create_beneficiary(GB_DETAILS, "req-ben-1")
    again = await cc.create_beneficiary(GB_DETAILS, "req-ben-1")
    assert again.provider_ref == created.provider_ref
    assert (await cc.get_beneficiary(created.provider_ref)).details.name == "Acme Ltd"
    assert (await cc.find_beneficiary("req-ben-1")) is not None
    assert len((await state(sandbox_server))["beneficiaries"]) == 1
    deleted = await cc.delete_beneficiary(created.provider_ref)
    assert deleted.provider_ref == created.provider_ref
    with pytest.raises(ProviderNotFound):
        await cc.get_beneficiary(created.provider_ref)


async def test_a_payout_is_sent_tracked_to_completion_with_its_fee(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    sent = await cc.create_payment(payout(beneficiary.provider_ref), "req-pay-1")
    assert (sent.status, sent.amount_minor, sent.fee_amount_minor, sent.fee_currency) == (
        PayoutStatus.PENDING,
        50_000,
        50,
        "GBP",
    )
    assert sent.payment_type is PaymentType.REGULAR
    for expected in (PayoutStatus.SUBMITTED, PayoutStatus.COMPLETED):
        await control(sandbox_server, f"payments/{sent.provider_ref}/advance")
        assert (await cc.get_payment(sent.provider_ref)).status is expected
    assert (await cc.find_payment("req-pay-1")) is not None
    assert await cc.find_payment("req-pay-never") is None


async def test_a_repeated_payout_request_sends_one_payment(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    first = await cc.create_payment(payout(beneficiary.provider_ref), "req-pay")
    again = await cc.create_payment(payout(beneficiary.provider_ref), "req-pay")
    assert again.provider_ref == first.provider_ref
    assert len((await state(sandbox_server))["payments"]) == 1


async def test_a_failing_payout_reports_why(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    sent = await cc.create_payment(payout(beneficiary.provider_ref, reference="SANDBOX_FAIL"), "r")
    await control(sandbox_server, f"payments/{sent.provider_ref}/advance")
    await control(sandbox_server, f"payments/{sent.provider_ref}/advance")
    failed = await cc.get_payment(sent.provider_ref)
    assert (failed.status, bool(failed.failure_reason)) == (PayoutStatus.FAILED, True)


async def test_a_payout_cancels_while_pending_and_not_once_submitted(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    first = await cc.create_payment(payout(beneficiary.provider_ref), "req-a")
    second = await cc.create_payment(payout(beneficiary.provider_ref), "req-b")
    cancelled = await cc.cancel_payment(first.provider_ref)
    assert (cancelled.status, cancelled.raw_status) == (PayoutStatus.CANCELED, "deleted")
    assert (await cc.get_payment(first.provider_ref)).status is PayoutStatus.CANCELED
    await control(sandbox_server, f"payments/{second.provider_ref}/advance")
    with pytest.raises(ProviderValidationError) as caught:
        await cc.cancel_payment(second.provider_ref)
    assert (caught.value.kind, caught.value.raw_code) == (
        ErrorKind.INVALID,
        "payment_delete_failed",
    )


async def test_a_payout_to_an_unknown_beneficiary_is_refused_on_that_field(
    cc: CurrencycloudClient,
) -> None:
    with pytest.raises(ProviderValidationError) as caught:
        await cc.create_payment(payout("5b1f0f3c-0000-4000-8000-000000000000"), "r")
    assert [(v.field, v.code) for v in caught.value.violations] == [
        ("beneficiary_id", "invalid_beneficiary_id")
    ]


async def test_an_unknown_payment_is_not_found(cc: CurrencycloudClient) -> None:
    with pytest.raises(ProviderNotFound):
        await cc.get_payment("5b1f0f3c-0000-4000-8000-000000000000")


async def test_an_id_that_could_change_the_path_is_refused_before_any_request(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    with pytest.raises(ProviderError) as caught:
        await cc.get_payment("../payments/find")
    assert (caught.value.raw_code, caught.value.sent) == ("INVALID_ID", False)
    assert (await state(sandbox_server))["auth"]["logins_succeeded"] == 0


async def test_aclose_retires_the_session(sandbox_server: SandboxHandle) -> None:
    client = client_for(sandbox_server)
    await client.get_rate("EUR", "USD", FixedSide.SELL, 100)
    await client.aclose()
    auth = (await state(sandbox_server))["auth"]
    assert (auth["sessions_closed"], auth["live_tokens"]) == (1, 0)


async def test_every_reply_over_the_wire_carries_x_request_id(
    sandbox_server: SandboxHandle,
) -> None:
    async with sandbox_server.client(NAME) as client:
        response = await client.post("/v2/authenticate/api", data={"login_id": "x"})
    assert response.status_code == 400
    assert response.headers["x-request-id"].isdigit()


async def test_identical_retries_refused_as_duplicates_recover_the_original_object(
    cc: CurrencycloudClient, sandbox_server: SandboxHandle
) -> None:
    # Real Currencycloud may answer even an identical retry with duplicate_request.
    await control(sandbox_server, "idempotency", replay="false")
    booked = await cc.create_conversion(EUR_FOR_GBP, "req-strict")
    beneficiary = await cc.create_beneficiary(GB_DETAILS, "req-ben")
    sent = await cc.create_payment(payout(beneficiary.provider_ref), "req-strict")
    assert (await cc.create_conversion(EUR_FOR_GBP, "req-strict")) == booked
    assert (await cc.create_payment(payout(beneficiary.provider_ref), "req-strict")) == sent
    with pytest.raises(ProviderValidationError):
        await cc.create_payment(payout(beneficiary.provider_ref, amount_minor=1), "req-strict")
    snapshot = await state(sandbox_server)
    assert (len(snapshot["conversions"]), len(snapshot["payments"])) == (1, 1)
