"""The reconciler's refund pass: PENDING refunds whose outcome is not known yet.

The port has no "get refund": the provider is asked by repeating the refund call with the
refund attempt's own idempotency key, which every adapter sends as the provider's idempotency
header (or equivalent), so the provider answers with the refund it already made (or makes
it, if the first call never arrived) and never makes a second one. The answer is applied
with ``apply_refund_view``: SUCCEEDED posts the refund's hold and settles clearing, FAILED
voids the hold, PENDING waits for the next check.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from gateway_svc.domain.attempts import Attempt, Operation, Outcome
from gateway_svc.domain.errors import GatewayError, ProviderViewConflict
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.providers import ProviderRefund
from gateway_svc.domain.refunds import Refund, RefundStatus, apply_refund_view

from .effects import AuditNote, enqueue_audit, enqueue_events
from .executor import Executor, Step, Tried, finished
from .finishing import GATEWAY_ACTOR, event_id
from .leases import leased
from .metrics import RECONCILED
from .runtime import GatewayRuntime
from .scheduling import next_check_at
from .unit_of_work import GatewayUnitOfWork
from .views import charge_view

_log = logging.getLogger(__name__)
HOLDER = "reconciler"
ACTION = "gateway.refund.reconcile"


class RefundReconciler:
    """Settles PENDING refunds whose check is due."""

    def __init__(self, rt: GatewayRuntime, executor: Executor, *, batch: int = 100) -> None:
        self._rt = rt
        self._executor = executor
        self._batch = batch

    async def run_once(self, now: datetime) -> int:
        """Ask about every due refund; how many were settled."""
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            due = await uow.refunds.due_checks(now, self._batch)
        settled = 0
        for refund, checks_done in due:
            try:
                settled += await self._settle(refund, checks_done)
            except GatewayError as exc:
                _log.info("reconciler skipped refund %s: %s", refund.id, exc)
        return settled

    async def _settle(self, seen: Refund, checks_done: int) -> int:
        rt = self._rt

        async def take(uow: GatewayUnitOfWork, payment: Payment) -> Payment:
            await uow.commit()
            return payment

        payment = await leased(rt, seen.payment_id, HOLDER, take, merchant_id=None, wait_s=0)
        async with GatewayUnitOfWork(rt.engine, read_only=True) as uow:
            attempt = await uow.attempts.latest(payment.id, Operation.REFUND, seen.id)
        adapter = rt.providers.get(attempt.provider) if attempt is not None else None
        if attempt is None or adapter is None:
            return await self._record(seen, checks_done, None, None)
        # The repeat is recorded as an attempt of its own, carrying the same provider key.
        repeat = replace(attempt, id=rt.new_id("att"), started_at=rt.clock(),
                         outcome=Outcome.PENDING, finished_at=None)  # fmt: skip
        view, key = charge_view(payment), attempt.idempotency_key
        amount, currency = seen.amount_minor, seen.currency
        tried = await self._executor.run(
            adapter, "refund", lambda p: p.refund(view, amount, currency, key)
        )
        return await self._record(seen, checks_done, tried, repeat)

    async def _record(
        self,
        seen: Refund,
        checks_done: int,
        tried: Tried[ProviderRefund] | None,
        repeat: Attempt | None,
    ) -> int:
        """Apply what the provider said, schedule the next check, release the lease."""
        rt, now = self._rt, self._rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            payment = await uow.payments.get_any(seen.payment_id)
            refund = await uow.refunds.get(seen.merchant_id, seen.id)
            assert payment is not None and refund is not None, seen.id
            read_p, read_r = payment.version, refund.version
            events = _apply(payment, refund, tried, now)
            if repeat is not None and tried is not None:
                await uow.attempts.add(finished(repeat, tried, now), payment.merchant_id, HOLDER)
            if payment.version != read_p:
                await uow.payments.update(payment, read_p)
            if refund.version != read_r:
                await uow.refunds.update(refund, read_r)
            settled = refund.status is not RefundStatus.PENDING
            at = None if settled else next_check_at(rt, refund.create_time, now, checks_done + 1)
            await uow.refunds.schedule_check(refund.id, at, checks_done + 1)
            await enqueue_events(uow, payment, events, now, fees=rt.fees, routing=rt.routing)
            if events:
                await enqueue_audit(uow, _note(payment, refund), payment.id, now)
            await uow.payments.release_lease(payment.id, HOLDER)
            await uow.commit()
        rt.kick()
        result = "settled" if settled else ("escalated" if at is None else "open")
        RECONCILED.labels("refund", result).inc()
        if result == "escalated":
            _log.error(
                "refund %s is still pending after every check: a person must look", refund.id
            )
        return int(settled)


def _apply(
    payment: Payment, refund: Refund, tried: Tried[ProviderRefund] | None, now: datetime
) -> list[PaymentEvent]:
    if tried is None or tried.step is not Step.DONE or tried.value is None:
        return []
    try:
        return apply_refund_view(payment, refund, tried.value, now)
    except ProviderViewConflict as exc:
        _log.error("reconciler: provider refund view conflicts with %s: %s", refund.id, exc)
        return []


def _note(payment: Payment, refund: Refund) -> AuditNote:
    return AuditNote(
        event_id=event_id("reconcile", refund.id, str(refund.version)),
        action=ACTION,
        merchant_id=payment.merchant_id,
        target=f"payments/{payment.id}/refunds/{refund.id}",
        actor_kind="service",
        actor_id=GATEWAY_ACTOR,
        details={
            "payment_id": payment.id,
            "refund_id": refund.id,
            "status": refund.status.value,
            "amount_minor": str(refund.amount_minor),
            "currency": refund.currency,
        },
    )
