"""What a conversion or payout becomes after its hold and provider call, which error a stored
state answers, and the small pure helpers of the FX use cases. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import NewBeneficiary, check_new_beneficiary, open_beneficiary
from gateway_svc.domain.conversions import Conversion, ConversionState, open_conversion
from gateway_svc.domain.errors import InsufficientFunds, ProviderUnavailable, ValidationFailed
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import (
    ConversionStatus,
    ConversionView,
    FieldViolation,
    FixedSide,
    PaymentType,
    PayoutStatus,
    PayoutView,
    ProviderValidationError,
)
from gateway_svc.domain.payouts import NewPayout, Payout, PayoutState, open_payout
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from gateway_svc.service_layer.beneficiary_flow import (
    PROVIDER_FIELDS,
    beneficiary_fingerprint,
    provider_details,
)
from gateway_svc.service_layer.fx_calls import FxStep, FxTried, provider_violations
from gateway_svc.service_layer.fx_commands import CreateConversion
from gateway_svc.service_layer.fx_conversions import (
    check_create,
    conversion_error,
    settle_conversion,
)
from gateway_svc.service_layer.fx_effects import PollPolicy
from gateway_svc.service_layer.fx_holds import (
    FailureCode,
    HoldDenied,
    HoldRefused,
    failure,
    failure_code,
    failure_error,
)
from gateway_svc.service_layer.payout_flow import payout_error, settle_payout

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
QUOTE = Quote("quo_1", "m_1", "EUR", "GBP", FixedSide.BUY, 100_000, 86_000, "0.86", "0.86",
              "0.8587", "EURGBP", 0, T0, T0 + timedelta(seconds=30), "cnv_1")  # fmt: skip
REFUSAL = ProviderError(ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, "no such pair")
OUTAGE = ProviderError(ErrorKind.RETRIABLE, DeclineCode.PROVIDER_UNAVAILABLE, "503", sent=False)


def conversion() -> Conversion:
    return open_conversion("cnv_1", QUOTE, T0)


def booked_view() -> ConversionView:
    status = ConversionStatus.AWAITING_FUNDS
    return ConversionView("prov_1", status, "awaiting_funds", "EUR", "GBP", FixedSide.BUY,
                          100_000, 85_990, "0.8599", "0.8587", "EURGBP")  # fmt: skip


def payout() -> Payout:
    details = BankDetailsInput(account_number="31926819", routing_code_type="sort_code",
                               routing_code_value="404784")  # fmt: skip
    request = NewBeneficiary("m_1", "Acme", "Acme Ltd", "GB", "GBP", details)
    b = open_beneficiary(request, "ben_1", T0)
    b.bind("prov_ben_1")
    return open_payout(NewPayout("m_1", "ben_1", 5_000, "GBP", "Invoice", "INV-1"), b, "po_1", T0)


def test_a_booked_conversion_moves_on_and_is_answered_itself() -> None:
    c = conversion()
    [change] = settle_conversion(c, FxTried(FxStep.DONE, value=booked_view()), T1)
    assert (change.from_status, change.to_status) == (ConversionState.PENDING,
                                                      ConversionState.AWAITING_FUNDS)  # fmt: skip
    assert (c.provider_ref, c.provider_sell_amount_minor) == ("prov_1", 85_990)
    assert conversion_error(c) is None


@pytest.mark.parametrize(
    ("outcome", "code", "error"),
    [
        (HoldDenied(FailureCode.INSUFFICIENT_FUNDS, "over"), "INSUFFICIENT_FUNDS",
         InsufficientFunds),
        (HoldDenied(FailureCode.HOLD_REFUSED, "closed"), "HOLD_REFUSED", HoldRefused),
        (FxTried(FxStep.UNAVAILABLE, error=OUTAGE), "PROVIDER_UNAVAILABLE", ProviderUnavailable),
        (FxTried(FxStep.REFUSED, error=REFUSAL), "PROVIDER_REJECTED", type(None)),
    ],
)  # fmt: skip
def test_a_conversion_that_never_booked_fails_and_its_state_says_what_to_answer(
    outcome: HoldDenied | FxTried[ConversionView], code: str, error: type
) -> None:
    c = conversion()
    [change] = settle_conversion(c, outcome, T1)
    assert change.to_status is ConversionState.FAILED
    assert failure_code(c.failure_reason).value == code
    assert isinstance(conversion_error(c), error)


def test_an_unanswered_call_leaves_the_conversion_pending_for_the_poller() -> None:
    c = conversion()
    lost = ProviderError(ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME, "timeout")
    assert settle_conversion(c, FxTried(FxStep.UNKNOWN, error=lost), T1) == []
    assert settle_conversion(c, None, T1) == []
    assert c.status is ConversionState.PENDING


def test_a_payout_the_provider_accepted_learns_its_id_without_a_change_of_status() -> None:
    p = payout()
    accepted = PayoutView("prov_po_1", PayoutStatus.PENDING, "ready_to_send", "GBP", 5_000,
                          "prov_ben_1", "INV-1", "Invoice", PaymentType.REGULAR)  # fmt: skip
    assert settle_payout(p, FxTried(FxStep.DONE, value=accepted), T1) == []
    assert (p.status, p.provider_ref, payout_error(p)) == (PayoutState.PENDING, "prov_po_1", None)


def test_a_payout_refused_before_the_provider_has_it_answers_its_error() -> None:
    p = payout()
    settle_payout(p, HoldDenied(FailureCode.INSUFFICIENT_FUNDS, "LIMIT_EXCEEDED"), T1)
    assert p.status is PayoutState.FAILED
    error = payout_error(p)
    assert isinstance(error, InsufficientFunds) and error.metadata["payout_id"] == "po_1"


def test_failure_reasons_carry_their_code_and_unknown_words_are_the_providers() -> None:
    assert failure(FailureCode.HOLD_REFUSED, "x" * 600).startswith("HOLD_REFUSED: x")
    assert len(failure(FailureCode.HOLD_REFUSED, "x" * 600)) == 500
    assert failure_code("Sandbox: the bank rejected it") is FailureCode.PROVIDER_FAILED
    assert failure_error("closed by the provider (closed)", {}) is None


def test_polls_start_after_five_seconds_and_back_off_to_every_fifteen_minutes() -> None:
    policy = PollPolicy()
    assert [policy.delay_s(n) for n in (0, 1, 2, 8, 60)] == [5.0, 10.0, 20.0, 900.0, 900.0]
    assert policy.next_at(T0, 0) == T0 + timedelta(seconds=5)
    with pytest.raises(ValueError, match="first_s"):
        PollPolicy(first_s=10, cap_s=5)


def test_a_conversion_takes_a_quote_id_or_explicit_terms_never_both() -> None:
    check_create(CreateConversion("m_1", "k", "r-1", quote_id="quo_1"))
    check_create(CreateConversion("m_1", "k", "", buy_currency="EUR", sell_currency="GBP",
                                  fixed_side=FixedSide.SELL, amount_minor=1))  # fmt: skip
    with pytest.raises(ValidationFailed) as both:
        check_create(CreateConversion("m_1", "k", "r-1", quote_id="q", amount_minor=5))
    with pytest.raises(ValidationFailed) as bad_key:
        check_create(CreateConversion("m_1", "k", "has space", quote_id="quo_1"))
    assert [v.field for v in both.value.violations] == ["quote_id"]
    assert [v.field for v in bad_key.value.violations] == ["request_id"]


def test_the_providers_field_reasons_become_ours_under_the_prefix() -> None:
    error = ProviderValidationError(
        ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, "refused",
        (FieldViolation("routing_code_value_1", "sort_code_invalid", "Sort code is invalid"),
         FieldViolation("routing_code_value_1", "other", "second reason, same field"),
         FieldViolation("", "base", "Whole request refused")),
    )  # fmt: skip
    found = provider_violations(error, "beneficiary", PROVIDER_FIELDS)
    assert [(v.field, v.description) for v in found] == [
        ("beneficiary.routing_code_value", "Sort code is invalid (FX provider: sort_code_invalid)"),
        ("beneficiary", "Whole request refused (FX provider: base)"),
    ]
    assert [v.field for v in provider_violations(REFUSAL, "beneficiary")] == ["beneficiary"]


def _new(
    account: str, name: str = "Acme", holder: str = "Acme Ltd", entity_type: str = ""
) -> NewBeneficiary:
    details = BankDetailsInput(account_number=account, routing_code_type="sort_code",
                               routing_code_value="404784")  # fmt: skip
    return NewBeneficiary("m_1", name, holder, "GB", "GBP", details, entity_type)


def test_a_beneficiarys_fingerprint_holds_the_account_as_its_last_four_only() -> None:
    one, other = _new("31926819"), _new("11116819")
    print_one = beneficiary_fingerprint(one, check_new_beneficiary(one)[0])
    print_other = beneficiary_fingerprint(other, check_new_beneficiary(other)[0])
    renamed = _new("31926819", name="Acme Two")
    assert print_one == print_other  # the middle digits are not recoverable from it
    assert print_one != beneficiary_fingerprint(renamed, check_new_beneficiary(renamed)[0])


def test_the_provider_gets_the_holder_as_a_company_or_as_a_persons_names() -> None:
    company = provider_details(open_beneficiary(_new("31926819", entity_type="company"), "b", T0))
    person = provider_details(open_beneficiary(
        _new("31926819", entity_type="individual", holder="Ada M Lovelace"),
        "b", T0))  # fmt: skip
    plain = provider_details(open_beneficiary(_new("31926819"), "b", T0))
    assert company.beneficiary_company_name == "Acme Ltd"
    assert (person.beneficiary_first_name, person.beneficiary_last_name) == ("Ada M", "Lovelace")
    assert (plain.beneficiary_company_name, plain.beneficiary_last_name) == ("", "")
