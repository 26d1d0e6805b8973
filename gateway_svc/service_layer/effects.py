"""What a state change must tell other services, written to the outbox in the same transaction.

Two kinds of outbox item:

- ``ledger``: one posting plan of ``domain.postings`` (payload: the books and the plan). The
  plans follow from the domain's events: a hold when a payment is authorized alone (manual
  capture), the automatic posting when authorization and capture arrive together, the post of
  the hold on a later capture, the platform fee, the void on cancel, a refund's hold, post,
  settlement or void, and the provider's fee. Their request ids are deterministic, and the
  outbox's ``dedupe_key`` is that request id, so re-enqueueing (a resumed request, a
  reconciler pass) is harmless and the ledger never sees a movement twice.
- ``audit``: one record for identity's audit log, with an event id derived from the request
  (merchant, key, action), so a retried delivery records nothing twice.

Beside them, in the same transaction, the change's merchant events (``webhook_emit``): the
webhook outbox, which the delivery worker sends from (issue 7).

Items of one payment share ``group_key`` (the payment id; ``audit/<payment id>`` for audit
records), and the relay applies a group in order: a capture never reaches the ledger before
its hold. Audit records are their own group so a slow audit log never delays a posting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway_svc.adapters.outbox import NewItem
from gateway_svc.domain import postings as plans
from gateway_svc.domain.events import (
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentEvent,
    ProviderFeeReported,
    RefundFailed,
    RefundSucceeded,
)
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.postings import FeeSchedule, LedgerPlan
from gateway_svc.domain.refunds import Refund
from gateway_svc.domain.routing import RoutingTable

from .ledger_payloads import plan_payload
from .unit_of_work import GatewayUnitOfWork
from .webhook_emit import emit_payment_events

LEDGER = "ledger"
AUDIT = "audit"
_MAX_AUDIT_REQUEST_ID = 128  # identity's limit


def hold_timeout_s(payment: Payment, routing: RoutingTable) -> float:
    """The ledger hold outlives the provider's authorization window (postings.hold_timeout_s)."""
    caps = routing.capabilities.get(payment.provider) if payment.provider else None
    if caps is None:
        return plans.DEFAULT_HOLD_TIMEOUT_S
    return plans.hold_timeout_s(caps.auth_window_s)


def ledger_plans(
    payment: Payment, events: Sequence[PaymentEvent], fees: FeeSchedule, hold_s: float
) -> list[LedgerPlan]:
    """The postings a batch of events (from one transition or one provider view) makes."""
    books = Books(payment.merchant_id, payment.currency)
    kinds = {type(e) for e in events}
    out: list[LedgerPlan] = []
    for e in events:
        if isinstance(e, PaymentAuthorized) and PaymentCaptured not in kinds:
            out.append(plans.plan_authorization_hold(books, e.payment_id, e.amount_minor, hold_s))
        elif isinstance(e, PaymentCaptured):
            # Authorized in the same batch: no hold was placed, so the capture posts directly.
            held = PaymentAuthorized not in kinds
            out += plans.plan_capture_with_fee(books, e.payment_id, e.amount_minor, fees, held=held)
        elif isinstance(e, PaymentCanceled) and e.released_minor > 0:
            out.append(plans.plan_cancel(e.payment_id))
        elif isinstance(e, ProviderFeeReported):
            fee = plans.plan_provider_fee(books, e.payment_id, e.fee_minor)
            out += [fee] if fee is not None else []
        elif isinstance(e, RefundSucceeded):
            out += plans.plan_refund_succeeded(books, e.refund_id, e.amount_minor)
        elif isinstance(e, RefundFailed):
            out.append(plans.plan_refund_failed(e.refund_id))
    return out


def ledger_items(payment: Payment, items: Sequence[LedgerPlan]) -> list[NewItem]:
    """The outbox items of ``items``, in order, as the payment's group."""
    books = Books(payment.merchant_id, payment.currency)
    return [
        NewItem(LEDGER, plan.request_id, payment.id, plan_payload(plan, books)) for plan in items
    ]


def event_items(
    payment: Payment,
    events: Sequence[PaymentEvent],
    *,
    fees: FeeSchedule,
    routing: RoutingTable,
) -> list[NewItem]:
    """The outbox items of ``ledger_plans(events)``."""
    plans_ = ledger_plans(payment, events, fees, hold_timeout_s(payment, routing))
    return ledger_items(payment, plans_)


async def enqueue_ledger(
    uow: GatewayUnitOfWork, payment: Payment, items: Sequence[LedgerPlan], now: datetime
) -> int:
    """Add the plans to the outbox, in order, as the payment's group; how many."""
    await uow.outbox.enqueue_many(ledger_items(payment, items), now)
    return len(items)


async def enqueue_events(
    uow: GatewayUnitOfWork,
    payment: Payment,
    events: Sequence[PaymentEvent],
    now: datetime,
    *,
    fees: FeeSchedule,
    routing: RoutingTable,
) -> int:
    """``ledger_plans`` of ``events``, enqueued with the merchant events of ``events``; how
    many outbox items."""
    items = event_items(payment, events, fees=fees, routing=routing)
    await uow.outbox.enqueue_many(items, now)
    await emit_payment_events(uow, payment, events)
    return len(items)


async def enqueue_refund_hold(
    uow: GatewayUnitOfWork, payment: Payment, refund: Refund, now: datetime
) -> None:
    """The hold a PENDING refund places on the merchant's payable before the provider call."""
    books = Books(payment.merchant_id, payment.currency)
    plan = plans.plan_refund_hold(books, refund.id, refund.amount_minor)
    await enqueue_ledger(uow, payment, [plan], now)


@dataclass(frozen=True, slots=True)
class AuditNote:
    """One record for identity's audit log, before it becomes the relay's payload."""

    event_id: str
    action: str
    """``gateway.<resource>.<verb>``: identity refuses any other shape from the gateway."""
    merchant_id: str
    target: str
    actor_kind: str
    """``api_key`` (a merchant's request) or ``service`` (the gateway's own workers)."""
    actor_id: str
    request_id: str = ""
    failed_reason: str = ""
    """Empty for a SUCCESS; the reason (an ErrorInfo reason or decline code) for a FAILURE."""
    details: Mapping[str, str] = field(default_factory=dict)


def audit_item(note: AuditNote, group_id: str, now: datetime) -> NewItem:
    """The outbox item of one audit record, in the audit group of ``group_id``."""
    service = note.actor_kind == "service"
    payload = {
        "event_id": note.event_id,
        "event_time": now.isoformat(),
        "actor": {
            "kind": note.actor_kind,
            "id": note.actor_id,
            "merchant_id": "" if service else note.merchant_id,
        },
        "action": note.action,
        "target": note.target,
        "merchant_id": note.merchant_id,
        "outcome": "failure" if note.failed_reason else "success",
        "reason": note.failed_reason[:64],
        "request_id": note.request_id[:_MAX_AUDIT_REQUEST_ID],
        "details": dict(note.details),
    }
    return NewItem(AUDIT, note.event_id, f"audit/{group_id}", payload)


async def enqueue_audit(
    uow: GatewayUnitOfWork, note: AuditNote, group_id: str, now: datetime
) -> None:
    """Add one audit record to the outbox, in the audit group of ``group_id``."""
    await uow.outbox.enqueue_many([audit_item(note, group_id, now)], now)


def payment_details(payment: Payment) -> dict[str, str]:
    """What an audit record says about a payment: state and amounts, nothing secret."""
    return {
        "payment_id": payment.id,
        "status": payment.status.value,
        "currency": payment.currency,
        "amount_minor": str(payment.amount_minor),
        "captured_minor": str(payment.captured_minor),
        "refunded_minor": str(payment.refunded_minor),
        "provider": payment.provider.value if payment.provider else "",
    }
