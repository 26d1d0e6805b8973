"""Refunds of a captured payment: partial, several, never more than was captured.

    PENDING --> SUCCEEDED   the money went back; the payment's ``refunded_minor`` grows
    PENDING --> FAILED      nothing moved; the amount is refundable again

The rule: pending + succeeded refunds <= captured. A PENDING refund holds its amount, because
the provider may still pay it out; counting only succeeded ones would let two concurrent
refunds together exceed the capture. A refund whose provider call timed out stays PENDING
until the reconciler learns its outcome (there is no separate UNKNOWN for refunds: a pending
refund already blocks its amount, which is all UNKNOWN would add).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from svc_kit.faults import FieldViolation

from . import errors
from .events import PaymentEvent, RefundFailed, RefundSucceeded
from .payments import Payment, PaymentStatus
from .providers import Decline, DeclineCode, ProviderRefund
from .providers import RefundStatus as ViewStatus

MAX_REASON_LEN = 255


class RefundStatus(StrEnum):
    """Where a refund stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class Refund:
    """One refund of part or all of a payment's captured amount."""

    id: str
    payment_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    create_time: datetime
    update_time: datetime
    status: RefundStatus = RefundStatus.PENDING
    reason: str = ""
    provider_ref: str = ""
    decline: Decline | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @property
    def holds_amount(self) -> bool:
        """True while the refund counts against the refundable amount."""
        return self.status is not RefundStatus.FAILED


def refund_total(refunds: Iterable[Refund]) -> int:
    """Pending plus succeeded refunds: what is no longer refundable."""
    return sum(r.amount_minor for r in refunds if r.holds_amount)


def refundable_minor(payment: Payment, refunds: Iterable[Refund]) -> int:
    """How much may still be refunded: captured less pending and succeeded refunds."""
    return payment.captured_minor - refund_total(refunds)


def open_refund(
    payment: Payment,
    refunds: Iterable[Refund],
    refund_id: str,
    amount_minor: int | None,
    now: datetime,
    reason: str = "",
) -> Refund:
    """A PENDING refund of ``amount_minor`` (None: all that is left), or the refusal.

    ``refunds`` are the payment's existing refunds, every status.
    """
    _ensure_refundable(payment)
    if len(reason) > MAX_REASON_LEN:
        raise errors.ValidationFailed(
            "invalid refund: reason is too long",
            violations=[FieldViolation("reason", f"must be at most {MAX_REASON_LEN} characters")],
        )
    left = refundable_minor(payment, refunds)
    amount = left if amount_minor is None else amount_minor
    if amount <= 0 and amount_minor is not None:
        raise errors.ValidationFailed(
            "invalid refund: amount.minor_units must be positive",
            metadata=payment.error_metadata(),
            violations=[FieldViolation("amount.minor_units", "must be a positive amount")],
        )
    if amount <= 0 or amount > left:
        raise errors.RefundExceedsCaptured(
            f"payment {payment.id}: refunding {amount} would exceed the captured amount"
            f" ({left} of {payment.captured_minor} left)",
            metadata={
                **payment.error_metadata(),
                "requested_minor": str(amount),
                "refundable_minor": str(left),
            },
        )
    return Refund(
        id=refund_id,
        payment_id=payment.id,
        merchant_id=payment.merchant_id,
        amount_minor=amount,
        currency=payment.currency,
        create_time=now,
        update_time=now,
        reason=reason,
    )


def _ensure_refundable(payment: Payment) -> None:
    if payment.status is PaymentStatus.UNKNOWN:
        cls: type[errors.IllegalTransition] = errors.PaymentOutcomeUnknown
    elif payment.status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_CAPTURED):
        return
    else:
        cls = errors.PaymentNotRefundable
    raise cls(
        f"payment {payment.id} is {payment.status.value}: only a captured payment is refunded",
        metadata=payment.error_metadata(),
    )


def succeed(
    payment: Payment, refund: Refund, now: datetime, provider_ref: str = ""
) -> list[PaymentEvent]:
    """The provider paid the refund out: the payment's refunded amount grows by it."""
    _leave_pending(refund, RefundStatus.SUCCEEDED, now)
    refund.provider_ref = refund.provider_ref or provider_ref
    payment.refunded_minor += refund.amount_minor
    assert payment.refunded_minor <= payment.captured_minor, (payment, refund)
    payment.version += 1
    payment.update_time = now
    return [RefundSucceeded(payment.id, now, refund.id, refund.amount_minor, refund.currency)]


def fail(refund: Refund, decline: Decline, now: datetime) -> list[PaymentEvent]:
    """The refund did not happen; its amount is released for another refund."""
    _leave_pending(refund, RefundStatus.FAILED, now)
    refund.decline = decline
    return [
        RefundFailed(
            refund.payment_id, now, refund.id, refund.amount_minor, refund.currency, decline
        )
    ]


def _leave_pending(refund: Refund, target: RefundStatus, now: datetime) -> None:
    if refund.status is not RefundStatus.PENDING:
        raise errors.IllegalTransition(
            f"refund {refund.id} is {refund.status.value}, not pending",
            metadata=_refund_metadata(refund, target=target.value),
        )
    refund.status = target
    refund.version += 1
    refund.update_time = now


def apply_refund_view(
    payment: Payment, refund: Refund, view: ProviderRefund, now: datetime
) -> list[PaymentEvent]:
    """Bring a refund to what the provider says, idempotently (same view twice: no change)."""
    target = _VIEW_STATUS[view.status]
    if view.amount_minor not in (0, refund.amount_minor) or (
        refund.provider_ref and view.provider_ref not in ("", refund.provider_ref)
    ):
        raise errors.ProviderViewConflict(
            f"refund {refund.id}: the provider reports another refund",
            metadata=_refund_metadata(refund, view_amount_minor=str(view.amount_minor)),
        )
    if target is refund.status:
        if not refund.provider_ref and view.provider_ref:
            refund.provider_ref = view.provider_ref
            refund.version += 1
            refund.update_time = now
        return []
    if refund.status is not RefundStatus.PENDING or target is RefundStatus.PENDING:
        raise errors.ProviderViewConflict(
            f"refund {refund.id} is {refund.status.value}; the provider says {view.status.value}",
            metadata=_refund_metadata(refund, view_status=view.raw_status or view.status.value),
        )
    if target is RefundStatus.SUCCEEDED:
        return succeed(payment, refund, now, view.provider_ref)
    refund.provider_ref = refund.provider_ref or view.provider_ref
    decline = view.decline or Decline(
        DeclineCode.PROCESSING_ERROR, "the provider could not refund", view.raw_status
    )
    return fail(refund, decline, now)


_VIEW_STATUS = {
    ViewStatus.PENDING: RefundStatus.PENDING,
    ViewStatus.SUCCEEDED: RefundStatus.SUCCEEDED,
    ViewStatus.FAILED: RefundStatus.FAILED,
}


def _refund_metadata(refund: Refund, **extra: str) -> dict[str, str]:
    return {
        "refund_id": refund.id,
        "payment_id": refund.payment_id,
        "status": refund.status.value,
        "currency": refund.currency,
        "amount_minor": str(refund.amount_minor),
        **extra,
    }
