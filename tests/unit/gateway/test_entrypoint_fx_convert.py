"""Requests in for FxService, BeneficiaryService and PayoutService (entrypoints.fx_convert,
beneficiary_convert, payout_convert): protobuf to the use cases' values, enums to the
domain's words, and refusals that name every bad field at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway_svc.domain.beneficiaries import check_new_beneficiary
from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.errors import ValidationFailed
from gateway_svc.domain.fx import check_quote_request
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.payouts import PayoutState
from gateway_svc.entrypoints import beneficiary_convert as bcv
from gateway_svc.entrypoints import fx_convert as fcv
from gateway_svc.entrypoints import payout_convert as pcv
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import beneficiaries_pb2 as bpb
from paymesh.gateway.v1 import fx_pb2 as fpb
from paymesh.gateway.v1 import payouts_pb2 as ppb
from svc_kit.principal import EdgePrincipal

CALLER = EdgePrincipal("mer_1", "KeyId0123456789a", "owner", "test")
IBAN = "DE89370400440532013000"


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return sorted(v.field for v in exc.value.violations)


def _quote(**fields: object) -> fpb.GetQuoteRequest:
    base: dict[str, object] = {
        "buy_currency": "EUR",
        "sell_currency": "GBP",
        "fixed_side": fpb.FIXED_SIDE_SELL,
        "amount": Money(currency_code="GBP", minor_units=10_000),
    }
    return fpb.GetQuoteRequest(**{**base, **fields})  # type: ignore[arg-type]


def test_a_quote_request_is_the_callers_with_the_domains_fixed_side() -> None:
    request = fcv.quote_request(_quote(), "mer_1")

    assert request.merchant_id == "mer_1"
    assert (request.buy_currency, request.sell_currency) == ("EUR", "GBP")
    assert (request.fixed_side, request.amount_minor) == (FixedSide.SELL, 10_000)


@pytest.mark.parametrize(
    ("side", "currency"),
    [(fpb.FIXED_SIDE_SELL, "GBP"), (fpb.FIXED_SIDE_SELL, ""), (fpb.FIXED_SIDE_BUY, "EUR")],
)
def test_the_amount_may_name_the_fixed_sides_currency_or_none(
    side: fpb.FixedSide.ValueType, currency: str
) -> None:
    amount = Money(currency_code=currency, minor_units=500)

    request = fcv.quote_request(_quote(fixed_side=side, amount=amount), "mer_1")

    assert request.amount_minor == 500


def test_an_amount_in_another_currency_is_refused_with_everything_else_wrong() -> None:
    req = _quote(sell_currency="EUR", amount=Money(currency_code="USD", minor_units=-5))

    with pytest.raises(ValidationFailed) as refused:
        fcv.quote_request(req, "mer_1")

    assert _fields(refused) == ["amount.currency_code", "amount.minor_units", "sell_currency"]


@pytest.mark.parametrize("side", [fpb.FIXED_SIDE_UNSPECIFIED, 7])
def test_an_unset_or_unknown_fixed_side_is_the_domains_to_name(side: int) -> None:
    request = fcv.quote_request(_quote(fixed_side=side), "mer_1")

    assert request.fixed_side is None
    with pytest.raises(ValidationFailed) as refused:
        check_quote_request(request)
    assert _fields(refused) == ["fixed_side"]


def test_a_conversion_from_a_quote_carries_no_terms_and_the_key() -> None:
    req = fpb.CreateConversionRequest(quote_id="quo_1")

    cmd = fcv.create_conversion(req, CALLER, "key-1")

    assert (cmd.merchant_id, cmd.actor_key_id, cmd.request_id) == ("mer_1", CALLER.key_id, "key-1")
    assert (cmd.quote_id, cmd.has_terms) == ("quo_1", False)


def test_a_conversion_at_terms_holds_its_amount_to_the_fixed_sides_currency() -> None:
    good = fpb.CreateConversionRequest(
        buy_currency="EUR", sell_currency="GBP", fixed_side=fpb.FIXED_SIDE_BUY,
        amount=Money(minor_units=2_500),
    )  # fmt: skip
    bad = fpb.CreateConversionRequest()
    bad.CopyFrom(good)
    bad.amount.currency_code = "GBP"

    cmd = fcv.create_conversion(good, CALLER, "")
    with pytest.raises(ValidationFailed) as refused:
        fcv.create_conversion(bad, CALLER, "")

    assert (cmd.fixed_side, cmd.amount_minor, cmd.has_terms) == (FixedSide.BUY, 2_500, True)
    assert _fields(refused) == ["amount.currency_code"]


def test_a_quote_id_longer_than_any_of_ours_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        fcv.create_conversion(fpb.CreateConversionRequest(quote_id="q" * 101), CALLER, "")

    assert _fields(refused) == ["quote_id"]


def test_conversions_are_listed_by_status_and_creation_period() -> None:
    start = Timestamp()
    start.FromDatetime(datetime(2025, 3, 1, tzinfo=UTC))
    req = fpb.ListConversionsRequest(
        status=fpb.CONVERSION_STATUS_AWAITING_FUNDS, start_time=start, page_size=5
    )

    query = fcv.list_conversions(req, "mer_1")
    everything = fcv.list_conversions(fpb.ListConversionsRequest(), "mer_1")

    assert query.statuses == frozenset({ConversionState.AWAITING_FUNDS})
    assert (query.created_after, query.created_before) == (datetime(2025, 3, 1, tzinfo=UTC), None)
    assert (everything.statuses, everything.page_size) == (frozenset(), 0)
    with pytest.raises(ValidationFailed):
        fcv.list_conversions(fpb.ListConversionsRequest(status=42), "mer_1")  # type: ignore[arg-type]


def _beneficiary(**fields: object) -> bpb.Beneficiary:
    base: dict[str, object] = {
        "name": "Lieferant",
        "bank_account_holder_name": "Lieferant GmbH",
        "bank_country": "DE",
        "currency": "EUR",
        "iban": IBAN,
    }
    return bpb.Beneficiary(**{**base, **fields})  # type: ignore[arg-type]


def test_a_beneficiary_without_payout_types_is_for_regular_payouts() -> None:
    new = bcv.new_beneficiary(_beneficiary(), "mer_1")

    assert (new.merchant_id, new.payment_types, new.entity_type) == ("mer_1", ("regular",), "")
    assert new.bank_details.iban == IBAN
    assert IBAN not in repr(new)  # the details travel behind a masking repr


def test_unknown_or_unset_enum_values_are_refused_by_the_domain_on_their_field() -> None:
    b = _beneficiary(
        entity_type=9,
        payment_types=[bpb.PAYOUT_TYPE_PRIORITY, bpb.PAYOUT_TYPE_UNSPECIFIED],
        bic_swift="COBADEFF370",
    )

    new = bcv.new_beneficiary(b, "mer_1")
    with pytest.raises(ValidationFailed) as refused:
        check_new_beneficiary(new)

    assert _fields(refused) == ["beneficiary.entity_type", "beneficiary.payment_types"]


def test_beneficiaries_are_listed_by_a_real_currency_only() -> None:
    query = bcv.list_beneficiaries(bpb.ListBeneficiariesRequest(currency="EUR"), "mer_1")

    with pytest.raises(ValidationFailed) as refused:
        bcv.list_beneficiaries(bpb.ListBeneficiariesRequest(currency="eur"), "mer_1")

    assert (query.merchant_id, query.currency) == ("mer_1", "EUR")
    assert _fields(refused) == ["currency"]


@pytest.mark.parametrize(
    ("given", "word"),
    [
        (bpb.PAYOUT_TYPE_UNSPECIFIED, "regular"),
        (bpb.PAYOUT_TYPE_REGULAR, "regular"),
        (bpb.PAYOUT_TYPE_PRIORITY, "priority"),
        (5, bcv.UNKNOWN),
    ],
)
def test_a_payouts_type_defaults_to_regular(given: int, word: str) -> None:
    req = ppb.CreatePayoutRequest(
        beneficiary_id="ben_1",
        amount=Money(currency_code="EUR", minor_units=1_000),
        reason="Invoice 1",
        reference="INV-1",
        payment_type=given,  # type: ignore[arg-type]
    )

    cmd = pcv.create_payout(req, CALLER, "key-1")

    assert cmd.payout.payment_type == word
    assert (cmd.payout.merchant_id, cmd.payout.currency, cmd.request_id) == (
        "mer_1",
        "EUR",
        "key-1",
    )


def test_a_payout_names_its_beneficiary_and_a_cancel_its_payout() -> None:
    with pytest.raises(ValidationFailed) as no_beneficiary:
        pcv.create_payout(ppb.CreatePayoutRequest(), CALLER, "")
    with pytest.raises(ValidationFailed) as no_payout:
        pcv.cancel_payout(ppb.CancelPayoutRequest(), CALLER, "")

    assert _fields(no_beneficiary) == ["beneficiary_id"]
    assert _fields(no_payout) == ["payout_id"]


def test_payouts_are_listed_by_status_and_beneficiary() -> None:
    req = ppb.ListPayoutsRequest(status=ppb.PAYOUT_STATUS_FAILED, beneficiary_id="ben_1")

    query = pcv.list_payouts(req, "mer_1")

    assert query.statuses == frozenset({PayoutState.FAILED})
    assert (query.beneficiary_id, query.created_after) == ("ben_1", None)
