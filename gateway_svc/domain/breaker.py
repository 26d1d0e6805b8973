"""One circuit breaker per provider: a pure state machine driven by an injected clock.

States and transitions::

    CLOSED --(failure rate >= threshold over the window, at least min_calls)--> OPEN
    OPEN   --(cool-down elapsed, or a forced probe when every provider is open)--> HALF_OPEN
    HALF_OPEN --(probe_successes successful probes)--> CLOSED   (cool-down resets)
    HALF_OPEN --(any failed probe)--> OPEN                      (cool-down grows, capped)

The window is time-based (``window_s``): a burst of failures an hour ago says nothing about
the provider now, whereas a count-based window on a quiet provider would keep them forever.
``min_calls`` stops two failures out of three calls at night from opening the circuit.

Only RETRIABLE and UNKNOWN errors count as failures (``outcome_of``): a card decline or an
INVALID request is the provider answering, which is exactly what a healthy provider does.

HALF_OPEN lets at most ``probe_calls`` calls through at once. A probe whose outcome is never
recorded (the caller crashed) frees its slot after ``probe_timeout_s``, so a lost probe
cannot wedge the breaker half-open forever.

Every transition is passed to the ``on_transition`` listener (for logs and metrics) in the
call that caused it. Time only moves when a method is called: ``state``, ``allow`` and
``record`` all first apply the cool-down that has elapsed by ``now``.

Why not pybreaker: it counts consecutive failures instead of an error rate over a window,
reads the wall clock itself (no injected clock, so no deterministic tests), wraps the call
(``breaker.call(fn)``) where our service layer needs to report outcomes it classified
itself, lets exactly one trial call through when half-open, and its async support goes
through Tornado. What we need is a per-process state machine of about a hundred lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .providers import ErrorKind, Provider, ProviderError

__all__ = [
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "Breakers",
    "CallOutcome",
    "CircuitBreaker",
    "Transition",
    "outcome_of",
]


class BreakerState(StrEnum):
    """Where a breaker stands (values appear in logs and metrics)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CallOutcome(StrEnum):
    """What one provider call says about the provider's health."""

    SUCCESS = "success"
    FAILURE = "failure"


def outcome_of(error: ProviderError | None) -> CallOutcome:
    """A call's health outcome: only RETRIABLE and UNKNOWN errors are failures."""
    if error is not None and error.kind in (ErrorKind.RETRIABLE, ErrorKind.UNKNOWN):
        return CallOutcome.FAILURE
    return CallOutcome.SUCCESS


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Thresholds and timings; the defaults suit a card provider's few-second calls."""

    window_s: float = 60.0
    min_calls: int = 10
    failure_rate: float = 0.5
    """Opens when failures / calls in the window reaches this (resilience4j's >= rule)."""
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0
    cooldown_factor: float = 2.0
    """Each failed probe multiplies the cool-down, up to ``max_cooldown_s``."""
    probe_calls: int = 1
    probe_successes: int = 1
    probe_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        # Settings feed these, so a bad value is a real error, not an assertion.
        checks = {
            "window_s > 0 and min_calls >= 1": self.window_s > 0 and self.min_calls >= 1,
            "0 < failure_rate <= 1": 0.0 < self.failure_rate <= 1.0,
            "0 < cooldown_s <= max_cooldown_s": 0 < self.cooldown_s <= self.max_cooldown_s,
            "cooldown_factor >= 1": self.cooldown_factor >= 1.0,
            "probe_calls, probe_successes >= 1": min(self.probe_calls, self.probe_successes) >= 1,
            "probe_timeout_s > 0": self.probe_timeout_s > 0,
        }
        broken = [rule for rule, ok in checks.items() if not ok]
        if broken:
            raise ValueError(f"breaker policy needs {'; '.join(broken)}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for the service layer's logs and metrics."""

    provider: Provider
    from_state: BreakerState
    to_state: BreakerState
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What routing needs: the state, and when the breaker last opened (None if never)."""

    state: BreakerState
    opened_at: float | None


class CircuitBreaker:
    """The breaker of one provider. Not thread-safe: one per process, used from one loop."""

    def __init__(
        self,
        provider: Provider,
        policy: BreakerPolicy | None = None,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy or BreakerPolicy()
        self._listener = on_transition
        self._state = BreakerState.CLOSED
        self._calls: deque[tuple[float, bool]] = deque()  # (at, failed), oldest first
        self._failures = 0
        """How many of ``_calls`` failed, kept as they come and go: counting the window on
        every call cost a busy provider's hot path a scan of thousands of entries."""
        self._opened_at: float | None = None
        self._cooldown_s = self.policy.cooldown_s
        self._probes: list[float] = []  # deadlines of probes in flight
        self._probe_wins = 0

    def state(self, now: float) -> BreakerState:
        """The state at ``now``, after any cool-down that has elapsed."""
        self._advance(now)
        return self._state

    def snapshot(self, now: float) -> BreakerSnapshot:
        """State and last opening time, for ``routing.route``."""
        return BreakerSnapshot(self.state(now), self._opened_at)

    def allow(self, now: float, *, force_probe: bool = False) -> bool:
        """May a call go to the provider now? In HALF_OPEN this takes a probe slot.

        ``force_probe`` half-opens an OPEN breaker before its cool-down ends; routing asks
        for it when every provider is open (see ``routing``).
        """
        self._advance(now)
        if self._state is BreakerState.OPEN and force_probe:
            self._half_open(now, "forced probe: every provider is open")
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return False
        self._probes = [d for d in self._probes if d > now]
        if len(self._probes) >= self.policy.probe_calls:
            return False
        self._probes.append(now + self.policy.probe_timeout_s)
        return True

    def record(self, now: float, outcome: CallOutcome) -> None:
        """Report a finished call's outcome (see ``outcome_of``)."""
        self._advance(now)
        failed = outcome is CallOutcome.FAILURE
        if self._state is BreakerState.CLOSED:
            self._record_closed(now, failed)
        elif self._state is BreakerState.HALF_OPEN:
            self._record_probe(now, failed)
        # OPEN: a call that started before the circuit opened finished late; it says nothing
        # the opening did not already say.

    def _record_closed(self, now: float, failed: bool) -> None:
        self._calls.append((now, failed))
        self._failures += failed
        self._evict(now)
        calls, failures = len(self._calls), self._failures
        if failed and calls >= self.policy.min_calls:
            rate = failures / calls
            if rate >= self.policy.failure_rate:
                self._open(now, f"{failures} of {calls} calls failed in {self.policy.window_s}s")

    def _record_probe(self, now: float, failed: bool) -> None:
        if self._probes:
            self._probes.pop(0)
        if failed:
            self._cooldown_s = min(
                self._cooldown_s * self.policy.cooldown_factor, self.policy.max_cooldown_s
            )
            self._open(now, "a probe failed")
            return
        self._probe_wins += 1
        if self._probe_wins >= self.policy.probe_successes:
            self._cooldown_s = self.policy.cooldown_s
            self._move(now, BreakerState.CLOSED, f"{self._probe_wins} probe(s) succeeded")

    def _evict(self, now: float) -> None:
        horizon = now - self.policy.window_s
        while self._calls and self._calls[0][0] <= horizon:
            self._failures -= self._calls.popleft()[1]

    def _advance(self, now: float) -> None:
        opened_at = self._opened_at
        if (
            self._state is BreakerState.OPEN
            and opened_at is not None
            and now - opened_at >= self._cooldown_s
        ):
            self._half_open(now, f"cool-down of {self._cooldown_s}s elapsed")

    def _open(self, now: float, reason: str) -> None:
        self._opened_at = now
        self._calls.clear()
        self._failures = 0
        self._move(now, BreakerState.OPEN, reason)

    def _half_open(self, now: float, reason: str) -> None:
        self._probes = []
        self._probe_wins = 0
        self._move(now, BreakerState.HALF_OPEN, reason)

    def _move(self, now: float, to: BreakerState, reason: str) -> None:
        transition = Transition(self.provider, self._state, to, now, reason)
        self._state = to
        if self._listener is not None:
            self._listener(transition)


class Breakers:
    """One breaker per provider, made on first use with a shared policy and listener."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self._policy = policy or BreakerPolicy()
        self._listener = on_transition
        self._by_provider: dict[Provider, CircuitBreaker] = {}

    def __getitem__(self, provider: Provider) -> CircuitBreaker:
        breaker = self._by_provider.get(provider)
        if breaker is None:
            breaker = CircuitBreaker(provider, self._policy, self._listener)
            self._by_provider[provider] = breaker
        return breaker

    def snapshots(self, now: float) -> dict[Provider, BreakerSnapshot]:
        """Every known breaker's snapshot at ``now``; an unknown provider counts as CLOSED."""
        return {p: b.snapshot(now) for p, b in self._by_provider.items()}
