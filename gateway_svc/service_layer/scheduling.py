"""When the reconciler looks at a payment or refund again (``retry.next_check``'s schedule).

A payment needs the provider asked while its outcome is open: UNKNOWN (a call went
unanswered) and REQUIRES_ACTION (the payer is authenticating, and no webhook may come). A
refund needs it while PENDING after its call. Everything else carries no check.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.refunds import Refund, RefundStatus
from gateway_svc.domain.retry import next_check

from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

OPEN_STATUSES = frozenset({PaymentStatus.UNKNOWN, PaymentStatus.REQUIRES_ACTION})
MAY_BECOME_UNKNOWN = frozenset(
    {PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.AUTHORIZED}
)


def to_unknown(payment: Payment, now: datetime) -> list[PaymentEvent]:
    """Mark a payment UNKNOWN after a call went unanswered, if its state allows (a final or
    already UNKNOWN payment stays as it is)."""
    if payment.status in MAY_BECOME_UNKNOWN:
        return payment.mark_unknown(now)
    return []


def next_check_at(
    rt: GatewayRuntime, since: datetime, now: datetime, checks_done: int
) -> datetime | None:
    """The time of the next check of something open since ``since``; None: escalate."""
    age_s = max((now - since).total_seconds(), 0.0)
    delay_s = next_check(age_s, checks_done, rt.reconcile)
    return None if delay_s is None else now + timedelta(seconds=delay_s)


def first_check_at(rt: GatewayRuntime, payment: Payment, now: datetime) -> datetime | None:
    """When the reconciler should first ask about a payment a call left open (None: the
    payment is settled, no check)."""
    return next_check_at(rt, now, now, 0) if payment.status in OPEN_STATUSES else None


async def schedule_payment_check(
    uow: GatewayUnitOfWork, rt: GatewayRuntime, payment: Payment, now: datetime
) -> None:
    """Schedule the first check of a payment left open by a call, or clear its schedule."""
    await uow.payments.schedule_check(payment.id, first_check_at(rt, payment, now), 0)


async def schedule_refund_check(
    uow: GatewayUnitOfWork, rt: GatewayRuntime, refund: Refund, now: datetime
) -> None:
    """The same for a refund: checked while PENDING."""
    pending = refund.status is RefundStatus.PENDING
    at = next_check_at(rt, now, now, 0) if pending else None
    await uow.refunds.schedule_check(refund.id, at, 0)
