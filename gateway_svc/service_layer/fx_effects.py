"""What a conversion's or payout's status change tells the ledger and the audit log.

Each change (``ConversionTransition`` / ``PayoutTransition``) becomes the postings
``domain.fx_postings`` plans for it, enqueued in the outbox in the transaction that records
the change, in the object's own group (its id), so the relay applies them in order. The
hold itself is not enqueued: ``fx_holds`` placed it before the provider call. Request ids are
deterministic, and the outbox's ``dedupe_key`` is the request id, so enqueueing the same
change twice (a resumed request, a repeated poll) changes nothing.

Audit records follow ``effects.enqueue_audit`` (identity's ``gateway.<resource>.<verb>``),
with the ids, statuses and amounts and nothing else: no bank details.

The status poller asks the provider again after ``poll_delay_s``: 5 s after the call, then
doubling, at most every 15 minutes, for as long as the object is not final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway_svc.domain.conversions import Conversion, ConversionTransition
from gateway_svc.domain.fx_postings import plan_conversion_transition, plan_payout_transition
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.payouts import Payout, PayoutTransition
from gateway_svc.domain.postings import CreateTransactionPlan

from .effects import LEDGER, AuditNote, enqueue_audit
from .finishing import GATEWAY_ACTOR, event_id
from .ledger_payloads import plan_payload
from .unit_of_work import GatewayUnitOfWork
from .webhook_emit import emit_conversion_changes, emit_payout_changes


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """When the status poller asks the provider about an open conversion or payout."""

    first_s: float = 5.0
    cap_s: float = 900.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ValueError("need 0 < first_s <= cap_s")

    def delay_s(self, checks_done: int) -> float:
        """Seconds until the next check after ``checks_done`` checks."""
        return min(self.cap_s, self.first_s * float(2 ** min(checks_done, 32)))

    def next_at(self, now: datetime, checks_done: int) -> datetime:
        """The time of the next check."""
        return now + timedelta(seconds=self.delay_s(checks_done))


async def enqueue_conversion_changes(
    uow: GatewayUnitOfWork,
    conversion: Conversion,
    changes: Sequence[ConversionTransition],
    now: datetime,
) -> int:
    """The postings of ``changes`` (never the hold, placed in the request), enqueued with
    the merchant event of a completion; how many postings."""
    await emit_conversion_changes(uow, conversion, changes)
    books = Books(conversion.merchant_id, conversion.sell_currency)
    count = 0
    for change in changes:
        if change.from_status is None:
            continue
        for plan in plan_conversion_transition(conversion, change):
            payload = plan_payload(plan, books, fx=True)
            await uow.outbox.enqueue(LEDGER, plan.request_id, conversion.id, payload, now)
            count += 1
    return count


async def enqueue_payout_changes(
    uow: GatewayUnitOfWork, payout: Payout, changes: Sequence[PayoutTransition], now: datetime
) -> int:
    """The postings of ``changes`` (the post and the fee, or the void), enqueued with the
    merchant events of a completion or failure; how many postings."""
    await emit_payout_changes(uow, payout, changes)
    count = 0
    for change in changes:
        if change.from_status is None:
            continue
        for plan in plan_payout_transition(payout, change):
            # The fee may be in another currency than the payout: its own books.
            currency = plan.currency if isinstance(plan, CreateTransactionPlan) else payout.currency
            payload = plan_payload(plan, Books(payout.merchant_id, currency), fx=True)
            await uow.outbox.enqueue(LEDGER, plan.request_id, payout.id, payload, now)
            count += 1
    return count


def conversion_details(c: Conversion) -> dict[str, str]:
    """What an audit record says about a conversion."""
    return {
        "conversion_id": c.id,
        "quote_id": c.quote_id,
        "status": c.status.value,
        "buy_currency": c.buy_currency,
        "sell_currency": c.sell_currency,
        "buy_amount_minor": str(c.buy_amount_minor),
        "sell_amount_minor": str(c.sell_amount_minor),
        "client_rate": c.client_rate,
    }


def payout_details(p: Payout) -> dict[str, str]:
    """What an audit record says about a payout (no bank details: the beneficiary's id)."""
    return {
        "payout_id": p.id,
        "beneficiary_id": p.beneficiary_id,
        "status": p.status.value,
        "currency": p.currency,
        "amount_minor": str(p.amount_minor),
        "payment_type": p.payment_type.value,
    }


async def audit(
    uow: GatewayUnitOfWork,
    *,
    action: str,
    merchant_id: str,
    target: str,
    actor_key_id: str,
    event_parts: Sequence[str],
    details: dict[str, str],
    now: datetime,
    request_id: str = "",
    failed_reason: str = "",
) -> None:
    """One audit record in the object's audit group: the merchant's key as the actor, or
    the gateway itself (a resumed request, the poller)."""
    note = AuditNote(
        event_id=event_id(*event_parts),
        action=action,
        merchant_id=merchant_id,
        target=target,
        actor_kind="api_key" if actor_key_id else "service",
        actor_id=actor_key_id or GATEWAY_ACTOR,
        request_id=request_id,
        failed_reason=failed_reason,
        details=details,
    )
    await enqueue_audit(uow, note, target.rsplit("/", 1)[-1], now)
