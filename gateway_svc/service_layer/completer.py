"""Brandur Leach's completer and reaper, and the sweep of abandoned attempts.

- Completer: a key locked longer than the lock timeout and not FINISHED belongs to a request
  whose process died (or stalled). It is taken over (compare-and-set, so a live retry and the
  completer never both own it) and pushed on from its recovery point by its flow's
  ``resume``: STARTED is dropped (nothing happened), PAYMENT_CREATED settles the pending
  call (a capture, cancel or refund is repeated with its idempotency key; an authorization is
  looked up, never sent again without the card), and the key is left at PROVIDER_CALLED,
  unlocked, so the client's retry only renders.
- Orphans: a PENDING attempt older than the lock timeout whose key is gone or finished has
  nobody to resume it; its payment goes UNKNOWN (its refund stays PENDING) with a check due
  now, and the reconciler's payment or refund pass settles it.
- Reaper: keys older than the retention (72 h by default, never under 24 h) that no live
  request holds are deleted, and so are outbox items delivered longer ago than that.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from gateway_svc.adapters.attempt_store import OwnedAttempt
from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.attempts import Operation
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

from . import keys
from .effects import enqueue_events
from .leases import leased
from .metrics import RECONCILED
from .scheduling import to_unknown
from .unit_of_work import GatewayUnitOfWork

if TYPE_CHECKING:
    from .payments import PaymentService

_log = logging.getLogger(__name__)
HOLDER = "reconciler"


class Completer:
    """Finishes abandoned requests and attempts; reaps old keys."""

    def __init__(self, service: PaymentService, *, batch: int = 100) -> None:
        self._service = service
        self._rt = service.runtime
        self._batch = batch

    async def run_once(self, now: datetime) -> tuple[int, int, int]:
        """(keys completed, orphan attempts swept, keys reaped) at ``now``."""
        return await self._keys(now), await self._orphans(now), await self._reap(now)

    async def _keys(self, now: datetime) -> int:
        rt = self._rt
        async with GatewayUnitOfWork(rt.engine, read_only=True) as uow:
            stale = await uow.keys.stale(now - rt.lock_timeout, self._batch)
        done = 0
        for row in stale:
            async with GatewayUnitOfWork(rt.engine) as uow:
                taken = await uow.keys.take_over(row.record, now)
                await uow.commit()
            if not taken:
                continue  # a client's retry took it first
            hold = keys.stored(row)
            hold = keys.KeyHold(idem.take_over(hold.record, now), hold.operation, hold.refund_id)
            try:
                await self._resume(hold)
                done += 1
                RECONCILED.labels("key", "completed").inc()
            except Exception:  # noqa: BLE001 - one bad key must not stop the pass
                _log.exception("completer could not resume key %s", row.record.key)
        return done

    async def _resume(self, hold: keys.KeyHold) -> None:
        service = self._service
        if hold.operation == keys.CREATE:
            await service.creating.resume(hold)
        elif hold.operation in (keys.CAPTURE, keys.CANCEL):
            await service.mutating.resume(hold)
        elif hold.operation == keys.REFUND:
            await service.refunding.resume(hold)
        else:
            raise ValueError(f"unknown key operation {hold.operation!r}")

    async def _orphans(self, now: datetime) -> int:
        rt = self._rt
        async with GatewayUnitOfWork(rt.engine, read_only=True) as uow:
            stale = await uow.attempts.stale_pending(now - rt.lock_timeout, self._batch)
            orphans = [
                owned
                for owned in stale
                if not await uow.keys.open_for(owned.merchant_id, owned.request_key)
            ]
        swept = 0
        for owned in orphans:
            try:
                await self._sweep(owned, now)
                swept += 1
            except GatewayError as exc:
                _log.info("orphan attempt %s skipped: %s", owned.attempt.id, exc)
        return swept

    async def _sweep(self, owned: OwnedAttempt, now: datetime) -> None:
        """Finish an abandoned attempt as UNKNOWN and hand its payment to the reconciler."""
        rt, attempt = self._rt, owned.attempt

        async def sweep(uow: GatewayUnitOfWork, payment: Payment) -> None:
            lost = ProviderError(
                ErrorKind.UNKNOWN,
                DeclineCode.UNKNOWN_OUTCOME,
                "abandoned: the gateway stopped during the call; the reconciler asks the provider",
            )
            await uow.attempts.save(attempt.finish_with_error(lost, now, 0))
            if attempt.operation is Operation.REFUND:
                await uow.refunds.schedule_check(attempt.refund_id, now, 0)
            else:
                read = payment.version
                events = to_unknown(payment, now)
                if events:
                    await uow.payments.update(payment, read)
                    await enqueue_events(uow, payment, events, now, fees=rt.fees,
                                         routing=rt.routing)  # fmt: skip
                if payment.status is PaymentStatus.UNKNOWN:
                    await uow.payments.schedule_check(payment.id, now, 0)
            await uow.payments.release_lease(payment.id, HOLDER)
            await uow.commit()

        await leased(rt, attempt.payment_id, HOLDER, sweep, merchant_id=None, wait_s=0)
        RECONCILED.labels("attempt", "orphaned").inc()

    async def _reap(self, now: datetime) -> int:
        """Reap old keys, and outbox items delivered longer ago than the same retention
        (the outbox must stay small: its claim scans what is left of it)."""
        rt = self._rt
        async with GatewayUnitOfWork(rt.engine) as uow:
            reaped = await uow.keys.reap(now - rt.retention, now - rt.lock_timeout, self._batch)
            delivered = await uow.outbox.reap(now - rt.retention, self._batch)
            await uow.commit()
        if reaped:
            RECONCILED.labels("key", "reaped").inc(reaped)
        if delivered:
            RECONCILED.labels("outbox", "reaped").inc(delivered)
        return reaped
