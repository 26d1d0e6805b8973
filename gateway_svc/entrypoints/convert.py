"""Requests in: protobuf messages -> the service layer's commands. Protobuf stops here.

Conversion refuses only what the proto allows but the gateway cannot mean: an enum value it
does not know, a provider name that is none of the four, a capture or refund amount in a
currency other than the payment's. Everything else (amounts, cards, metadata limits) is the
domain's to judge, so its violations keep one wording whatever the entrypoint.

A card's number and CVC go straight into ``domain.providers.Card``, whose ``repr`` shows
the last four digits only, and into no message: a violation names the field, never the
value.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from gateway_svc.domain.errors import ValidationFailed
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.providers import Card, PaymentMethod, Provider
from gateway_svc.service_layer.commands import (
    CancelPayment,
    CapturePayment,
    CreatePayment,
    CreateRefund,
    ListPayments,
)
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import payments_pb2 as pb
from svc_kit.faults import FieldViolation
from svc_kit.principal import EdgePrincipal

MAX_ID_LEN = 100
"""Our ids are 30 characters ("pay_" + 26); anything much longer is not one of ours."""

CAPTURE_METHODS: dict[pb.CaptureMethod.ValueType, CaptureMethod] = {
    pb.CAPTURE_METHOD_UNSPECIFIED: CaptureMethod.AUTOMATIC,  # the proto's documented default
    pb.CAPTURE_METHOD_AUTOMATIC: CaptureMethod.AUTOMATIC,
    pb.CAPTURE_METHOD_MANUAL: CaptureMethod.MANUAL,
}
PAYMENT_STATUSES: dict[pb.PaymentStatus.ValueType, PaymentStatus] = {
    pb.PAYMENT_STATUS_CREATED: PaymentStatus.CREATED,
    pb.PAYMENT_STATUS_REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    pb.PAYMENT_STATUS_AUTHORIZED: PaymentStatus.AUTHORIZED,
    pb.PAYMENT_STATUS_PARTIALLY_CAPTURED: PaymentStatus.PARTIALLY_CAPTURED,
    pb.PAYMENT_STATUS_CAPTURED: PaymentStatus.CAPTURED,
    pb.PAYMENT_STATUS_CANCELED: PaymentStatus.CANCELED,
    pb.PAYMENT_STATUS_FAILED: PaymentStatus.FAILED,
    pb.PAYMENT_STATUS_UNKNOWN: PaymentStatus.UNKNOWN,
}
REFUND_REASONS: dict[pb.RefundReason.ValueType, str] = {
    # Stripe's words for the same three reasons, so they pass through unchanged.
    pb.REFUND_REASON_UNSPECIFIED: "",
    pb.REFUND_REASON_DUPLICATE: "duplicate",
    pb.REFUND_REASON_FRAUDULENT: "fraudulent",
    pb.REFUND_REASON_REQUESTED_BY_CUSTOMER: "requested_by_customer",
}
_PROVIDER_NAMES = ", ".join(p.value for p in Provider)


def invalid(path: str, why: str) -> ValidationFailed:
    """One field violation, as the domain words them (``<field> <why>``)."""
    return ValidationFailed(
        f"invalid request: {path} {why}", violations=[FieldViolation(path, why)]
    )


def require_id(value: str, path: str = "payment_id") -> str:
    """A required id field: non-empty and of sane length."""
    if not value:
        raise invalid(path, "is required")
    if len(value) > MAX_ID_LEN:
        raise invalid(path, f"must be at most {MAX_ID_LEN} characters")
    return value


def provider_in(name: str, path: str = "provider") -> Provider | None:
    """A provider name, or None for empty; any other name is refused (the proto says so)."""
    if not name:
        return None
    try:
        return Provider(name)
    except ValueError:
        raise invalid(path, f"must be one of {_PROVIDER_NAMES}, or empty") from None


def method_in(method: pb.PaymentMethod) -> PaymentMethod:
    """The oneof as the domain's value; neither set is the domain's violation to name."""
    which = method.WhichOneof("method")
    if which == "token":
        return PaymentMethod(token=method.token)
    if which == "card":
        c = method.card
        return PaymentMethod(card=Card(c.number, c.exp_month, c.exp_year, c.cvc))
    return PaymentMethod()


def create_payment(
    req: pb.CreatePaymentRequest, principal: EdgePrincipal, request_id: str
) -> CreatePayment:
    """CreatePayment; a missing amount reaches the domain as zero of no currency, which it
    refuses field by field together with anything else wrong."""
    return CreatePayment(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        amount_minor=req.amount.minor_units,
        currency=req.amount.currency_code,
        method=method_in(req.payment_method),
        request_id=request_id,
        capture_method=CAPTURE_METHODS.get(req.capture_method),
        preferred_provider=provider_in(req.provider),
        merchant_reference=req.merchant_reference,
        description=req.description,
        metadata=dict(req.metadata),
    )


def amount_in(amount: Money, payment_currency: str, path: str = "amount") -> int:
    """A capture's or refund's amount in minor units of the payment's currency.

    Only the payment's currency is accepted: the amount would otherwise be read in a
    currency it was not meant in (100 JPY is not 1.00 USD)."""
    if amount.currency_code != payment_currency:
        why = f"must be the payment's currency, {payment_currency}"
        raise invalid(f"{path}.currency_code", why)
    return amount.minor_units


def capture_payment(
    req: pb.CapturePaymentRequest,
    principal: EdgePrincipal,
    request_id: str,
    payment_currency: str | None,
) -> CapturePayment:
    """CapturePayment; ``payment_currency`` is needed (not None) when ``amount`` is set."""
    amount = None
    if req.HasField("amount"):
        assert payment_currency is not None, "look the payment up before converting"
        amount = amount_in(req.amount, payment_currency)
    return CapturePayment(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        payment_id=require_id(req.payment_id),
        amount_minor=amount,
        request_id=request_id,
    )


def cancel_payment(
    req: pb.CancelPaymentRequest, principal: EdgePrincipal, request_id: str
) -> CancelPayment:
    """CancelPayment."""
    return CancelPayment(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        payment_id=require_id(req.payment_id),
        request_id=request_id,
    )


def create_refund(
    req: pb.CreateRefundRequest,
    principal: EdgePrincipal,
    request_id: str,
    payment_currency: str | None,
) -> CreateRefund:
    """CreateRefund; ``payment_currency`` is needed (not None) when ``amount`` is set."""
    reason = REFUND_REASONS.get(req.reason)
    if reason is None:
        raise invalid("reason", "must be DUPLICATE, FRAUDULENT, REQUESTED_BY_CUSTOMER or unset")
    amount = None
    if req.HasField("amount"):
        assert payment_currency is not None, "look the payment up before converting"
        amount = amount_in(req.amount, payment_currency)
    return CreateRefund(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        payment_id=require_id(req.payment_id),
        amount_minor=amount,
        reason=reason,
        request_id=request_id,
    )


def _time_in(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def list_payments(req: pb.ListPaymentsRequest, merchant_id: str) -> ListPayments:
    """ListPayments; UNSPECIFIED status and an empty provider match every payment."""
    statuses: frozenset[PaymentStatus] = frozenset()
    if req.status != pb.PAYMENT_STATUS_UNSPECIFIED:
        status = PAYMENT_STATUSES.get(req.status)
        if status is None:
            raise invalid("status", "is not a PaymentStatus this service knows")
        statuses = frozenset({status})
    return ListPayments(
        merchant_id=merchant_id,
        statuses=statuses,
        provider=provider_in(req.provider),
        created_after=_time_in(req.start_time) if req.HasField("start_time") else None,
        created_before=_time_in(req.end_time) if req.HasField("end_time") else None,
        merchant_reference=req.merchant_reference,
        page_size=req.page_size,
        page_token=req.page_token,
    )


def refund_page(req: pb.ListRefundsRequest) -> tuple[str, int, str]:
    """ListRefunds' (payment_id, page_size, page_token)."""
    return require_id(req.payment_id), req.page_size, req.page_token
