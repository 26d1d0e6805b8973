"""Results out for FxService, BeneficiaryService and PayoutService (entrypoints.fx_views,
beneficiary_views, payout_views): amounts as Money in their own currency, rates as exact
strings, histories with times, bank details masked, and keyed answers rendered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.rpc import error_details_pb2, status_pb2

from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import Beneficiary, NewBeneficiary, open_beneficiary
from gateway_svc.domain.conversions import open_conversion
from gateway_svc.domain.errors import InsufficientFunds
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import FixedSide, PaymentType, PayoutStatus, PayoutView
from gateway_svc.domain.payouts import NewPayout, open_payout
from gateway_svc.entrypoints import beneficiary_views, fx_views, payout_views
from gateway_svc.entrypoints.fx_common import renderer
from gateway_svc.service_layer.fx_commands import BeneficiaryCheck, CurrencyBalance
from paymesh.gateway.v1 import beneficiaries_pb2 as bpb
from paymesh.gateway.v1 import fx_pb2 as fpb
from paymesh.gateway.v1 import payouts_pb2 as ppb

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IBAN = "DE89370400440532013000"
QUOTE = Quote(
    id="quo_1",
    merchant_id="mer_1",
    buy_currency="JPY",
    sell_currency="GBP",
    fixed_side=FixedSide.SELL,
    buy_amount_minor=19_139,
    sell_amount_minor=10_000,
    client_rate="191.3924",
    provider_rate="191.3924",
    mid_market_rate="191.3924",
    currency_pair="GBPJPY",
    markup_bps=0,
    created_at=T0,
    expires_at=T0 + timedelta(seconds=30),
)


def _beneficiary(**bank: str) -> Beneficiary:
    request = NewBeneficiary(
        merchant_id="mer_1",
        name="Lieferant",
        bank_account_holder_name="Lieferant GmbH",
        bank_country=bank.pop("country", "DE"),
        currency=bank.pop("currency", "EUR"),
        bank_details=BankDetailsInput(**bank),
    )
    b = open_beneficiary(request, "ben_1", T0)
    b.bind("cc_ben_1", "Commerzbank")
    return b


def test_a_quote_shows_each_amount_in_its_own_currency_and_the_exact_rate() -> None:
    q = fx_views.quote(QUOTE)

    assert (q.buy_amount.currency_code, q.buy_amount.minor_units) == ("JPY", 19_139)
    assert (q.sell_amount.currency_code, q.sell_amount.minor_units) == ("GBP", 10_000)
    assert (q.client_rate, q.currency_pair, q.fixed_side) == (
        "191.3924",
        "GBPJPY",
        fpb.FIXED_SIDE_SELL,
    )
    assert q.expire_time.ToDatetime(tzinfo=UTC) - q.create_time.ToDatetime(tzinfo=UTC) == (
        timedelta(seconds=30)
    )


def test_a_conversions_history_starts_unspecified_and_a_reason_only_shows_on_failure() -> None:
    c = open_conversion("cnv_1", QUOTE, T0)
    pending = fx_views.conversion(c)
    c.fail("the provider refused the trade", T0 + timedelta(seconds=1))
    failed = fx_views.conversion(c)

    first = pending.history[0]
    assert (first.from_status, first.to_status, first.reason) == (
        fpb.CONVERSION_STATUS_UNSPECIFIED,
        fpb.CONVERSION_STATUS_PENDING,
        "created",
    )
    assert (pending.status, pending.failure_reason) == (fpb.CONVERSION_STATUS_PENDING, "")
    assert (failed.status, failed.failure_reason) == (
        fpb.CONVERSION_STATUS_FAILED,
        "the provider refused the trade",
    )
    assert [h.transition_time.ToDatetime(tzinfo=UTC) for h in failed.history] == [
        T0,
        T0 + timedelta(seconds=1),
    ]


def test_a_beneficiary_never_shows_its_iban_or_account_number() -> None:
    out = beneficiary_views.beneficiary(_beneficiary(iban=IBAN, bic_swift="cobadeff370"))

    wire = out.SerializeToString()
    assert IBAN.encode() not in wire and b"0532013000" not in wire
    assert (out.iban, out.account_number, out.masked_account) == ("", "", "...3000")
    assert (out.bic_swift, out.bank_name, out.provider_reference) == (
        "COBADEFF370",
        "Commerzbank",
        "cc_ben_1",
    )
    assert list(out.payment_types) == [bpb.PAYOUT_TYPE_REGULAR]


def test_a_clabe_carries_the_account_so_it_is_masked_like_one() -> None:
    clabe = "002010077777777771"
    out = beneficiary_views.beneficiary(
        _beneficiary(country="MX", currency="MXN", routing_code_type="clabe",
                     routing_code_value=clabe)
    )  # fmt: skip

    assert (out.routing_code_type, out.routing_code_value) == ("clabe", "...7771")
    assert clabe.encode() not in out.SerializeToString()


def test_a_checked_beneficiary_has_no_id_and_no_creation_time() -> None:
    request = NewBeneficiary("mer_1", "Acme", "Acme Ltd", "GB", "GBP",
                             BankDetailsInput(account_number="31926819",
                                              routing_code_type="sort_code",
                                              routing_code_value="40-47-84"))  # fmt: skip
    b = open_beneficiary(request, "", T0)

    out = beneficiary_views.checked(BeneficiaryCheck(b, "Barclays")).beneficiary

    assert (out.id, out.HasField("create_time"), out.bank_name) == ("", False, "Barclays")
    assert (out.routing_code_type, out.routing_code_value) == ("sort_code", "404784")


def _completed_view(fee: int | None) -> PayoutView:
    return PayoutView(
        "cc_pay_1", PayoutStatus.COMPLETED, "completed", "EUR", 50_000, "cc_ben_1",
        "INV-42", "invoice 42", PaymentType.REGULAR, fee_amount_minor=fee, fee_currency="EUR",
    )  # fmt: skip


def test_a_payouts_fee_shows_only_once_the_provider_charged_one() -> None:
    new = NewPayout("mer_1", "ben_1", 50_000, "EUR", "invoice 42", "INV-42")
    charged = open_payout(new, _beneficiary(iban=IBAN), "po_1", T0)
    free = open_payout(new, _beneficiary(iban=IBAN), "po_2", T0)
    pending = payout_views.payout(charged)
    charged.apply_provider_view(_completed_view(50), T0 + timedelta(seconds=9))
    free.apply_provider_view(_completed_view(None), T0 + timedelta(seconds=9))

    done, no_fee = payout_views.payout(charged), payout_views.payout(free)

    assert not pending.HasField("fee") and not no_fee.HasField("fee")
    assert (done.fee.currency_code, done.fee.minor_units) == ("EUR", 50)
    assert [h.to_status for h in done.history] == [
        ppb.PAYOUT_STATUS_PENDING,
        ppb.PAYOUT_STATUS_COMPLETED,
    ]
    assert (done.amount.minor_units, done.payment_type) == (50_000, bpb.PAYOUT_TYPE_REGULAR)


def test_a_balance_is_three_amounts_in_its_currency() -> None:
    out = payout_views.balance(CurrencyBalance("KWD", 1_500, 1_250, 1_250))

    assert out.currency_code == "KWD"
    assert {out.available.currency_code, out.posted.currency_code} == {"KWD"}
    assert (out.posted.minor_units, out.available.minor_units, out.pending.minor_units) == (
        1_500,
        1_250,
        1_250,
    )


def test_a_keyed_answer_is_rendered_once_as_bytes_or_as_its_stored_status() -> None:
    render = renderer(fx_views.create_response)
    c = open_conversion("cnv_1", QUOTE, T0)

    ok = render(c)
    refused = render(InsufficientFunds("beyond the balance", metadata={"currency": "GBP"}))

    assert ok.status_code == 0
    assert fpb.CreateConversionResponse.FromString(ok.body).conversion.id == "cnv_1"
    assert refused.status_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    status = status_pb2.Status.FromString(refused.body)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.metadata["currency"]) == ("INSUFFICIENT_FUNDS", "GBP")
