"""Requests in (entrypoints.convert) and results out (entrypoints.views): protobuf to the
service layer's commands and back, with nothing secret in either direction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway_svc.domain.attempts import (
    Attempt,
    Operation,
    Outcome,
    RequestSummary,
    RoutingRecord,
    Skipped,
)
from gateway_svc.domain.errors import ValidationFailed
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, PaymentStatus
from gateway_svc.domain.providers import Decline, DeclineCode, ErrorKind, Provider
from gateway_svc.domain.refunds import Refund, RefundStatus
from gateway_svc.entrypoints import convert as cv
from gateway_svc.entrypoints import views
from gateway_svc.service_layer.commands import PaymentView
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import payments_pb2 as pb
from svc_kit.principal import EdgePrincipal
from tests.unit.gateway.domain_support import T0, T1, payment

CALLER = EdgePrincipal("mer_1", "KeyId0123456789a", "owner", "test")
PAN = "4242424242424242"


def _create(**fields: object) -> pb.CreatePaymentRequest:
    base: dict[str, object] = {
        "amount": Money(currency_code="USD", minor_units=1050),
        "payment_method": pb.PaymentMethod(
            card=pb.Card(number=PAN, exp_month=12, exp_year=2031, cvc="123")
        ),
    }
    return pb.CreatePaymentRequest(**{**base, **fields})  # type: ignore[arg-type]


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [v.field for v in exc.value.violations]


def test_a_create_becomes_the_callers_command_with_the_card_behind_a_safe_repr() -> None:
    cmd = cv.create_payment(_create(provider="stripe", metadata={"order": "7"}), CALLER, "k1")

    assert (cmd.merchant_id, cmd.actor_key_id, cmd.request_id) == ("mer_1", CALLER.key_id, "k1")
    assert (cmd.amount_minor, cmd.currency) == (1050, "USD")
    assert cmd.capture_method is CaptureMethod.AUTOMATIC  # UNSPECIFIED: the proto's default
    assert cmd.preferred_provider is Provider.STRIPE
    assert cmd.method.card is not None and cmd.method.card.number == PAN
    assert cmd.metadata == {"order": "7"}
    assert PAN not in repr(cmd)


def test_a_token_a_manual_capture_and_an_unknown_capture_method() -> None:
    token = pb.PaymentMethod(token="pm_card_visa")
    manual = cv.create_payment(
        _create(payment_method=token, capture_method=pb.CAPTURE_METHOD_MANUAL), CALLER, "k"
    )
    unknown = cv.create_payment(_create(capture_method=42), CALLER, "k")

    assert manual.method.token == "pm_card_visa" and manual.method.card is None
    assert manual.capture_method is CaptureMethod.MANUAL
    assert unknown.capture_method is None  # the domain names the field


def test_a_provider_that_is_none_of_the_four_is_a_violation_on_provider() -> None:
    with pytest.raises(ValidationFailed) as refused:
        cv.create_payment(_create(provider="acme"), CALLER, "k")

    assert _fields(refused) == ["provider"]


def test_a_capture_amount_must_be_in_the_payments_currency() -> None:
    req = pb.CapturePaymentRequest(
        payment_id="pay_1", amount=Money(currency_code="EUR", minor_units=100)
    )

    with pytest.raises(ValidationFailed) as refused:
        cv.capture_payment(req, CALLER, "", "USD")
    same = cv.capture_payment(replace_currency(req, "USD"), CALLER, "", "USD")
    whole = cv.capture_payment(pb.CapturePaymentRequest(payment_id="pay_1"), CALLER, "", None)

    assert _fields(refused) == ["amount.currency_code"]
    assert same.amount_minor == 100
    assert whole.amount_minor is None  # unset captures everything authorized


def replace_currency(req: pb.CapturePaymentRequest, currency: str) -> pb.CapturePaymentRequest:
    copy = pb.CapturePaymentRequest()
    copy.CopyFrom(req)
    copy.amount.currency_code = currency
    return copy


def test_a_refund_takes_stripes_reason_words_and_refuses_unknown_reasons() -> None:
    req = pb.CreateRefundRequest(payment_id="pay_1", reason=pb.REFUND_REASON_DUPLICATE)

    # An enum value from a newer client: proto3 enums are open, so it parses.
    unknown = pb.CreateRefundRequest(payment_id="pay_1", reason=9)  # type: ignore[arg-type]

    cmd = cv.create_refund(req, CALLER, "r1", None)
    with pytest.raises(ValidationFailed) as refused:
        cv.create_refund(unknown, CALLER, "", None)

    assert (cmd.reason, cmd.amount_minor, cmd.request_id) == ("duplicate", None, "r1")
    assert _fields(refused) == ["reason"]


@pytest.mark.parametrize("payment_id", ["", "p" * 101])
def test_a_missing_or_overlong_payment_id_is_refused(payment_id: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cv.cancel_payment(pb.CancelPaymentRequest(payment_id=payment_id), CALLER, "")

    assert _fields(refused) == ["payment_id"]


def test_list_filters_become_the_query_with_aware_utc_times() -> None:
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime(2025, 3, 1, tzinfo=UTC))
    end.FromDatetime(datetime(2025, 3, 2, tzinfo=UTC))
    req = pb.ListPaymentsRequest(
        status=pb.PAYMENT_STATUS_CAPTURED,
        provider="paypal",
        start_time=start,
        end_time=end,
        merchant_reference="o-1",
        page_size=7,
    )

    query = cv.list_payments(req, "mer_1")
    unfiltered = cv.list_payments(pb.ListPaymentsRequest(), "mer_1")

    assert query.statuses == frozenset({PaymentStatus.CAPTURED})
    assert query.provider is Provider.PAYPAL
    assert (query.created_after, query.created_before) == (
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 3, 2, tzinfo=UTC),
    )
    assert (query.merchant_reference, query.page_size) == ("o-1", 7)
    assert (unfiltered.statuses, unfiltered.provider, unfiltered.created_after) == (
        frozenset(),
        None,
        None,
    )


def _attempt() -> Attempt:
    routing = RoutingRecord(
        (Provider.STRIPE, Provider.AUTHORIZENET), 1, (Skipped(Provider.RAZORPAY, "x"),), ""
    )
    request = RequestSummary(10_000, "USD", MethodSummary(token_kind="pm"))
    return Attempt(
        "att_1", "pay_1", Operation.AUTHORIZE, Provider.AUTHORIZENET, "att_1", request, routing, T0,
        outcome=Outcome.DECLINED, error_kind=ErrorKind.DECLINED,
        decline_code=DeclineCode.INSUFFICIENT_FUNDS, http_status=402, latency_ms=31,
    )  # fmt: skip


def test_a_failed_payment_shows_its_decline_order_status_and_attempts() -> None:
    decline = Decline(DeclineCode.INSUFFICIENT_FUNDS, "Insufficient funds.", "2")
    failed = replace(payment(PaymentStatus.FAILED), decline=decline, metadata={"a": "b"})

    out = views.payment(PaymentView(failed, (_attempt(),)))

    assert (out.status, out.order_status) == (pb.PAYMENT_STATUS_FAILED, pb.ORDER_STATUS_FAILED)
    assert (out.decline.code, out.decline.provider_code) == ("insufficient_funds", "2")
    assert out.amount == Money(currency_code="USD", minor_units=10_000)
    assert out.payment_method.card.last4 == "4242"
    assert not out.HasField("next_action") and not out.HasField("fee")
    [a] = out.attempts
    assert (a.outcome, a.error_kind, a.error_code) == (
        pb.ATTEMPT_OUTCOME_DECLINED,
        "declined",
        "insufficient_funds",
    )
    assert (a.http_status, a.latency_ms, a.routing.position) == (402, 31, 1)
    assert list(a.routing.candidates) == ["stripe", "authorizenet"]
    assert a.routing.rule == "default"  # no rule id was recorded
    assert [(s.provider, s.reason) for s in a.routing.skipped] == [("razorpay", "x")]


def test_requires_action_shows_the_redirect_and_a_token_shows_no_card() -> None:
    waiting = replace(
        payment(PaymentStatus.REQUIRES_ACTION),
        action_url="https://sandbox/3ds/1",
        method=MethodSummary(token_kind="pm"),
        fee_minor=31,
    )

    out = views.payment(PaymentView(waiting))

    assert out.next_action.redirect_url == "https://sandbox/3ds/1"
    assert out.order_status == pb.ORDER_STATUS_PROCESSING
    assert out.payment_method == pb.PaymentMethodSummary(type=pb.PAYMENT_METHOD_TYPE_TOKEN)
    assert out.fee == Money(currency_code="USD", minor_units=31)
    assert not out.HasField("decline")


def test_a_refund_and_its_failure() -> None:
    decline = Decline(DeclineCode.PROCESSING_ERROR, "try later", "E1")
    failed = Refund("re_1", "pay_1", "mer_1", 500, "USD", T0, T1, RefundStatus.FAILED,
                    reason="fraudulent", decline=decline)  # fmt: skip

    out = views.refund(failed)

    assert (out.status, out.reason) == (pb.REFUND_STATUS_FAILED, pb.REFUND_REASON_FRAUDULENT)
    assert out.failure == pb.RefundFailure(
        code="processing_error", message="try later", provider_code="E1"
    )
    assert out.amount == Money(currency_code="USD", minor_units=500)
    assert out.update_time.ToDatetime(tzinfo=UTC) == T1
