"""What the gateway tells a provider about a payment it already has.

Capture, cancel, refund and fetch take the provider's view of the payment
(``ProviderCharge``); it is rebuilt from the stored payment: the provider's id and the extra
ids it gave (``provider_refs``), the amounts, and the status they imply.
"""

from __future__ import annotations

from gateway_svc.domain.attempts import Attempt
from gateway_svc.domain.payments import CaptureMethod, Payment, PaymentStatus
from gateway_svc.domain.providers import (
    AuthorizeCall,
    ChargeStatus,
    PaymentMethod,
    ProviderCharge,
)

_CHARGE_STATUS = {
    PaymentStatus.CREATED: ChargeStatus.PENDING,
    PaymentStatus.UNKNOWN: ChargeStatus.PENDING,
    PaymentStatus.REQUIRES_ACTION: ChargeStatus.REQUIRES_ACTION,
    PaymentStatus.AUTHORIZED: ChargeStatus.AUTHORIZED,
    PaymentStatus.CAPTURED: ChargeStatus.CAPTURED,
    PaymentStatus.PARTIALLY_CAPTURED: ChargeStatus.CAPTURED,
    PaymentStatus.CANCELED: ChargeStatus.CANCELED,
    PaymentStatus.FAILED: ChargeStatus.DECLINED,
}


def charge_view(payment: Payment) -> ProviderCharge:
    """The provider's payment as we last knew it."""
    return ProviderCharge(
        provider_ref=payment.provider_ref,
        status=_CHARGE_STATUS[payment.status],
        authorized_minor=payment.authorized_minor,
        captured_minor=payment.captured_minor,
        refunded_minor=payment.refunded_minor,
        action_url=payment.action_url,
        refs=dict(payment.provider_refs),
    )


def authorize_call(
    payment: Payment, attempt: Attempt, method: PaymentMethod | None = None
) -> AuthorizeCall:
    """The authorization ``attempt`` sends (or sent).

    ``method`` is the merchant's payment method, which is never stored; a lookup (which
    finds the payment by the attempt's idempotency key and never creates one) is sent
    without it when the merchant's request is not at hand (the reconciler, the completer).
    """
    return AuthorizeCall(
        attempt_id=attempt.id,
        idempotency_key=attempt.idempotency_key,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        method=method or PaymentMethod(),
        capture=payment.capture_method is CaptureMethod.AUTOMATIC,
        description=payment.description,
        reference=payment.merchant_reference,
        metadata=dict(payment.metadata),
    )
