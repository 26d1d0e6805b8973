"""The webhook delivery worker: sends the merchant events the state changes wrote.

It runs in every gateway process (``app``) and alone as ``python -m gateway_svc worker``;
any number of them share one database. Each claims deliveries from the queue
(``WebhookDeliveryRepository.claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
lock on SQLite), only the head of each endpoint's queue, so an endpoint has at most one
delivery in flight and receives its events in the order they were created.

``run_forever`` is a pipeline, so one slow receiver (15 s per attempt at worst) never holds
the others back: claimed deliveries are attempted concurrently, up to ``max_in_flight``,
and each result joins the next batch the recorder writes in one transaction (see
``webhook_delivery_attempts``). Claiming starts again whenever there is room: at once after
a ``kick`` (the request path calls it after committing, so a delivery starts within
milliseconds), after each recorded batch (an endpoint's next event is its head now), and
every ``idle_poll_s`` anyway (other processes' events, retries coming due).

Stopping (``stop``) lets attempts in flight finish for ``stop_grace_s``, records every
result, and hands back the claims still unanswered, so another worker sends them at once
rather than after their lease. A worker killed outright leaves its claims leased: they are
claimed again when the lease runs out, and a receiver may see an event twice (it dedupes on
``webhook-id``), never zero times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_event_store import QUEUED
from gateway_svc.adapters.webhook_records import ClaimedDelivery
from gateway_svc.domain.retry import Uniform
from gateway_svc.domain.webhooks import ATTEMPT_TIMEOUT_S
from svc_kit.tasks import cancel_and_wait

from .metrics import WEBHOOK_IN_FLIGHT
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork
from .webhook_delivery_attempts import Attempted, WebhookSenderPort, attempt, record

_log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How much a worker claims and holds, and how it waits."""

    batch: int = 64
    """Deliveries per claim statement."""
    max_in_flight: int = 256
    """Attempts of one worker at once (each to a different endpoint)."""
    lease_s: float = 4 * ATTEMPT_TIMEOUT_S
    """How long a claim is the worker's: longer than an attempt and its recording, so a
    live worker's claim never lapses; a dead worker's deliveries wait this long."""
    idle_poll_s: float = 1.0
    stop_grace_s: float = 2.0
    """How long ``stop`` lets attempts in flight finish before handing them back."""
    allow_private: bool = False
    """The development setting that lets loopback and private destinations through."""
    report_every_s: float = 10.0
    """How often a busy worker logs what it did (INFO), at most."""

    def __post_init__(self) -> None:
        if self.batch < 1 or self.max_in_flight < 1:
            raise ValueError("batch and max_in_flight must be at least 1")
        if self.lease_s <= 0 or self.idle_poll_s <= 0 or self.stop_grace_s < 0:
            raise ValueError("lease_s and idle_poll_s must be positive, stop_grace_s not negative")


class WebhookDeliveryWorker:
    """Claims, signs, sends and records merchant webhook deliveries (module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        sender: WebhookSenderPort,
        box: SecretBox,
        policy: DeliveryPolicy | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        rng: Uniform | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` times attempts and decides what is due; ``rng`` draws the retry
        schedule's jitter (tests pass both, to move time and seed the jitter).
        ``wall_clock`` (default ``clock``) stamps ``webhook-timestamp``, which a receiver
        checks against its own clock: a test moving ``clock`` hours ahead keeps it real."""
        self._engine = engine
        self._sender = sender
        self._box = box
        self.policy = policy or DeliveryPolicy()
        self._clock = clock
        self._wall_clock = wall_clock or clock
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._wake = asyncio.Event()
        self._queued_seen = QUEUED.value  # the start-up pass claims what came before
        self._task: asyncio.Task[None] | None = None
        self._held: dict[int, ClaimedDelivery] = {}
        """Claimed and not yet recorded, by delivery id."""
        self._attempts: set[asyncio.Task[None]] = set()
        self._done: list[Attempted] = []
        self._has_done = asyncio.Event()
        self._stopping = False
        self._tally: Counter[str] = Counter()
        self._reported_at = time.monotonic()

    def kick(self) -> None:
        """A state change was committed: claim now rather than at the next poll, if this
        process queued deliveries since the last kick (``QUEUED``); most changes queue none,
        and a claim per payment would cost more than the payment's own event."""
        if QUEUED.value != self._queued_seen:
            self._queued_seen = QUEUED.value
            self._wake.set()

    async def _claim(self, limit: int) -> list[ClaimedDelivery]:
        lease = timedelta(seconds=self.policy.lease_s)
        async with GatewayUnitOfWork(self._engine) as uow:
            claims = await uow.webhook_deliveries.claim(self._clock(), limit, lease)
            await uow.commit()
        return claims

    async def _attempt(self, claim: ClaimedDelivery) -> Attempted:
        return await attempt(
            claim,
            self._sender,
            self._box,
            self._clock(),
            signed_at=self._wall_clock(),
            allow_private=self.policy.allow_private,
        )

    async def _record(self, attempted: list[Attempted]) -> Counter[str]:
        tally = await record(self._engine, attempted, self._clock, self._rng)
        self._tally += tally
        return tally

    async def _release(self, claims: list[ClaimedDelivery]) -> None:
        async with GatewayUnitOfWork(self._engine) as uow:
            await uow.webhook_deliveries.release(claims, self._clock())
            await uow.commit()

    # -- one pass at a time (tests, benchmarks, drain) ----------------------------------------

    async def run_once(self) -> int:
        """One pass: claim a batch, attempt it concurrently, record every result in one
        transaction; how many deliveries it claimed."""
        claims = await self._claim(self.policy.batch)
        if not claims:
            return 0
        try:
            attempted = await asyncio.gather(*(self._attempt(c) for c in claims))
        except asyncio.CancelledError:
            await asyncio.shield(self._release(claims))
            raise
        await self._record(list(attempted))
        return len(claims)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Pass until nothing is due at the clock's now (retries scheduled later do not
        count); TimeoutError when that takes longer than ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if await self.run_once():
                continue
            async with GatewayUnitOfWork(self._engine, read_only=True) as uow:
                due = await uow.webhook_deliveries.next_due()
            if due is None or due > self._clock():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"webhook deliveries still due at {due.isoformat()}")
            await asyncio.sleep(0.01)

    # -- the pipeline (the gateway process, the worker command) -------------------------------

    async def run_forever(self) -> None:
        """Claim and attempt without pause while there is room and work; on cancellation,
        wind down (see the module docstring)."""
        recorder = asyncio.get_running_loop().create_task(self._record_forever())
        try:
            await self._claim_forever()
        finally:
            await asyncio.shield(self._wind_down(recorder))

    async def _claim_forever(self) -> None:
        while True:
            # Cleared before claiming: a kick meanwhile makes the wait below return at once.
            self._wake.clear()
            room = self.policy.max_in_flight - len(self._held)
            limit = min(self.policy.batch, room)
            claimed = 0
            if limit > 0:
                try:
                    claimed = self._start(await self._claim(limit))
                except Exception:  # noqa: BLE001 - the loop outlives a failed claim
                    _log.exception("webhook claim failed")
            self._report()
            if claimed and claimed == limit:
                continue  # a full batch: more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.idle_poll_s)

    def _start(self, claims: list[ClaimedDelivery]) -> int:
        loop = asyncio.get_running_loop()
        for claim in claims:
            self._held[claim.delivery_id] = claim
            task = loop.create_task(self._attempt_into_batch(claim))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)
        WEBHOOK_IN_FLIGHT.set(len(self._held))
        return len(claims)

    async def _attempt_into_batch(self, claim: ClaimedDelivery) -> None:
        attempted = await self._attempt(claim)
        # Read self._done only now: the recorder swaps the list while attempts run, and a
        # result added to the list it already took would never be recorded.
        self._done.append(attempted)
        self._has_done.set()

    async def _record_forever(self) -> None:
        """Write finished attempts as they come, all that finished meanwhile in one
        transaction, then make room for more claims."""
        while True:
            await self._has_done.wait()
            self._has_done.clear()
            batch, self._done = self._done, []
            if batch:
                await self._record(batch)
                for one in batch:
                    self._held.pop(one.claim.delivery_id, None)
                WEBHOOK_IN_FLIGHT.set(len(self._held))
                self._wake.set()
            if self._stopping and not self._done:
                return

    async def _wind_down(self, recorder: asyncio.Task[None]) -> None:
        """Let attempts finish for the grace, record every result, release the rest."""
        pending: set[asyncio.Task[None]] = set(self._attempts)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=self.policy.stop_grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._stopping = True
        self._has_done.set()
        await recorder
        unanswered = list(self._held.values())
        self._held.clear()
        WEBHOOK_IN_FLIGHT.set(0)
        if unanswered:
            try:
                await self._release(unanswered)
            except Exception:  # noqa: BLE001 - their leases bring them back instead
                _log.exception("could not release %d webhook claims", len(unanswered))
        self._report(force=True)
        _log.info("webhook worker stopped; %d unanswered claims handed back", len(unanswered))

    def _report(self, *, force: bool = False) -> None:
        """Log what was done since the last report, at most every ``report_every_s``."""
        now = time.monotonic()
        if not self._tally or (not force and now - self._reported_at < self.policy.report_every_s):
            return
        done = ", ".join(f"{count} {result}" for result, count in sorted(self._tally.items()))
        _log.info("webhook deliveries in the last %.0f s: %s", now - self._reported_at, done)
        self._tally.clear()
        self._reported_at = now

    def start(self) -> None:
        """Run ``run_forever`` as a task of the running loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        """Stop the loop and wind down (the sender stays open: its owner closes it)."""
        await cancel_and_wait(self._task)
        self._task = None


def kick_on_commit(runtime: GatewayRuntime, kick: Callable[[], None]) -> None:
    """Make every commit that calls ``runtime.kick()`` (the use cases do after writing
    outbox work, events included) wake ``kick`` too, after what it woke already."""
    before = runtime.on_commit

    def both() -> None:
        if before is not None:
            before()
        kick()

    runtime.on_commit = both
