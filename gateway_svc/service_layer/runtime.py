"""Everything the payment use cases run on, in one value built at start-up.

Clocks, sleep and randomness are injected so tests can move time (a lock timeout, a breaker's
cool-down, a reconciler schedule) without waiting for it, and seed the backoff jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.domain.breaker import Breakers
from gateway_svc.domain.idempotency import LOCK_TIMEOUT, RETENTION
from gateway_svc.domain.postings import FeeSchedule
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.retry import ReconcileSchedule, RetryBudget, RetryPolicy, Uniform
from gateway_svc.domain.routing import RoutingTable, default_table
from svc_kit.ids import new_id

from .ports import PaymentProvider


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class GatewayRuntime:
    """The use cases' dependencies and knobs; one per process."""

    engine: AsyncEngine
    providers: Mapping[Provider, PaymentProvider]
    """The configured adapters; routing skips a provider without one."""
    routing: RoutingTable = field(default_factory=default_table)
    breakers: Breakers = field(default_factory=Breakers)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    budgets: dict[Provider, RetryBudget] = field(default_factory=dict)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    """The platform fee on every capture (settings: platform_fee_bps / _fixed_minor)."""
    lock_timeout: timedelta = LOCK_TIMEOUT
    """A key (and a payment lease) held longer than this may be taken over."""
    retention: timedelta = RETENTION
    lease_wait_s: float = 10.0
    """How long a mutation waits for another mutation of the same payment to finish before
    answering CONCURRENT_MODIFICATION."""
    lease_poll_s: float = 0.02
    reconcile: ReconcileSchedule = field(default_factory=ReconcileSchedule)
    not_found_grace: timedelta = timedelta(0)
    """How old an authorization must be before the provider's "no such payment" proves it
    never took effect: a provider's search may lag its writes."""
    clock: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic
    """Seconds for breakers and latencies: never goes back, unlike ``clock``."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Uniform = field(default_factory=random.Random)
    new_id: Callable[[str], str] = new_id
    on_commit: Callable[[], None] | None = None
    """Called after a commit that enqueued outbox work: the relay's ``kick``."""

    def budget(self, provider: Provider) -> RetryBudget:
        """The provider's retry budget, made on first use."""
        found = self.budgets.get(provider)
        if found is None:
            found = self.budgets[provider] = RetryBudget()
        return found

    def kick(self) -> None:
        """Tell the relay there is new outbox work."""
        if self.on_commit is not None:
            self.on_commit()
