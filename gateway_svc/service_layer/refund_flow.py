"""CreateRefund, in the same keyed phases as the other mutations.

    b  STARTED          lease the payment; ``open_refund`` (refused: nothing stored); the
                        refund PENDING, its ledger hold in the outbox (the merchant's
                        payable drops at once), the attempt PENDING -> PAYMENT_CREATED
    c  (no transaction) ``refund`` with the attempt's idempotency key, retried
    d  PAYMENT_CREATED  the provider's answer: SUCCEEDED (post the hold, settle clearing),
                        FAILED (void the hold), or still PENDING / unknown (the reconciler
                        asks again later); audit; release the lease -> PROVIDER_CALLED
    e  PROVIDER_CALLED  render the refund, store, finish

Unlike capture, a refund the provider provably did not make is answered as a FAILED refund
(its amount is refundable again), not as an error: the refund exists, with its outcome.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain import refunds as refund_rules
from gateway_svc.domain.attempts import Attempt, Operation, Outcome, RequestSummary
from gateway_svc.domain.errors import GatewayError, ProviderUnavailable, ProviderViewConflict
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.providers import Decline, DeclineCode, ProviderRefund
from gateway_svc.domain.refunds import Refund

from . import keys
from .commands import Answer, CreateRefund, RenderRefund
from .effects import AuditNote, enqueue_audit, enqueue_events, enqueue_refund_hold
from .executor import Executor, Step, Tried, finished
from .finishing import GATEWAY_ACTOR, event_id, finish_refund
from .keys import KeyHold, Replayed
from .leases import leased
from .runtime import GatewayRuntime
from .scheduling import schedule_refund_check
from .unit_of_work import GatewayUnitOfWork
from .views import charge_view

_log = logging.getLogger(__name__)
ACTION = "gateway.refund.create"


def refund_fingerprint(cmd: CreateRefund) -> str:
    """Every field that changes what the refund does."""
    return idem.fingerprint(
        keys.REFUND,
        {
            "payment_id": cmd.payment_id,
            "amount_minor": cmd.amount_minor,
            "reason": cmd.reason,
            "metadata": dict(cmd.metadata),
        },
    )


class RefundFlow:
    """CreateRefund and its resumption; one per process."""

    def __init__(self, rt: GatewayRuntime, executor: Executor) -> None:
        self._rt = rt
        self._executor = executor

    async def __call__(self, cmd: CreateRefund, render: RenderRefund) -> Answer[Refund]:
        """CreateRefund; see the module docstring."""
        keys.check_request_id(cmd.request_id, required=False)
        key = cmd.request_id or self._rt.new_id("gen")
        fp = refund_fingerprint(cmd)
        opened = await keys.open_key(self._rt, cmd.merchant_id, key, keys.REFUND, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold = await self._advance(opened, cmd)
        return await finish_refund(self._rt, hold, render)

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption (see ``MutationFlow.resume``)."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)
            return
        hold = await self._advance(hold, None)
        async with GatewayUnitOfWork(self._rt.engine) as uow:
            await keys.unlock(uow, hold, self._rt.clock())
            await uow.commit()

    async def _advance(self, hold: KeyHold, cmd: CreateRefund | None) -> KeyHold:
        actor = cmd.actor_key_id if cmd is not None else ""
        if hold.point is RecoveryPoint.STARTED:
            assert cmd is not None
            hold, payment, refund, attempt = await self.start(hold, cmd)
            tried = await self._call(payment, refund, attempt)
            return await self._apply(hold, attempt, tried, actor)
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            hold, payment, refund, pending = await self._retake(hold)
            if pending is None or pending.outcome is not Outcome.PENDING:
                return await self._apply(hold, None, None, actor)
            tried = await self._call(payment, refund, pending)
            return await self._apply(hold, pending, tried, actor)
        return hold

    async def start(
        self, hold: KeyHold, cmd: CreateRefund
    ) -> tuple[KeyHold, Payment, Refund, Attempt]:
        rt = self._rt

        async def phase(
            uow: GatewayUnitOfWork, payment: Payment
        ) -> tuple[KeyHold, Payment, Refund, Attempt]:
            now = rt.clock()
            existing = await uow.refunds.for_payment(payment.id)
            refund = refund_rules.open_refund(
                payment, existing, rt.new_id("re"), cmd.amount_minor, now, cmd.reason
            )
            refund = replace(refund, metadata=dict(cmd.metadata))
            if payment.provider is None or payment.provider not in rt.providers:
                raise ProviderUnavailable(
                    f"payment {payment.id}'s provider is not configured here",
                    metadata=payment.error_metadata(),
                )
            attempt = _attempt(rt, payment, refund)
            await uow.refunds.add(refund)
            await enqueue_refund_hold(uow, payment, refund, now)
            await uow.attempts.add(attempt, cmd.merchant_id, hold.record.key)
            started = await keys.advance(uow, hold, RecoveryPoint.PAYMENT_CREATED, now,
                                         payment_id=payment.id, refund_id=refund.id)  # fmt: skip
            await uow.commit()
            rt.kick()
            return started, payment, refund, attempt

        try:
            return await leased(rt, cmd.payment_id, hold.holder, phase, merchant_id=cmd.merchant_id)
        except GatewayError:
            await keys.drop(rt, hold)
            raise

    async def _retake(self, hold: KeyHold) -> tuple[KeyHold, Payment, Refund, Attempt | None]:
        payment_id, refund_id = hold.record.payment_id, hold.refund_id
        assert payment_id is not None and refund_id is not None, hold

        async def take(
            uow: GatewayUnitOfWork, payment: Payment
        ) -> tuple[KeyHold, Payment, Refund, Attempt | None]:
            refund = await uow.refunds.get(payment.merchant_id, refund_id)
            assert refund is not None, refund_id
            attempt = await uow.attempts.latest(payment.id, Operation.REFUND, refund_id)
            taken = await keys.refresh(uow, hold, self._rt.clock())
            await uow.commit()
            return taken, payment, refund, attempt

        return await leased(self._rt, payment_id, hold.holder, take, merchant_id=None)

    async def _call(
        self, payment: Payment, refund: Refund, attempt: Attempt
    ) -> Tried[ProviderRefund]:
        adapter = self._rt.providers[attempt.provider]
        charge, key = charge_view(payment), attempt.idempotency_key
        amount, currency = refund.amount_minor, refund.currency
        return await self._executor.run(
            adapter, "refund", lambda p: p.refund(charge, amount, currency, key)
        )

    async def _apply(
        self,
        hold: KeyHold,
        attempt: Attempt | None,
        tried: Tried[ProviderRefund] | None,
        actor_key_id: str,
    ) -> KeyHold:
        """Phase d (see the module docstring)."""
        rt, now = self._rt, self._rt.clock()
        assert hold.record.payment_id is not None and hold.refund_id is not None, hold
        async with GatewayUnitOfWork(rt.engine) as uow:
            payment = await uow.payments.get_any(hold.record.payment_id)
            refund = await uow.refunds.get(hold.record.merchant_id, hold.refund_id)
            assert payment is not None and refund is not None, hold
            read_p, read_r = payment.version, refund.version
            events: list[PaymentEvent] = []
            if attempt is not None and tried is not None:
                events = settle_refund(payment, refund, tried, now)
                await uow.attempts.save(finished(attempt, tried, now), tried.tries_json())
                note = _note(hold, payment, refund, attempt, actor_key_id)
                await enqueue_audit(uow, note, payment.id, now)
            if payment.version != read_p:
                await uow.payments.update(payment, read_p)
            if refund.version != read_r:
                await uow.refunds.update(refund, read_r)
            await schedule_refund_check(uow, rt, refund, now)
            await enqueue_events(uow, payment, events, now, fees=rt.fees, routing=rt.routing)
            await uow.payments.release_lease(payment.id, hold.holder)
            hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        rt.kick()
        return hold


def settle_refund(
    payment: Payment, refund: Refund, tried: Tried[ProviderRefund], now: datetime
) -> list[PaymentEvent]:
    """The refund (and the payment's refunded amount) after the provider call."""
    if tried.step is Step.DONE and tried.value is not None:
        try:
            return refund_rules.apply_refund_view(payment, refund, tried.value, now)
        except ProviderViewConflict as exc:
            _log.error("provider refund view conflicts with refund %s: %s", refund.id, exc)
            return []
    if tried.step is Step.UNKNOWN:
        return []  # still PENDING: the reconciler asks the provider again
    e = tried.error
    decline = Decline(
        e.code if e is not None else DeclineCode.PROCESSING_ERROR,
        (e.message if e is not None else "the provider could not refund")[:255],
        e.raw_code if e is not None else "",
    )
    return refund_rules.fail(refund, decline, now)


def _attempt(rt: GatewayRuntime, payment: Payment, refund: Refund) -> Attempt:
    assert payment.provider is not None
    attempt_id = rt.new_id("att")
    return Attempt(
        id=attempt_id,
        payment_id=payment.id,
        operation=Operation.REFUND,
        provider=payment.provider,
        idempotency_key=attempt_id,
        request=RequestSummary(refund.amount_minor, refund.currency, payment.method),
        routing=None,
        started_at=rt.clock(),
        refund_id=refund.id,
    )


def _note(
    hold: KeyHold, payment: Payment, refund: Refund, attempt: Attempt, actor: str
) -> AuditNote:
    failed = refund.decline.code.value.upper() if refund.decline is not None else ""
    return AuditNote(
        event_id=event_id(hold.record.merchant_id, hold.record.key, ACTION, attempt.id),
        action=ACTION,
        merchant_id=payment.merchant_id,
        target=f"payments/{payment.id}/refunds/{refund.id}",
        actor_kind="api_key" if actor else "service",
        actor_id=actor or GATEWAY_ACTOR,
        request_id=hold.record.key,
        failed_reason=failed,
        details={
            "payment_id": payment.id,
            "refund_id": refund.id,
            "status": refund.status.value,
            "amount_minor": str(refund.amount_minor),
            "currency": refund.currency,
        },
    )
