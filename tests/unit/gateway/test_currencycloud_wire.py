"""Currencycloud's amounts, statuses and objects in the gateway's terms (no I/O).

The objects below are replies recorded from Currencycloud's demo API (the official SDKs'
test cassettes), so the parsers are checked against the real shapes, not our simulator's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway_svc.adapters.providers.currencycloud_money import to_amount, to_minor
from gateway_svc.adapters.providers.currencycloud_wire import (
    CONVERSION_STATUSES,
    PAYOUT_STATUSES,
    REQUEST_ID_MAX_LEN,
    beneficiary_form,
    beneficiary_view,
    conversion_view,
    payout_view,
    provider_request_id,
    rate_quote,
)
from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    ConversionStatus,
    FixedSide,
    PaymentType,
    PayoutStatus,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

RECORDED_RATE: dict[str, Any] = {
    "settlement_cut_off_time": "2017-05-16T13:00:00Z",
    "currency_pair": "GBPUSD",
    "client_buy_currency": "GBP",
    "client_sell_currency": "USD",
    "client_buy_amount": "10000.00",
    "client_sell_amount": "14089.00",
    "fixed_side": "buy",
    "mid_market_rate": "1.4086",
    "client_rate": "1.4089",
    "partner_rate": None,
    "core_rate": "1.4089",
    "deposit_required": False,
    "deposit_amount": "0.0",
    "deposit_currency": "USD",
}
RECORDED_CONVERSION: dict[str, Any] = {
    "id": "a26ffc86-c0f6-45d8-8c1c-6a3e579ce974",
    "settlement_date": "2017-05-17T13:00:00+00:00",
    "conversion_date": "2017-05-17T00:00:00+00:00",
    "short_reference": "20170515-QHBCNR",
    "currency_pair": "EURGBP",
    "status": "awaiting_funds",
    "buy_currency": "EUR",
    "sell_currency": "GBP",
    "client_buy_amount": "1000.00",
    "client_sell_amount": "805.90",
    "fixed_side": "buy",
    "mid_market_rate": "0.8056",
    "core_rate": "0.8059",
    "client_rate": "0.8059",
    "deposit_required": False,
    "unique_request_id": None,
    "created_at": "2017-05-15T10:34:26+00:00",
    "updated_at": "2017-05-15T10:34:27+00:00",
}
RECORDED_PAYMENT: dict[str, Any] = {
    "id": "80bb87ac-7153-4aa8-8299-5a97bc9584d0",
    "amount": "1000.00",
    "beneficiary_id": "a0bd2d78-3621-4c29-932f-a39d6b34d5e7",
    "currency": "GBP",
    "reference": "Testing payments",
    "reason": "Testing payments",
    "status": "ready_to_send",
    "payment_type": "regular",
    "payment_date": "2017-05-15",
    "transferred_at": "",
    "short_reference": "170515-GCFDDF001",
    "conversion_id": None,
    "failure_reason": "",
    "created_at": "2017-05-15T10:49:51+00:00",
    "updated_at": "2017-05-15T10:49:51+00:00",
    "unique_request_id": None,
}
RECORDED_BENEFICIARY: dict[str, Any] = {
    "id": "a0bd2d78-3621-4c29-932f-a39d6b34d5e7",
    "bank_account_holder_name": "Test User",
    "name": "Test User",
    "email": None,
    "payment_types": ["regular"],
    "beneficiary_address": [],
    "beneficiary_country": None,
    "beneficiary_entity_type": None,
    "bank_country": "GB",
    "bank_name": "TEST BANK NAME",
    "currency": "GBP",
    "account_number": "12345678",
    "routing_code_type_1": "sort_code",
    "routing_code_value_1": "123456",
    "routing_code_type_2": None,
    "routing_code_value_2": None,
    "bic_swift": None,
    "iban": None,
    "default_beneficiary": "false",
    "created_at": "2017-05-15T10:04:21+00:00",
}


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1050, "USD", "10.50"),
        (5, "USD", "0.05"),
        (500, "JPY", "500"),
        (1234, "KWD", "1.234"),
        (1, "BHD", "0.001"),
        (100_000_000, "GBP", "1000000.00"),
    ],
)
def test_minor_units_and_currencycloud_amounts_round_trip(
    minor: int, currency: str, text: str
) -> None:
    assert to_amount(minor, currency) == text
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("10000.00", "JPY", 10000), ("0.0", "USD", 0), ("805.9", "GBP", 80590), ("7", "KWD", 7000)],
)
def test_trailing_zeros_and_short_fractions_are_read(text: str, currency: str, minor: int) -> None:
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [("10.5", "JPY"), ("1.2345", "KWD"), ("1e3", "USD"), (12.5, "USD"), (None, "USD"), ("", "EUR")],
)
def test_an_amount_that_cannot_be_read_exactly_is_unknown(value: object, currency: str) -> None:
    with pytest.raises(ProviderError) as caught:
        to_minor(value, currency)
    assert (caught.value.kind, caught.value.raw_code) == (ErrorKind.UNKNOWN, "UNREADABLE_REPLY")


@pytest.mark.parametrize(
    ("minor", "currency", "code"),
    [
        (0, "USD", DeclineCode.AMOUNT_INVALID),
        (-5, "USD", DeclineCode.AMOUNT_INVALID),
        (100, "XXY", DeclineCode.CURRENCY_NOT_SUPPORTED),
    ],
)
def test_amounts_we_cannot_send_are_refused_before_any_io(
    minor: int, currency: str, code: DeclineCode
) -> None:
    with pytest.raises(ProviderError) as caught:
        to_amount(minor, currency)
    assert (caught.value.kind, caught.value.code, caught.value.sent) == (
        ErrorKind.INVALID,
        code,
        False,
    )


def test_a_recorded_detailed_rate_parses_with_its_rate_digits_kept() -> None:
    quote = rate_quote(RECORDED_RATE)
    assert (quote.buy_amount_minor, quote.sell_amount_minor) == (1_000_000, 1_408_900)
    assert (quote.client_rate, quote.mid_market_rate, quote.currency_pair) == (
        "1.4089",
        "1.4086",
        "GBPUSD",
    )
    assert quote.fixed_side is FixedSide.BUY
    assert quote.settlement_cut_off == datetime(2017, 5, 16, 13, tzinfo=UTC)
    assert (quote.deposit_required, quote.deposit_amount_minor) == (False, 0)
    assert str(quote.client_rate_decimal * 10000) == "14089.0000"


@pytest.mark.parametrize("flag", [True, "true", "TRUE"])
def test_deposit_required_is_read_as_a_boolean_or_a_string(flag: object) -> None:
    assert rate_quote({**RECORDED_RATE, "deposit_required": flag}).deposit_required is True


def test_a_rate_that_is_not_a_decimal_string_is_unknown() -> None:
    with pytest.raises(ProviderError) as caught:
        rate_quote({**RECORDED_RATE, "client_rate": "1.4.0"})
    assert caught.value.kind is ErrorKind.UNKNOWN


def test_a_recorded_conversion_parses() -> None:
    view = conversion_view(RECORDED_CONVERSION)
    assert view.status is ConversionStatus.AWAITING_FUNDS
    assert (view.buy_amount_minor, view.sell_amount_minor) == (100_000, 80_590)
    assert (view.provider_ref, view.short_reference) == (
        "a26ffc86-c0f6-45d8-8c1c-6a3e579ce974",
        "20170515-QHBCNR",
    )
    assert view.unique_request_id == ""
    assert view.settlement_date == datetime(2017, 5, 17, 13, tzinfo=UTC)


def test_a_recorded_payment_parses_as_a_pending_payout() -> None:
    view = payout_view(RECORDED_PAYMENT)
    assert (view.status, view.raw_status, view.amount_minor) == (
        PayoutStatus.PENDING,
        "ready_to_send",
        100_000,
    )
    assert (view.payment_type, view.fee_amount_minor, view.conversion_id) == (
        PaymentType.REGULAR,
        None,
        "",
    )
    assert view.cancelable is True


def test_a_payment_fee_is_read_in_its_own_currency() -> None:
    view = payout_view({**RECORDED_PAYMENT, "fee_amount": "2.500", "fee_currency": "KWD"})
    assert (view.fee_amount_minor, view.fee_currency) == (2500, "KWD")


@pytest.mark.parametrize(("word", "status"), sorted(PAYOUT_STATUSES.items()))
def test_every_currencycloud_payment_status_maps(word: str, status: PayoutStatus) -> None:
    view = payout_view({**RECORDED_PAYMENT, "status": word})
    assert (view.status, view.raw_status, view.cancelable) == (
        status,
        word,
        status is PayoutStatus.PENDING,
    )


@pytest.mark.parametrize(("word", "status"), sorted(CONVERSION_STATUSES.items()))
def test_every_currencycloud_conversion_status_maps(word: str, status: ConversionStatus) -> None:
    assert conversion_view({**RECORDED_CONVERSION, "status": word}).status is status


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (payout_view, {**RECORDED_PAYMENT, "status": "teleported"}),
        (conversion_view, {**RECORDED_CONVERSION, "status": "teleported"}),
        (payout_view, {**RECORDED_PAYMENT, "payment_type": "pigeon"}),
        (conversion_view, {**RECORDED_CONVERSION, "fixed_side": "both"}),
    ],
)
def test_an_unknown_status_word_is_unknown_never_final(parse: Any, body: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as caught:
        parse(body)
    assert caught.value.kind is ErrorKind.UNKNOWN


def test_a_recorded_beneficiary_parses_and_its_repr_masks_the_account() -> None:
    view = beneficiary_view(RECORDED_BENEFICIARY)
    assert view.provider_ref == "a0bd2d78-3621-4c29-932f-a39d6b34d5e7"
    assert (view.details.account_number, view.details.routing_code_value_1) == (
        "12345678",
        "123456",
    )
    assert (view.details.iban, view.details.beneficiary_address) == ("", "")
    assert view.payment_types == (PaymentType.REGULAR,)
    assert "12345678" not in repr(view)
    assert "...5678" in repr(view)


def test_the_beneficiary_form_sends_what_was_given_and_repeats_payment_types() -> None:
    details = BeneficiaryDetails(
        "Acme",
        "Acme Ltd",
        "DE",
        "EUR",
        iban="DE89370400440532013000",
        bic_swift="COBADEFF370",
        beneficiary_address="1 Main St",
        payment_types=(PaymentType.PRIORITY, PaymentType.REGULAR),
    )
    assert beneficiary_form(details, "paymesh-beneficiary-r1") == [
        ("name", "Acme"),
        ("bank_account_holder_name", "Acme Ltd"),
        ("bank_country", "DE"),
        ("currency", "EUR"),
        ("iban", "DE89370400440532013000"),
        ("bic_swift", "COBADEFF370"),
        ("beneficiary_address", "1 Main St"),
        ("payment_types[]", "priority"),
        ("payment_types[]", "regular"),
        ("beneficiary_external_reference", "paymesh-beneficiary-r1"),
    ]


@pytest.mark.parametrize("request_id", ["r-1", "x" * 200, "ключ-идемпотентности", "with\nnewline"])
def test_request_ids_are_deterministic_bounded_and_printable(request_id: str) -> None:
    first = provider_request_id("payment", request_id)
    assert first == provider_request_id("payment", request_id)
    assert first != provider_request_id("conversion", request_id)
    assert len(first) <= REQUEST_ID_MAX_LEN
    assert first.isascii() and first.isprintable()
    assert first.startswith("paymesh-payment-")


def test_a_short_request_id_stays_readable() -> None:
    assert provider_request_id("conversion", "req_42") == "paymesh-conversion-req_42"
