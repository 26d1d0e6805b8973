"""The outbox relay: delivers ledger postings and audit records written by the use cases.

A pass claims a batch (the oldest due item of each group, leased so another replica skips
it), applies the items outside any transaction, then records each result. The audit records
of a pass go to identity in one RecordAuditEvents call, and the ledger creates in one
CreateTransactions call (each item on its own); posts, voids and reverses go one by one.
Under load a pass carries many payments' items, so a payment costs the ledger and identity a
fraction of a call each:

- delivered: marked done (a hold's ledger transaction id is remembered, for its post/void);
- failed: tried again after an exponential backoff with full jitter (``available_at``);
- refused by the ledger or identity (or failing too often): logged at ERROR, counted in
  ``gateway_outbox_parked_total``, and parked. A parked item is never dropped: it keeps
  blocking its group until an operator clears it, because the next posting of that payment
  depends on it.

Every delivery is idempotent on the item's request id / event id, so at-least-once delivery
(a relay dying between applying and marking) never counts twice. The request path calls
``kick`` after committing, so postings normally land within milliseconds; ``drain`` waits
until nothing deliverable is left (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.internal_rpc import UpstreamRefused
from gateway_svc.adapters.outbox import OutboxItem
from svc_kit.tasks import cancel_and_wait

from .effects import AUDIT, LEDGER
from .metrics import OUTBOX_DELIVERED, OUTBOX_FAILURES, OUTBOX_PARKED
from .ports import AuditPort, LedgerPort
from .relay_apply import Delivered, LedgerApplier, NotReady, audit_event, is_create
from .unit_of_work import GatewayUnitOfWork

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Batch size, leases and how long to keep trying before an operator must look."""

    batch: int = 64
    lease_s: float = 30.0
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 300.0
    max_failures: int = 25
    """Unavailable answers (or anything unexpected) before an item is parked."""
    max_refusals: int = 3
    """Refusals before an item is parked: a refusal rarely changes, but a hold that is
    still being created elsewhere can turn a first refusal into a success."""
    idle_poll_s: float = 1.0


@dataclass
class _Pass:
    done: list[int] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)
    retry: list[tuple[OutboxItem, str]] = field(default_factory=list)
    park: list[tuple[OutboxItem, str]] = field(default_factory=list)


class OutboxRelay:
    """Drains the outbox into the ledger and identity's audit log."""

    def __init__(
        self,
        engine: AsyncEngine,
        ledger: LedgerPort,
        audit: AuditPort,
        policy: RelayPolicy | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._ledger = LedgerApplier(engine, ledger, clock)
        self._policy = policy or RelayPolicy()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """New work was committed: run a pass now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """One pass; how many items it claimed."""
        now = self._clock()
        async with GatewayUnitOfWork(self._engine) as uow:
            items = await uow.outbox.claim(
                now, self._policy.batch, timedelta(seconds=self._policy.lease_s)
            )
            await uow.commit()
        if not items:
            return 0
        result = _Pass()
        try:
            # Items of a pass belong to different groups, so they may go out concurrently:
            # the audit records in one call, the ledger creates in one, the rest each alone.
            await asyncio.gather(*self._deliveries(items, result))
        except asyncio.CancelledError:
            # Stopped mid-pass (a deploy): record what went out and hand the rest back now,
            # not after lease_s, so a restarted or sibling relay delivers it at once. A
            # repeat of an item whose call did land is harmless: delivery is idempotent.
            await asyncio.shield(self._record(result, release=items))
            raise
        await self._record(result)
        return len(items)

    def _deliveries(self, items: list[OutboxItem], result: _Pass) -> list[Awaitable[None]]:
        """The calls of a pass: a batch call per kind where the service has one (an item
        costs the ledger or identity a fraction of a call), single calls for the rest."""
        audits = [item for item in items if item.kind == AUDIT]
        creates = [item for item in items if item.kind == LEDGER and is_create(item.payload)]
        batched = {item.id for item in (*audits, *creates)}
        singles = [item for item in items if item.id not in batched]
        return [
            self._deliver_audits(audits, result),
            self._deliver_creates(creates, result),
            *(self._deliver(item, result) for item in singles),
        ]

    async def _deliver(self, item: OutboxItem, result: _Pass) -> None:
        try:
            if item.kind == LEDGER:
                delivered = await self._ledger.apply(item.payload)
            elif item.kind == AUDIT:
                await self._audit.record([audit_event(item.payload)])
                delivered = Delivered()
            else:
                raise ValueError(f"unknown outbox kind {item.kind!r}")
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
            self._settle(item, exc, result)
            return
        self._settle(item, delivered, result)

    async def _deliver_audits(self, items: list[OutboxItem], result: _Pass) -> None:
        """All audit records of a pass in one RecordAuditEvents (all or none). If identity
        refuses the batch, each record goes alone, so only the record at fault is held."""
        if not items:
            return
        try:
            await self._audit.record([audit_event(item.payload) for item in items])
        except UpstreamRefused as exc:
            if len(items) == 1:
                self._settle(items[0], exc, result)
            else:
                await asyncio.gather(*(self._deliver(item, result) for item in items))
            return
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
            for item in items:
                self._settle(item, exc, result)
            return
        for item in items:
            self._settle(item, Delivered(), result)

    async def _deliver_creates(self, items: list[OutboxItem], result: _Pass) -> None:
        """All ledger creates of a pass in one CreateTransactions, each item on its own."""
        if not items:
            return
        outcomes = await self._ledger.apply_creates([item.payload for item in items])
        for item, outcome in zip(items, outcomes, strict=True):
            self._settle(item, outcome, result)

    def _settle(self, item: OutboxItem, outcome: Delivered | Exception, result: _Pass) -> None:
        """Record one item's outcome in the pass: done, to retry, or parked."""
        if isinstance(outcome, NotReady):
            result.retry.append((item, str(outcome)))
        elif isinstance(outcome, UpstreamRefused):
            error = f"refused: {outcome.reason}: {outcome.message}"
            self._failed(item, outcome.reason, error, result, refused=True)
        elif isinstance(outcome, Exception):
            reason = getattr(outcome, "reason", type(outcome).__name__)
            error = f"{type(outcome).__name__}: {outcome}"
            self._failed(item, str(reason), error, result, refused=False)
        else:
            OUTBOX_DELIVERED.labels(item.kind).inc()
            result.done.append(item.id)
            if outcome.transaction_id:
                result.refs.append((outcome.request_id, outcome.transaction_id))

    def _failed(
        self, item: OutboxItem, reason: str, error: str, result: _Pass, *, refused: bool
    ) -> None:
        """Count a failure; park the item once it failed too often (a refusal sooner)."""
        OUTBOX_FAILURES.labels(item.kind, reason).inc()
        limit = self._policy.max_refusals if refused else self._policy.max_failures
        if item.attempts + 1 >= limit:
            OUTBOX_PARKED.labels(item.kind, reason).inc()
            _log.error(
                "outbox item parked: %s %s after %d tries: %s",
                item.kind, item.dedupe_key, item.attempts + 1, error,
            )  # fmt: skip
            result.park.append((item, error))
            return
        log = _log.error if refused else _log.warning
        log("outbox item failed: %s %s: %s", item.kind, item.dedupe_key, error)
        result.retry.append((item, error))

    async def _record(self, result: _Pass, release: list[OutboxItem] | None = None) -> None:
        now = self._clock()
        handled = {*result.done, *(i.id for i, _ in result.retry), *(i.id for i, _ in result.park)}
        unfinished = [item.id for item in release or [] if item.id not in handled]
        async with GatewayUnitOfWork(self._engine) as uow:
            await uow.outbox.release(unfinished, now)
            await uow.ledger_refs.remember_transactions(result.refs, now)
            await uow.outbox.complete(result.done, now)
            for item, error in result.retry:
                await uow.outbox.fail(item.id, error, now + self._backoff(item.attempts))
            for item, error in result.park:
                await uow.outbox.park(item.id, error, now)
            await uow.commit()

    def _backoff(self, failures: int) -> timedelta:
        p = self._policy
        ceiling = min(p.backoff_cap_s, p.backoff_base_s * 2 ** min(failures, 32))
        return timedelta(seconds=self._rng.uniform(0, ceiling))

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Deliver until no deliverable item is left (parked items, and the items queued
        behind them, do not count); raises TimeoutError with the count when that takes
        longer than ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if await self.run_once():
                continue
            async with GatewayUnitOfWork(self._engine, read_only=True) as uow:
                pending = await uow.outbox.deliverable_count()
                due = await uow.outbox.next_due()
            if pending == 0:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{pending} outbox item(s) still undelivered")
            wait_s = 0.0 if due is None else (due - self._clock()).total_seconds()
            await asyncio.sleep(min(max(wait_s, 0.005), 0.2))

    async def run_forever(self) -> None:
        """The background loop: a pass on every kick, and every ``idle_poll_s`` anyway."""
        while True:
            # Cleared before the pass: a kick during the pass makes the next wait return.
            self._wake.clear()
            try:
                if await self.run_once():
                    continue
            except Exception:  # noqa: BLE001 - the loop outlives a failed pass
                _log.exception("outbox relay pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._policy.idle_poll_s)

    def start(self) -> None:
        """Run ``run_forever`` as a task of the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        """Cancel the background task (items in flight are claimed again after their lease)."""
        await cancel_and_wait(self._task)
        self._task = None
