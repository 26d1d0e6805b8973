"""The status poller: moves conversions and payouts along the provider's statuses.

Webhooks come with the next issue; until then (and afterwards, as the safety net) each pass
asks the provider about every conversion and payout whose check is due (``PollPolicy``: 5 s
after the create, then doubling up to every 15 minutes, until final):

- one with the provider's id is read (``get_conversion`` / ``get_payment``);
- one without (its create's answer never arrived) is looked up by our id, which the
  provider's idempotency key derives from (``find_*``): found, it is followed from then on;
  not found once older than the lock timeout (no request can still be sending it) and the
  runtime's not-found grace (a provider's search may lag its writes), it never reached the
  provider, and it fails, releasing its hold.

The provider's view is applied by the domain (``apply_provider_view``); each change's
postings go to the outbox (``fx_effects``): a booked conversion posts its hold, one closed
after booking is reversed; a completed payout posts its hold and charges the fee, a failed or
canceled one voids it. A view that contradicts a final status is logged for a person and
changes nothing. Every change is audited, with the gateway as the actor.

Each pass also forgets quotes that expired unused a day ago.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway_svc.domain.conversions import Conversion, ConversionTransition
from gateway_svc.domain.errors import GatewayError, ProviderViewConflict
from gateway_svc.domain.fx_provider import ConversionView, PayoutView
from gateway_svc.domain.payouts import Payout, PayoutTransition

from .fx_calls import FxCaller, FxStep, FxTried
from .fx_effects import (
    PollPolicy,
    audit,
    conversion_details,
    enqueue_conversion_changes,
    enqueue_payout_changes,
    payout_details,
)
from .fx_holds import FailureCode, failure
from .fx_uow import FxUnitOfWork
from .metrics import RECONCILED
from .runtime import GatewayRuntime

_log = logging.getLogger(__name__)
QUOTE_RETENTION = timedelta(days=1)
NOT_AT_PROVIDER = "the provider has no record of it: the request never reached it"


@dataclass(frozen=True, slots=True)
class FxPollReport:
    """What one pass did: objects that changed status, quotes forgotten."""

    conversions: int = 0
    payouts: int = 0
    quotes: int = 0


class FxStatusPoller:
    """Polls open conversions and payouts; ``run_once`` for tests, ``run_forever`` in the
    service."""

    def __init__(
        self, rt: GatewayRuntime, caller: FxCaller, poll: PollPolicy, *, batch: int = 100
    ) -> None:
        self._rt = rt
        self._caller = caller
        self._poll = poll
        self._batch = batch
        self._settle_after = max(rt.lock_timeout, rt.not_found_grace)

    async def run_once(self, now: datetime | None = None) -> FxPollReport:
        """One pass over everything due at ``now`` (default: the runtime's clock)."""
        now = now or self._rt.clock()
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            conversions = await uow.conversions.due(now, self._batch)
            payouts = await uow.payouts.due(now, self._batch)
        moved_c = moved_p = 0
        for conversion, checks_done in conversions:
            moved_c += await self._guard(self._conversion(conversion, checks_done), conversion.id)
        for payout, checks_done in payouts:
            moved_p += await self._guard(self._payout(payout, checks_done), payout.id)
        async with FxUnitOfWork(self._rt.engine) as uow:
            reaped = await uow.quotes.reap(now - QUOTE_RETENTION, self._batch)
            await uow.commit()
        return FxPollReport(moved_c, moved_p, reaped)

    async def run_forever(self, interval_s: float) -> None:
        """A pass every ``interval_s`` until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the loop outlives a failed pass
                _log.exception("fx status poller pass failed")
            await asyncio.sleep(interval_s)

    async def _guard(self, work: Awaitable[int], object_id: str) -> int:
        try:
            return await work
        except GatewayError as exc:  # changed under us: the next pass sees the new state
            _log.info("fx poller skipped %s: %s", object_id, exc)
            return 0

    async def _conversion(self, seen: Conversion, checks_done: int) -> int:
        ref, cid = seen.provider_ref, seen.id
        tried: FxTried[ConversionView | None] = (
            await self._caller.run("get_conversion", lambda p: p.get_conversion(ref))
            if ref
            else await self._caller.run("find_conversion", lambda p: p.find_conversion(cid))
        )
        rt, now = self._rt, self._rt.clock()
        async with FxUnitOfWork(rt.engine) as uow:
            c = await uow.conversions.get_any(cid)
            assert c is not None, cid
            read = c.version
            changes = self._follow_conversion(c, tried, now) if not c.is_final else []
            await uow.conversions.update(c, read)
            at = None if c.is_final else self._poll.next_at(now, checks_done + 1)
            await uow.conversions.schedule_check(c.id, at, checks_done + 1)
            await enqueue_conversion_changes(uow, c, changes, now)
            if changes:
                await audit(uow, action="gateway.conversion.reconcile", merchant_id=c.merchant_id,
                            target=f"conversions/{c.id}", actor_key_id="",
                            event_parts=("reconcile", c.id, str(c.version)),
                            details=conversion_details(c), now=now)  # fmt: skip
            await uow.commit()
        rt.kick()
        return _counted("conversion", bool(changes))

    def _follow_conversion(
        self, c: Conversion, tried: FxTried[ConversionView | None], now: datetime
    ) -> list[ConversionTransition]:
        if tried.step is not FxStep.DONE:
            return []  # the provider cannot say now: ask again at the next check
        if tried.value is None:
            if now - c.created_at < self._settle_after:
                return []
            return c.fail(failure(FailureCode.PROVIDER_UNAVAILABLE, NOT_AT_PROVIDER), now)
        try:
            return c.apply_provider_view(tried.value, now)
        except ProviderViewConflict as exc:
            _log.error("fx poller: provider view conflicts with conversion %s: %s", c.id, exc)
            return []

    async def _payout(self, seen: Payout, checks_done: int) -> int:
        ref, pid = seen.provider_ref, seen.id
        tried: FxTried[PayoutView | None] = (
            await self._caller.run("get_payment", lambda p: p.get_payment(ref))
            if ref
            else await self._caller.run("find_payment", lambda p: p.find_payment(pid))
        )
        rt, now = self._rt, self._rt.clock()
        async with FxUnitOfWork(rt.engine) as uow:
            p = await uow.payouts.get_any(pid)
            assert p is not None, pid
            read = p.version
            changes = self._follow_payout(p, tried, now) if not p.is_final else []
            await uow.payouts.update(p, read)
            at = None if p.is_final else self._poll.next_at(now, checks_done + 1)
            await uow.payouts.schedule_check(p.id, at, checks_done + 1)
            await enqueue_payout_changes(uow, p, changes, now)
            if changes:
                await audit(uow, action="gateway.payout.reconcile", merchant_id=p.merchant_id,
                            target=f"payouts/{p.id}", actor_key_id="",
                            event_parts=("reconcile", p.id, str(p.version)),
                            details=payout_details(p), now=now)  # fmt: skip
            await uow.commit()
        rt.kick()
        return _counted("payout", bool(changes))

    def _follow_payout(
        self, p: Payout, tried: FxTried[PayoutView | None], now: datetime
    ) -> list[PayoutTransition]:
        if tried.step is not FxStep.DONE:
            return []
        if tried.value is None:
            if now - p.created_at < self._settle_after:
                return []
            return p.fail(failure(FailureCode.PROVIDER_UNAVAILABLE, NOT_AT_PROVIDER), now)
        try:
            return p.apply_provider_view(tried.value, now)
        except ProviderViewConflict as exc:
            _log.error("fx poller: provider view conflicts with payout %s: %s", p.id, exc)
            return []


def _counted(what: str, moved: bool) -> int:
    RECONCILED.labels(what, "moved" if moved else "open").inc()
    return int(moved)
