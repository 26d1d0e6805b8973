"""Card providers' callbacks applied to payments and refunds, the way the reconciler applies
what it learns from a provider.

1. Find the payment the callback names (``_resolve``): by our attempt id when the provider
   echoes it (Stripe's metadata, Razorpay's notes, PayPal's ``custom_id``), else by the
   provider's id for the payment, a PayPal capture id, or the refund's id (an Authorize.net
   refund names nothing else). None of ours: recorded as IGNORED and answered 200, since the
   provider would otherwise retry it for days. A PayPal refund names only its capture, which
   an out-of-band capture makes known only with its own callback: until that has arrived
   the refund answers 503 (``WebhookObjectNotYetKnown``) and PayPal delivers it again.
2. When the event alone cannot say enough (``provider_callbacks_views.needs_truth``), ask the
   provider (``PaymentProvider.fetch``, through the executor's retries and breaker). No
   answer: the callback fails (503) and is kept as FAILED for the provider's retry.
3. Under the payment's lease (one mutation of a payment at a time, ``leases``), in one
   transaction: claim the callback (a duplicate writes nothing), apply the view with
   ``Payment.apply_provider_view`` / ``refunds.apply_refund_view``, write the payment and the
   refund, enqueue their ledger postings and merchant events (``effects.enqueue_events``:
   deterministic request ids, the outbox), close the inbound record and audit the change.

Applying is idempotent and order-independent: the domain's transitions emit nothing for a
view already applied, a view behind the payment's state is ignored (``is_stale``), and a
"refund succeeded" that arrives before "captured" first applies the capture it implies (the
event's captured total, or the provider's view), then the refund. Its "captured" callback,
arriving later, then restates what is known and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from gateway_svc.domain.errors import (
    IllegalTransition,
    ProviderUnavailable,
    ProviderViewConflict,
    ValidationFailed,
    WebhookObjectNotYetKnown,
    WebhookPayloadInvalid,
)
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.provider_webhooks import EventKind, ProviderEvent
from gateway_svc.domain.providers import Provider, ProviderCharge
from gateway_svc.domain.refunds import Refund, apply_refund_view, open_refund, succeed

from .effects import enqueue_events, enqueue_refund_hold, payment_details
from .executor import Executor, Step
from .leases import leased
from .provider_callbacks_record import Applied, CallbackUnitOfWork, Inbound, finish, ignore, record
from .provider_callbacks_views import (
    CAPTURED,
    PAYMENT_KINDS,
    REFUND_KINDS,
    captured_view,
    event_amount,
    is_stale,
    match_refund,
    needs_truth,
    payment_view,
    provider_refund_id,
    refund_view,
    unrecorded_amount,
)
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork
from .views import charge_view

_log = logging.getLogger(__name__)
HOLDER = "provider-callback"
NOT_OURS = "it names no payment or refund of this gateway"
CAPTURE_ID = ("provider_refs", "capture_id")


@dataclass
class _Step:
    """What following one callback did to a payment (and maybe one of its refunds)."""

    events: list[PaymentEvent] = field(default_factory=list)
    note: str = ""
    refund: Refund | None = None
    refund_read: int | None = None
    """The refund's version as read; None for a refund made here (to be inserted)."""
    refund_events: list[PaymentEvent] = field(default_factory=list)
    """A refund made here: its events, enqueued after its hold, which itself follows
    ``events`` (the capture that funds it, when the capture came with it)."""


class PaymentCallbacks:
    """Applies payment and refund callbacks of the card providers (see the module docstring)."""

    def __init__(self, rt: GatewayRuntime, executor: Executor) -> None:
        self._rt = rt
        self._executor = executor

    async def apply(self, inbound: Inbound) -> bool:
        """Apply one payment or refund callback; True when it was a duplicate."""
        event = inbound.event
        provider = Provider(event.provider.value)
        found = await self._resolve(provider, event)
        if found is None and event.kind in REFUND_KINDS and "capture_id" in event.refs:
            raise WebhookObjectNotYetKnown(
                f"no payment holds {provider.value}'s capture {event.refs['capture_id']} yet;"
                " deliver the refund again after the capture's callback",
                metadata={"provider": provider.value, "capture_id": event.refs["capture_id"]},
            )
        if found is None:
            return await ignore(self._rt, inbound, NOT_OURS)
        payment_id, seen = found
        truth = await self._truth(provider, seen, event)

        async def phase(uow: GatewayUnitOfWork, payment: Payment) -> bool:
            return await self._apply_leased(uow, payment, inbound, provider, truth)

        return await leased(self._rt, payment_id, HOLDER, phase, merchant_id=None)

    async def _resolve(
        self, provider: Provider, event: ProviderEvent
    ) -> tuple[str, Payment | None] | None:
        """The payment the event names, and the payment as it stands (read in the same
        transaction; the apply reads it again under the lease)."""
        async with CallbackUnitOfWork(self._rt.engine, read_only=True) as uow:
            refs = uow.object_refs
            found = await refs.payment_by_attempt(provider, event.request_reference)
            found = found or await refs.payment_by_ref(provider, event.object_reference)
            capture = event.refs.get("capture_id", "")
            found = found or await refs.payment_by_ref(provider, capture, CAPTURE_ID)
            if found is None:
                pair = await refs.refund_by_ref(provider, event.refund_reference)
                found = pair[0] if pair is not None else None
            if found is None:
                return None
            return found, await uow.payments.get_any(found)

    async def _truth(
        self, provider: Provider, payment: Payment | None, event: ProviderEvent
    ) -> ProviderCharge | None:
        """The provider's current view of the payment, when the event needs it; raises
        ProviderUnavailable when the provider cannot give it now."""
        adapter = self._rt.providers.get(provider)
        if payment is None or adapter is None or not needs_truth(event, payment):
            return None
        view = charge_view(payment)
        view = replace(view, provider_ref=view.provider_ref or event.object_reference)
        tried = await self._executor.run(adapter, "fetch", lambda p: p.fetch(view))
        if tried.step is not Step.DONE or tried.value is None:
            why = tried.error.message if tried.error is not None else tried.step.value
            raise ProviderUnavailable(
                f"{provider.value} could not be asked about payment {payment.id}: {why}",
                metadata={"payment_id": payment.id, "provider": provider.value},
            )
        return tried.value

    async def _apply_leased(
        self,
        uow: GatewayUnitOfWork,
        payment: Payment,
        inbound: Inbound,
        provider: Provider,
        truth: ProviderCharge | None,
    ) -> bool:
        if not await record(uow, inbound):
            return True
        rt, now, event = self._rt, self._rt.clock(), inbound.event
        read = payment.version
        if event.kind in PAYMENT_KINDS:
            step = _follow_event(payment, event, truth, provider, now)
        else:
            step = _follow_refund(
                payment, await uow.refunds.for_payment(payment.id), event, truth, provider, now
            )
        changed = await self._store(uow, payment, read, step, now)
        refund = step.refund
        await finish(uow, inbound, _applied(payment, refund, changed, step.note), now)
        await uow.payments.release_lease(payment.id, HOLDER)
        await uow.commit()
        rt.kick()
        return False

    async def _store(
        self, uow: GatewayUnitOfWork, payment: Payment, read: int, step: _Step, now: datetime
    ) -> bool:
        """Write what ``step`` changed, with its postings and merchant events; True when
        anything changed."""
        rt = self._rt
        changed = payment.version != read
        if changed:
            await uow.payments.update(payment, read)
        await enqueue_events(uow, payment, step.events, now, fees=rt.fees, routing=rt.routing)
        refund = step.refund
        if refund is None:
            return changed
        if step.refund_read is None:
            # Made at the provider: held after the capture that funds it, then paid.
            await uow.refunds.add(refund)
            await enqueue_refund_hold(uow, payment, refund, now)
            await enqueue_events(uow, payment, step.refund_events, now, fees=rt.fees,
                                 routing=rt.routing)  # fmt: skip
            return True
        if refund.version == step.refund_read:
            return changed
        await uow.refunds.update(refund, step.refund_read)
        return True


def _applied(payment: Payment, refund: Refund | None, changed: bool, note: str) -> Applied:
    target = f"payments/{payment.id}"
    details = payment_details(payment)
    if refund is not None:
        target += f"/refunds/{refund.id}"
        details |= {"refund_id": refund.id, "refund_status": refund.status.value}
    if not changed and not note:
        note = f"nothing new: the payment is {payment.status.value}"
    return Applied(changed, target, payment.merchant_id, "" if changed else note, details)


def _follow_view(
    payment: Payment, view: ProviderCharge | None, provider: Provider, now: datetime
) -> _Step:
    """Apply a provider view unless it is stale; a conflict is logged for a person."""
    if view is None:
        return _Step(note="the callback carries no amount and the provider was not asked")
    if is_stale(payment, view):
        return _Step(note=f"behind the payment, which is already {payment.status.value}")
    try:
        return _Step(payment.apply_provider_view(view, now, provider))
    except ProviderViewConflict as exc:
        return _conflict(payment, exc)


def _follow_event(
    payment: Payment,
    event: ProviderEvent,
    truth: ProviderCharge | None,
    provider: Provider,
    now: datetime,
) -> _Step:
    try:
        view = truth or payment_view(event, payment)
    except WebhookPayloadInvalid as exc:  # another currency than the payment's
        return _conflict(payment, exc)
    return _follow_view(payment, view, provider, now)


def _follow_refund(
    payment: Payment,
    refunds: list[Refund],
    event: ProviderEvent,
    truth: ProviderCharge | None,
    provider: Provider,
    now: datetime,
) -> _Step:
    """A refund callback: the capture it implies first (out of order), then the refund."""
    events: list[PaymentEvent] = []
    succeeded = event.kind is EventKind.REFUND_SUCCEEDED
    if succeeded and payment.status not in CAPTURED:
        captured = _follow_view(payment, truth or captured_view(event), provider, now)
        events += captured.events
        if payment.status not in CAPTURED:
            return _Step(events, captured.note or "the provider has not captured the payment")
    try:
        amount = event_amount(event, payment.currency)
    except WebhookPayloadInvalid as exc:
        return _Step(events, _conflict(payment, exc).note)
    refund = match_refund(refunds, event, amount)
    if refund is not None:
        read = refund.version
        try:
            events += apply_refund_view(payment, refund, refund_view(event, amount), now)
        except ProviderViewConflict as exc:
            return _Step(events, _conflict(payment, exc).note, refund, read)
        return _Step(events, "", refund, read)
    if not succeeded:
        return _Step(events, "no refund of this payment has the provider's id")
    return _made_at_provider(payment, refunds, event, amount, now, events)


def _made_at_provider(
    payment: Payment,
    refunds: list[Refund],
    event: ProviderEvent,
    amount: int | None,
    now: datetime,
    events: list[PaymentEvent],
) -> _Step:
    """A succeeded refund we have no record of: made at the provider directly. It becomes a
    refund of ours, held and paid at once, so the books hold what the provider paid out."""
    amount = unrecorded_amount(event, amount, refunds)
    if amount <= 0:
        return _Step(events, "every refund the provider reports is recorded")
    why = f"refunded at {event.provider.value} ({event.refund_reference or event.event_id})"
    try:
        refund = open_refund(payment, refunds, provider_refund_id(event), amount, now, why[:255])
    except (IllegalTransition, ValidationFailed) as exc:
        return _Step(events, _conflict(payment, exc).note)
    paid = succeed(payment, refund, now, event.refund_reference)
    return _Step(events, "", refund, None, paid)


def _conflict(payment: Payment, exc: Exception) -> _Step:
    """Nothing applied: the callback contradicts what we hold. A person must look, as for
    the reconciler's conflicts."""
    _log.error("provider callback conflicts with payment %s: %s", payment.id, exc)
    return _Step(note=f"conflict: {exc}")
