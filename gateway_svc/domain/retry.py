"""What to do after a failed provider call: wait and retry, fail over, or stop.

The service layer calls ``decide`` after each failed call and obeys the answer:

==========  =========================================  ===============================
ErrorKind   while attempts, budget and wait allow       otherwise
==========  =========================================  ===============================
RETRIABLE   RetrySame, if the call carries the          FailOver
            provider's idempotency key or was never
            sent; else FailOver at once
UNKNOWN     RetrySame, only with the idempotency key    StopUnknown (never FailOver)
            (the retry is then the same operation)
INVALID     FailOver: retrying cannot help, another provider may accept
DECLINED    StopFailed: a decline is a result and should never get here
==========  =========================================  ===============================

Why UNKNOWN never fails over: the first provider may have charged. Charging a second one
could take the money twice, so the attempt is left to the reconciler, which asks the
provider (``next_check`` is its schedule, after Kill Bill's janitor).

Backoff is exponential with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): ``uniform(0, min(cap, base * 2**n))``, so synchronized clients spread out. A
provider's ``retry_after_s`` is a floor on the delay; when it asks for longer than
``max_wait_s`` a payment request cannot wait that long in-line, so RETRIABLE fails over and
UNKNOWN stops for the reconciler.

``RetryBudget`` is gRPC's retry throttling (gRFC A6): each failure costs a token, each success
returns ``token_ratio``, and retries are allowed only while more than half the tokens remain,
so an outage does not multiply the load on a provider that is already struggling.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

from .providers import ErrorKind, ProviderError

__all__ = [
    "FailOver",
    "ReconcileSchedule",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "RetrySame",
    "StopFailed",
    "StopUnknown",
    "Uniform",
    "backoff_s",
    "decide",
    "next_check",
]

_MILLI = 1000  # the budget counts thousandths of a token, so 0.1 adds up exactly


class Uniform(Protocol):
    """A source of uniform random floats; ``random.Random`` is one, seeded in tests."""

    def uniform(self, a: float, b: float) -> float:
        """A float between ``a`` and ``b``."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff shape and attempt limit (per provider, per operation)."""

    base_s: float = 0.5
    cap_s: float = 5.0
    max_attempts: int = 3
    """Calls to one provider for one operation, the first included: 3 to 5."""
    max_wait_s: float = 10.0
    """The longest in-line wait a provider's Retry-After may impose."""

    def __post_init__(self) -> None:
        if not 3 <= self.max_attempts <= 5:
            raise ValueError(f"max_attempts must be 3 to 5, got {self.max_attempts}")
        if not 0 < self.base_s <= self.cap_s <= self.max_wait_s:
            raise ValueError("need 0 < base_s <= cap_s <= max_wait_s")


def backoff_s(policy: RetryPolicy, retry_no: int, rng: Uniform) -> float:
    """The full-jitter delay before retry number ``retry_no`` (0 for the first retry)."""
    assert retry_no >= 0
    # min() first: 2**retry_no overflows float only for absurd counts, but stay exact.
    ceiling = min(policy.cap_s, policy.base_s * 2 ** min(retry_no, 64))
    return rng.uniform(0.0, ceiling)


class RetryBudget:
    """gRPC-style retry throttling for one provider; see the module docstring."""

    def __init__(self, max_tokens: int = 10, token_ratio: float = 0.1) -> None:
        assert max_tokens >= 1 and 0 < token_ratio <= 1
        self._max = max_tokens * _MILLI
        self._ratio = round(token_ratio * _MILLI)
        self._tokens = self._max

    @property
    def tokens(self) -> float:
        """Tokens left, for metrics."""
        return self._tokens / _MILLI

    @property
    def allows_retry(self) -> bool:
        """True while more than half the tokens remain."""
        return self._tokens > self._max // 2

    def record_failure(self) -> None:
        """A RETRIABLE or UNKNOWN failure: costs one token."""
        self._tokens = max(0, self._tokens - _MILLI)

    def record_success(self) -> None:
        """The provider answered: returns ``token_ratio`` of a token."""
        self._tokens = min(self._max, self._tokens + self._ratio)


@dataclass(frozen=True, slots=True)
class RetrySame:
    """Call the same provider again, with the same idempotency key, after ``delay_s``."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class FailOver:
    """Try the next candidate provider (``routing.RoutingDecision.candidates``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class StopUnknown:
    """Stop; the outcome is unknown and the reconciler settles it."""

    reason: str


@dataclass(frozen=True, slots=True)
class StopFailed:
    """Stop; the operation failed for good."""

    reason: str


RetryDecision = RetrySame | FailOver | StopUnknown | StopFailed


def _retry_blocker(
    error: ProviderError, attempt_no: int, budget: RetryBudget, policy: RetryPolicy
) -> str | None:
    """Why the same provider may not be called again now; None when it may."""
    if attempt_no >= policy.max_attempts:
        return f"{attempt_no} attempts made (max {policy.max_attempts})"
    if not budget.allows_retry:
        return "retry budget exhausted"
    if error.retry_after_s is not None and error.retry_after_s > policy.max_wait_s:
        return f"provider asked to wait {error.retry_after_s}s (max {policy.max_wait_s}s)"
    return None


def decide(
    error: ProviderError,
    attempt_no: int,
    carries_idempotency_key: bool,
    budget: RetryBudget,
    *,
    policy: RetryPolicy | None = None,
    rng: Uniform,
) -> RetryDecision:
    """The next step after call number ``attempt_no`` (1-based) to one provider failed.

    Reads the budget but does not charge it: the caller records every call's outcome.
    """
    assert attempt_no >= 1
    policy = policy or RetryPolicy()
    if error.kind is ErrorKind.DECLINED:
        return StopFailed("declined")
    if error.kind is ErrorKind.INVALID:
        return FailOver(f"provider rejected the request: {error.code.value}")
    replayable = carries_idempotency_key or not error.sent
    blocker = _retry_blocker(error, attempt_no, budget, policy)
    if error.kind is ErrorKind.UNKNOWN:
        if not carries_idempotency_key:
            return StopUnknown("outcome unknown and the call has no idempotency key")
        if blocker is not None:
            return StopUnknown(f"outcome unknown; {blocker}")
    elif not replayable:
        return FailOver("sent without an idempotency key: not safe to repeat here")
    elif blocker is not None:
        return FailOver(blocker)
    delay = backoff_s(policy, attempt_no - 1, rng)
    return RetrySame(max(delay, error.retry_after_s or 0.0))


@dataclass(frozen=True, slots=True)
class ReconcileSchedule:
    """When the reconciler asks a provider about an UNKNOWN attempt, by the attempt's age.

    Checks fall at ages ``first_s``, then each of ``then_s``, then every ``every_s``; after
    ``give_up_s`` the attempt goes to a person (``next_check`` returns None). The default
    first check is 5 s for development; production settings may raise it.
    """

    first_s: float = 5.0
    then_s: tuple[float, ...] = (60.0, 300.0, 3600.0)
    every_s: float = 86400.0
    give_up_s: float = 30 * 86400.0

    def __post_init__(self) -> None:
        slots = (self.first_s, *self.then_s)
        if any(b <= a for a, b in itertools.pairwise(slots)) or self.first_s <= 0:
            raise ValueError("check ages must be positive and increasing")
        if self.every_s <= 0:
            raise ValueError("every_s must be positive")

    def slot_age_s(self, index: int) -> float:
        """The age of check number ``index`` (0-based)."""
        fixed = (self.first_s, *self.then_s)
        if index < len(fixed):
            return fixed[index]
        return fixed[-1] + self.every_s * (index - len(fixed) + 1)


def next_check(
    age_s: float, checks_done: int, schedule: ReconcileSchedule | None = None
) -> float | None:
    """Seconds from now until the next check of an attempt ``age_s`` old; None: escalate.

    Call it right after a check (or when the attempt becomes UNKNOWN, with 0 checks). The
    next check is the first slot at or after number ``checks_done`` that lies in the future:
    slots missed while the reconciler was down are skipped rather than run in a burst, since
    the check that just ran covers them. An attempt never checked is due at once.
    """
    assert age_s >= 0 and checks_done >= 0
    schedule = schedule or ReconcileSchedule()
    if checks_done == 0 and age_s >= schedule.first_s:
        return 0.0  # never checked and already due: no earlier check covers anything
    index = checks_done
    while schedule.slot_age_s(index) <= age_s and schedule.slot_age_s(index) <= schedule.give_up_s:
        index += 1
    due = schedule.slot_age_s(index)
    if due > schedule.give_up_s:
        return None
    return due - age_s
