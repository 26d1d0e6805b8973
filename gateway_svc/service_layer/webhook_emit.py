"""Merchant events, written in the transaction of the state change that caused them.

Issue 7, "Outbox": an event row exists exactly when the change it reports was committed, so
nothing is published from memory and a crash loses nothing. The writers of each family's
changes call in here with their unit of work, next to the ledger postings of the same change:

- payments and refunds: ``effects.enqueue_events`` (and the create flow's settle, which builds
  its outbox items itself) with the domain's events: PaymentAuthorized, PaymentCaptured,
  PaymentFailed, PaymentCanceled, RefundSucceeded, RefundFailed;
- conversions and payouts: ``fx_effects.enqueue_conversion_changes`` /
  ``enqueue_payout_changes`` with the transitions to COMPLETED (and a payout's to FAILED).

Ids are deterministic: ``evt_`` and 26 Crockford base32 characters, a ULID whose time is when
the change happened (so ids sort in creation order, as the Event message promises) and whose
other 80 bits are the type's rank (payment.authorized before payment.captured when one change
makes both in the same millisecond) and a hash of what the event is (the resource, the type,
the amount). Nothing else goes in, not even the event's place among the change's others, so
the same event written again, alone or with others, has the same id, and the store ignores an
id it already has. The domain already emits each change once; the ids make a repeated write
harmless rather than trusting that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from gateway_svc.adapters.webhook_records import NewEvent
from gateway_svc.domain.conversions import Conversion, ConversionState, ConversionTransition
from gateway_svc.domain.events import (
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    RefundFailed,
    RefundSucceeded,
)
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition
from gateway_svc.domain.refunds import Refund, RefundStatus
from gateway_svc.domain.webhooks import EventType, event_document

from .unit_of_work import GatewayUnitOfWork
from .webhook_data import Json, conversion_data, payment_data, payout_data, refund_data

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as svc_kit.ids
_RANK_BITS = 5
_HASH_BITS = 80 - _RANK_BITS
_RANK = {kind: rank for rank, kind in enumerate(EventType)}

PAYMENT_EVENTS: dict[type[PaymentEvent], EventType] = {
    PaymentAuthorized: EventType.PAYMENT_AUTHORIZED,
    PaymentCaptured: EventType.PAYMENT_CAPTURED,
    PaymentFailed: EventType.PAYMENT_FAILED,
    PaymentCanceled: EventType.PAYMENT_CANCELED,
    RefundSucceeded: EventType.REFUND_SUCCEEDED,
    RefundFailed: EventType.REFUND_FAILED,
}
"""The domain's payment and refund events a merchant hears about (not 3DS, UNKNOWN, fees)."""
CONVERSION_EVENTS = {ConversionState.COMPLETED: EventType.CONVERSION_COMPLETED}
PAYOUT_EVENTS = {
    PayoutState.COMPLETED: EventType.PAYOUT_COMPLETED,
    PayoutState.FAILED: EventType.PAYOUT_FAILED,
}


def event_id(at: datetime, type_: EventType, *facts: object) -> str:
    """The id of the ``type_`` event of a change at ``at``, identified by ``facts`` (the
    resource's id and whatever tells two such events apart)."""
    assert len(_RANK) <= 1 << _RANK_BITS, "more event types than the rank bits hold"
    millis = int(at.timestamp() * 1000)
    parts = (type_.value, *(str(f) for f in facts))
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    tail = int.from_bytes(digest, "big") >> (256 - _HASH_BITS)
    value = millis << 80 | _RANK[type_] << _HASH_BITS | tail
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "evt_" + "".join(reversed(chars))


def new_event(
    merchant_id: str, type_: EventType, at: datetime, facts: Sequence[object], data: Json
) -> NewEvent:
    """The event of one change: its id, and the document every attempt sends."""
    at = at.astimezone(UTC)
    evid = event_id(at, type_, *facts)
    return NewEvent(evid, merchant_id, type_.value, event_document(evid, type_, at, data), at)


async def emit_payment_events(
    uow: GatewayUnitOfWork, payment: Payment, events: Sequence[PaymentEvent]
) -> list[str]:
    """Write the merchant events of ``events`` (one change of ``payment``); their ids.

    The data is the payment as this transaction leaves it: for an automatic capture both
    payment.authorized and payment.captured show it CAPTURED. A refund event carries the
    refund, read in this transaction, with the event's outcome applied (its writer may
    store the refund after enqueueing).
    """
    chosen = [(e, PAYMENT_EVENTS[type(e)]) for e in events if type(e) in PAYMENT_EVENTS]
    if not chosen:
        return []
    new: list[NewEvent] = []
    for e, kind in chosen:
        if isinstance(e, RefundSucceeded | RefundFailed):
            refund = await uow.refunds.get(payment.merchant_id, e.refund_id)
            facts: tuple[object, ...] = (e.refund_id,)
            data = refund_data(_settled(refund, e))
        else:
            facts = (payment.id, _amount_of(e))
            data = payment_data(payment)
        new.append(new_event(payment.merchant_id, kind, e.occurred_at, facts, data))
    return await uow.webhook_events.emit(new)


def _amount_of(e: PaymentEvent) -> int:
    """What tells two events of one type and payment apart (one capture per payment today;
    the amount keeps a future second one distinct)."""
    if isinstance(e, PaymentAuthorized | PaymentCaptured):
        return e.amount_minor
    return 0


def _settled(refund: Refund | None, e: RefundSucceeded | RefundFailed) -> Refund:
    """The refund as ``e`` leaves it, whether or not its writer stored that yet."""
    status = RefundStatus.SUCCEEDED if isinstance(e, RefundSucceeded) else RefundStatus.FAILED
    decline = e.decline if isinstance(e, RefundFailed) else None
    if refund is None:  # to be written later in this transaction: the event has the facts
        return Refund(
            id=e.refund_id,
            payment_id=e.payment_id,
            merchant_id="",
            amount_minor=e.amount_minor,
            currency=e.currency,
            create_time=e.occurred_at,
            update_time=e.occurred_at,
            status=status,
            decline=decline,
        )
    if refund.status is status:
        return refund
    return replace(
        refund, status=status, update_time=e.occurred_at, decline=decline or refund.decline
    )


async def emit_conversion_changes(
    uow: GatewayUnitOfWork, conversion: Conversion, changes: Sequence[ConversionTransition]
) -> list[str]:
    """Write conversion.completed if ``changes`` complete ``conversion``; the ids written."""
    kinds = [
        (c.at, CONVERSION_EVENTS[c.to_status]) for c in changes if c.to_status in CONVERSION_EVENTS
    ]
    return await _emit_transitions(
        uow, conversion.merchant_id, conversion.id, kinds, conversion_data(conversion)
    )


async def emit_payout_changes(
    uow: GatewayUnitOfWork, payout: Payout, changes: Sequence[PayoutTransition]
) -> list[str]:
    """Write payout.completed / payout.failed for ``changes``; the ids written."""
    kinds = [(c.at, PAYOUT_EVENTS[c.to_status]) for c in changes if c.to_status in PAYOUT_EVENTS]
    return await _emit_transitions(uow, payout.merchant_id, payout.id, kinds, payout_data(payout))


async def _emit_transitions(
    uow: GatewayUnitOfWork,
    merchant_id: str,
    resource_id: str,
    kinds: Sequence[tuple[datetime, EventType]],
    data: Json,
) -> list[str]:
    """The events of a conversion's or payout's transitions: one per (time, type), each
    carrying the resource as the transaction leaves it. A resource reaches each final
    status once, so its id and the type identify the event."""
    new = [new_event(merchant_id, kind, at, (resource_id,), data) for at, kind in kinds]
    return await uow.webhook_events.emit(new)
