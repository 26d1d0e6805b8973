"""What a card provider's callback means for one payment: pure functions, no I/O.

A payment callback (authorized, captured, failed, canceled) becomes the provider's view of
the payment (``ProviderCharge``) built from the event, which the domain applies exactly as
it applies a view fetched by the reconciler (``Payment.apply_provider_view``). The event
carries what that needs (``ProviderEvent``: the provider's id, the amount, the running totals
where the provider's object has them), so nothing is fetched; the exceptions are an event
without an amount, and a refund of a payment we do not hold as captured yet (out of order:
its "captured" is still on the way) whose event carries no captured total (Razorpay's,
PayPal's), where only the provider can say what was captured (``needs_truth``).

Monotonic: a view behind the payment's status (authorized after captured, a late "created")
is stale and ignored; a view that contradicts it (canceled for a captured payment) is a
conflict the domain refuses, left for a person. Neither changes anything.

A refund callback is matched to our refund by the provider's refund id, else to a PENDING
refund whose call never got an answer (no provider id yet, same amount). A succeeded refund
we have no record of was made at the provider directly (its dashboard, its API): it becomes
a refund of ours, with a deterministic id, so our books (and the ledger) hold what the
provider paid out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from gateway_svc.domain.errors import WebhookPayloadInvalid
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.provider_webhooks import EventKind, ProviderEvent
from gateway_svc.domain.providers import (
    ChargeStatus,
    Decline,
    DeclineCode,
    ProviderCharge,
    ProviderRefund,
)
from gateway_svc.domain.providers import RefundStatus as ViewRefundStatus
from gateway_svc.domain.refunds import Refund, RefundStatus

PAYMENT_KINDS = frozenset(
    {EventKind.AUTHORIZED, EventKind.CAPTURED, EventKind.FAILED, EventKind.CANCELED}
)
REFUND_KINDS = frozenset({EventKind.REFUND_SUCCEEDED, EventKind.REFUND_FAILED})
CAPTURED = frozenset({PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_CAPTURED})

# How far along a payment is; a view may only move it forward (or restate where it is).
_STATUS_RANK = {
    PaymentStatus.CREATED: 0,
    PaymentStatus.UNKNOWN: 0,
    PaymentStatus.REQUIRES_ACTION: 1,
    PaymentStatus.AUTHORIZED: 2,
    PaymentStatus.CAPTURED: 3,
    PaymentStatus.PARTIALLY_CAPTURED: 3,
    PaymentStatus.CANCELED: 3,
    PaymentStatus.FAILED: 3,
}
_VIEW_RANK = {
    ChargeStatus.PENDING: 0,
    ChargeStatus.REQUIRES_ACTION: 1,
    ChargeStatus.AUTHORIZED: 2,
    ChargeStatus.CAPTURED: 3,
    ChargeStatus.CANCELED: 3,
    ChargeStatus.DECLINED: 3,
}
_REF_NAMES = {"charge": "latest_charge"}
"""Event ref names that the adapters store under another name (Stripe's charge id)."""


def event_amount(event: ProviderEvent, currency: str) -> int | None:
    """The event's own amount in minor units of ``currency``; None when it carries none.

    Raises ``WebhookPayloadInvalid`` when it is in another currency than the payment's.
    """
    if event.amount_minor is None and not event.amount_decimal:
        return None
    return event.amount_in(currency)


def charge_refs(event: ProviderEvent) -> dict[str, str]:
    """The provider ids an event brings, under the names the adapters keep them by."""
    return {_REF_NAMES.get(key, key): value for key, value in event.refs.items() if value}


def payment_view(event: ProviderEvent, payment: Payment) -> ProviderCharge | None:
    """The provider's view of ``payment`` that a payment event stands for; None when the
    event lacks the amount the view needs (then the provider is asked)."""
    base = ProviderCharge(
        provider_ref=event.object_reference,
        status=ChargeStatus.PENDING,
        raw_status=event.raw_type,
        refs=charge_refs(event),
    )
    amount = event_amount(event, payment.currency)
    if event.kind is EventKind.AUTHORIZED:
        authorized = event.authorized_minor or amount
        if not authorized:
            return None
        return replace(base, status=ChargeStatus.AUTHORIZED, authorized_minor=authorized)
    if event.kind is EventKind.CAPTURED:
        captured = event.captured_minor or amount
        if not captured:
            return None
        # No authorized amount: a capture's "authorized" is already known, or the payment's.
        return replace(base, status=ChargeStatus.CAPTURED, captured_minor=captured)
    if event.kind is EventKind.CANCELED:
        return replace(base, status=ChargeStatus.CANCELED)
    reason = event.failure_reason
    decline = Decline(DeclineCode.GENERIC_DECLINE, "the provider declined the payment", reason)
    return replace(base, status=ChargeStatus.DECLINED, decline=decline)


def captured_view(event: ProviderEvent) -> ProviderCharge | None:
    """What a refund event says was captured, when its object carries the total (Stripe's
    Charge, Razorpay's payment); None otherwise."""
    if not event.captured_minor:
        return None
    return ProviderCharge(
        provider_ref=event.object_reference,
        status=ChargeStatus.CAPTURED,
        captured_minor=event.captured_minor,
        raw_status=event.raw_type,
        refs=charge_refs(event),
    )


def is_stale(payment: Payment, view: ProviderCharge) -> bool:
    """True when ``view`` is behind where ``payment`` already is."""
    return _VIEW_RANK[view.status] < _STATUS_RANK[payment.status]


def needs_truth(event: ProviderEvent, payment: Payment) -> bool:
    """True when applying ``event`` needs the provider's current view of the payment."""
    if event.kind in PAYMENT_KINDS:
        try:
            return payment_view(event, payment) is None
        except WebhookPayloadInvalid:
            return False  # another currency: a conflict, which applying reports
    return (
        event.kind is EventKind.REFUND_SUCCEEDED
        and payment.status not in CAPTURED
        and captured_view(event) is None
    )


def match_refund(
    refunds: Sequence[Refund], event: ProviderEvent, amount: int | None
) -> Refund | None:
    """Our refund the event is about: the one with its provider id, else a PENDING one whose
    call never got an answer (no provider id) of the same amount; None when neither."""
    if event.refund_reference:
        for refund in refunds:
            if refund.provider_ref == event.refund_reference:
                return refund
    for refund in refunds:
        pending = refund.status is RefundStatus.PENDING and not refund.provider_ref
        if pending and amount in (None, refund.amount_minor):
            return refund
    return None


def refund_view(event: ProviderEvent, amount: int | None) -> ProviderRefund:
    """The provider's view of the refund a refund event reports."""
    succeeded = event.kind is EventKind.REFUND_SUCCEEDED
    decline = None
    if not succeeded:
        why = "the provider could not refund"
        decline = Decline(DeclineCode.PROCESSING_ERROR, why, event.failure_reason)
    return ProviderRefund(
        provider_ref=event.refund_reference,
        status=ViewRefundStatus.SUCCEEDED if succeeded else ViewRefundStatus.FAILED,
        amount_minor=amount or 0,
        decline=decline,
        raw_status=event.raw_type,
    )


def unrecorded_amount(event: ProviderEvent, amount: int | None, refunds: Sequence[Refund]) -> int:
    """How much a refund made at the provider paid out: the event's amount, else what the
    provider's refunded total says beyond ours (0 when neither says more)."""
    if amount is not None:
        return amount
    if event.refunded_minor is None:
        return 0
    ours = sum(r.amount_minor for r in refunds if r.holds_amount)
    return max(0, event.refunded_minor - ours)


def provider_refund_id(event: ProviderEvent) -> str:
    """Our id for a refund made at the provider: derived from the provider's refund id (or
    the event's), so every callback about it names the same refund."""
    source = event.refund_reference or event.event_id
    digest = hashlib.sha256(f"{event.provider.value}\x1f{source}".encode()).hexdigest()
    return f"re_{digest[:26].upper()}"
