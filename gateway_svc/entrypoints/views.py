"""Results out: the gateway's payments, refunds and attempts as protobuf messages.

Every amount of a payment is a ``Money`` in the payment's currency. Nothing secret can come
out: a payment keeps a card's brand, last four and expiry and a token's kind only (see
``domain.payments.MethodSummary``), and that is all there is to show. ``decline`` and
``next_action`` appear only in the states the proto gives them (FAILED, REQUIRES_ACTION).
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from gateway_svc.domain.attempts import Attempt, Operation, Outcome, RoutingRecord
from gateway_svc.domain.lifecycle import OrderStatus, order_status
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, Payment, PaymentStatus
from gateway_svc.domain.refunds import Refund, RefundStatus
from gateway_svc.service_layer.commands import PaymentView
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import payments_pb2 as pb

from .convert import PAYMENT_STATUSES, REFUND_REASONS

_STATUS_OUT = {status: number for number, status in PAYMENT_STATUSES.items()}
_CAPTURE_OUT = {
    CaptureMethod.AUTOMATIC: pb.CAPTURE_METHOD_AUTOMATIC,
    CaptureMethod.MANUAL: pb.CAPTURE_METHOD_MANUAL,
}
_ORDER_OUT = {
    OrderStatus.NEW: pb.ORDER_STATUS_NEW,
    OrderStatus.PROCESSING: pb.ORDER_STATUS_PROCESSING,
    OrderStatus.SUCCESS: pb.ORDER_STATUS_SUCCESS,
    OrderStatus.FAILED: pb.ORDER_STATUS_FAILED,
}
_OPERATION_OUT = {
    Operation.AUTHORIZE: pb.ATTEMPT_OPERATION_AUTHORIZE,
    Operation.CAPTURE: pb.ATTEMPT_OPERATION_CAPTURE,
    Operation.CANCEL: pb.ATTEMPT_OPERATION_CANCEL,
    Operation.REFUND: pb.ATTEMPT_OPERATION_REFUND,
    Operation.LOOKUP: pb.ATTEMPT_OPERATION_LOOKUP,
}
_OUTCOME_OUT = {
    Outcome.PENDING: pb.ATTEMPT_OUTCOME_PENDING,
    Outcome.SUCCEEDED: pb.ATTEMPT_OUTCOME_SUCCEEDED,
    Outcome.DECLINED: pb.ATTEMPT_OUTCOME_DECLINED,
    Outcome.RETRIABLE_ERROR: pb.ATTEMPT_OUTCOME_RETRIABLE_ERROR,
    Outcome.UNKNOWN: pb.ATTEMPT_OUTCOME_UNKNOWN,
    Outcome.INVALID: pb.ATTEMPT_OUTCOME_INVALID,
}
_REFUND_STATUS_OUT = {
    RefundStatus.PENDING: pb.REFUND_STATUS_PENDING,
    RefundStatus.SUCCEEDED: pb.REFUND_STATUS_SUCCEEDED,
    RefundStatus.FAILED: pb.REFUND_STATUS_FAILED,
}
# A reason stored by an older or newer version that this table lacks reads as "not given".
_REASON_OUT = {word: number for number, word in REFUND_REASONS.items()}
DEFAULT_RULE = "default"
"""What RoutingDecision.rule says when no configured rule id was recorded (the proto)."""


def timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None (the field stays unset)."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def money(minor_units: int, currency: str) -> Money:
    """A Money message."""
    return Money(currency_code=currency, minor_units=minor_units)


def method_summary(method: MethodSummary) -> pb.PaymentMethodSummary:
    """Card or token; the card's brand, last four and expiry when there is a card."""
    card = method.card
    if card is None:
        return pb.PaymentMethodSummary(type=pb.PAYMENT_METHOD_TYPE_TOKEN)
    return pb.PaymentMethodSummary(
        type=pb.PAYMENT_METHOD_TYPE_CARD,
        card=pb.CardSummary(
            brand=card.brand.value,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        ),
    )


def routing(record: RoutingRecord) -> pb.RoutingDecision:
    """A RoutingDecision message."""
    return pb.RoutingDecision(
        candidates=[p.value for p in record.candidates],
        position=record.position,
        skipped=[
            pb.SkippedProvider(provider=s.provider.value, reason=s.reason) for s in record.skipped
        ],
        rule=record.rule or DEFAULT_RULE,
    )


def attempt(a: Attempt) -> pb.Attempt:
    """An Attempt message."""
    return pb.Attempt(
        id=a.id,
        operation=_OPERATION_OUT[a.operation],
        provider=a.provider.value,
        outcome=_OUTCOME_OUT[a.outcome],
        error_kind=a.error_kind.value if a.error_kind is not None else "",
        error_code=a.decline_code.value if a.decline_code is not None else "",
        http_status=a.http_status or 0,
        latency_ms=a.latency_ms or 0,
        idempotency_key=a.idempotency_key,
        start_time=timestamp(a.started_at),
        routing=routing(a.routing) if a.routing is not None else None,
    )


def payment(view: PaymentView) -> pb.Payment:
    """A Payment message with its attempts."""
    p, c = view.payment, view.payment.currency
    out = pb.Payment(
        id=p.id,
        merchant_id=p.merchant_id,
        amount=money(p.amount_minor, c),
        amount_authorized=money(p.authorized_minor, c),
        amount_captured=money(p.captured_minor, c),
        amount_refunded=money(p.refunded_minor, c),
        status=_STATUS_OUT[p.status],
        order_status=_ORDER_OUT[order_status(p)],
        capture_method=_CAPTURE_OUT[p.capture_method],
        provider=p.provider.value if p.provider is not None else "",
        provider_reference=p.provider_ref,
        payment_method=method_summary(p.method),
        merchant_reference=p.merchant_reference,
        description=p.description,
        metadata=p.metadata,
        fee=money(p.fee_minor, c) if p.fee_minor is not None else None,
        attempts=[attempt(a) for a in view.attempts],
        create_time=timestamp(p.create_time),
        update_time=timestamp(p.update_time),
    )
    _state_details(p, out)
    return out


def _state_details(p: Payment, out: pb.Payment) -> None:
    if p.status is PaymentStatus.FAILED and p.decline is not None:
        d = p.decline
        out.decline.CopyFrom(
            pb.Decline(code=d.code.value, message=d.message, provider_code=d.raw_code)
        )
    if p.status is PaymentStatus.REQUIRES_ACTION and p.action_url:
        out.next_action.redirect_url = p.action_url


def refund(r: Refund) -> pb.Refund:
    """A Refund message."""
    out = pb.Refund(
        id=r.id,
        payment_id=r.payment_id,
        amount=money(r.amount_minor, r.currency),
        status=_REFUND_STATUS_OUT[r.status],
        reason=_REASON_OUT.get(r.reason, pb.REFUND_REASON_UNSPECIFIED),
        provider_reference=r.provider_ref,
        create_time=timestamp(r.create_time),
        update_time=timestamp(r.update_time),
    )
    if r.status is RefundStatus.FAILED and r.decline is not None:
        d = r.decline
        out.failure.CopyFrom(
            pb.RefundFailure(code=d.code.value, message=d.message, provider_code=d.raw_code)
        )
    return out
