"""Backoff, the retry budget, the decision table and the reconciler's schedule."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from gateway_svc.domain.retry import (
    FailOver,
    ReconcileSchedule,
    RetryBudget,
    RetryPolicy,
    RetrySame,
    StopFailed,
    StopUnknown,
    backoff_s,
    decide,
    next_check,
)

POLICY = RetryPolicy()


def error(
    kind: ErrorKind, *, sent: bool = True, retry_after_s: float | None = None
) -> ProviderError:
    return ProviderError(
        kind, DeclineCode.PROVIDER_UNAVAILABLE, "x", sent=sent, retry_after_s=retry_after_s
    )


def run(
    kind: ErrorKind,
    attempt_no: int = 1,
    key: bool = True,
    budget: RetryBudget | None = None,
    **kw: object,
) -> object:
    err = error(kind, **kw)  # type: ignore[arg-type]
    return decide(err, attempt_no, key, budget or RetryBudget(), rng=random.Random(7))


# -- backoff -------------------------------------------------------------------------------


@given(retry_no=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_backoff_stays_within_zero_and_the_capped_exponential(retry_no: int, seed: int) -> None:
    delay = backoff_s(POLICY, retry_no, random.Random(seed))
    assert 0.0 <= delay <= min(5.0, 0.5 * 2**retry_no)


def test_backoff_is_full_jitter_over_the_whole_range() -> None:
    rng = random.Random(42)
    delays = [backoff_s(POLICY, 3, rng) for _ in range(2000)]  # ceiling min(5, 4) = 4
    assert max(delays) <= 4.0 and max(delays) > 3.8 and min(delays) < 0.2


def test_a_seeded_random_gives_the_same_delays() -> None:
    first = [backoff_s(POLICY, n, random.Random(1)) for n in range(5)]
    assert first == [backoff_s(POLICY, n, random.Random(1)) for n in range(5)]


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 2}, {"max_attempts": 6}, {"base_s": 0.0}, {"cap_s": 20.0}]
)
def test_policies_outside_the_guide_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- the budget ----------------------------------------------------------------------------


def test_the_budget_allows_retries_only_above_half_its_tokens() -> None:
    budget = RetryBudget(max_tokens=10)
    states = []
    for _ in range(5):
        budget.record_failure()
        states.append((budget.tokens, budget.allows_retry))
    assert states == [(9, True), (8, True), (7, True), (6, True), (5, False)]


def test_successes_refill_the_budget_a_tenth_at_a_time_exactly() -> None:
    budget = RetryBudget(max_tokens=10)
    for _ in range(5):
        budget.record_failure()
    for _ in range(10):
        budget.record_success()
    assert budget.tokens == 6.0 and budget.allows_retry
    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 10.0


def test_the_budget_never_goes_below_zero() -> None:
    budget = RetryBudget(max_tokens=2)
    for _ in range(5):
        budget.record_failure()
    assert budget.tokens == 0.0


# -- decide() ------------------------------------------------------------------------------


def exhausted() -> RetryBudget:
    budget = RetryBudget(max_tokens=2)
    budget.record_failure()
    return budget


@pytest.mark.parametrize(
    ("kind", "attempt", "key", "sent", "budget", "expected"),
    [
        (ErrorKind.RETRIABLE, 1, True, True, None, RetrySame),
        (ErrorKind.RETRIABLE, 2, False, False, None, RetrySame),  # never sent: safe
        (ErrorKind.RETRIABLE, 1, False, True, None, FailOver),  # sent, no key
        (ErrorKind.RETRIABLE, 3, True, True, None, FailOver),  # attempts used up
        (ErrorKind.RETRIABLE, 1, True, True, exhausted, FailOver),
        (ErrorKind.UNKNOWN, 1, True, True, None, RetrySame),
        (ErrorKind.UNKNOWN, 1, False, True, None, StopUnknown),  # never fails over
        (ErrorKind.UNKNOWN, 3, True, True, None, StopUnknown),
        (ErrorKind.UNKNOWN, 1, True, True, exhausted, StopUnknown),
        (ErrorKind.INVALID, 1, True, True, None, FailOver),
        (ErrorKind.INVALID, 1, False, True, None, FailOver),
        (ErrorKind.DECLINED, 1, True, True, None, StopFailed),
    ],
)
def test_the_decision_table(
    kind: ErrorKind, attempt: int, key: bool, sent: bool, budget: object, expected: type
) -> None:
    chosen = run(kind, attempt, key, budget() if callable(budget) else None, sent=sent)
    assert type(chosen) is expected


def test_a_retry_waits_a_jittered_delay_within_the_attempts_bound() -> None:
    decision = run(ErrorKind.RETRIABLE, attempt_no=2)
    assert isinstance(decision, RetrySame)
    assert 0.0 <= decision.delay_s <= 1.0  # second retry: min(5, 0.5 * 2**1)


def test_retry_after_is_a_floor_on_the_delay() -> None:
    decision = run(ErrorKind.RETRIABLE, retry_after_s=3.0)
    assert isinstance(decision, RetrySame) and decision.delay_s == 3.0


def test_a_retry_after_longer_than_the_in_line_limit_fails_over() -> None:
    decision = run(ErrorKind.RETRIABLE, retry_after_s=60.0)
    assert isinstance(decision, FailOver) and "wait 60.0s" in decision.reason


def test_an_unknown_outcome_with_a_long_retry_after_goes_to_the_reconciler() -> None:
    assert isinstance(run(ErrorKind.UNKNOWN, retry_after_s=60.0), StopUnknown)


def test_the_attempt_limit_follows_the_policy() -> None:
    policy = RetryPolicy(max_attempts=5)
    err = error(ErrorKind.RETRIABLE)
    outcomes = [
        type(decide(err, n, True, RetryBudget(), policy=policy, rng=random.Random(0)))
        for n in range(1, 6)
    ]
    assert outcomes == [RetrySame] * 4 + [FailOver]


def test_decide_reads_the_budget_without_charging_it() -> None:
    budget = RetryBudget()
    run(ErrorKind.RETRIABLE, budget=budget)
    assert budget.tokens == 10.0


# -- the reconciler's schedule --------------------------------------------------------------


def test_unknown_attempts_are_checked_at_5s_1min_5min_1h_then_daily() -> None:
    ages = [0.0]
    for done in range(7):
        delay = next_check(ages[-1], done)
        assert delay is not None
        ages.append(ages[-1] + delay)
    assert ages[1:] == [5.0, 60.0, 300.0, 3600.0, 90000.0, 176400.0, 262800.0]


def test_the_first_delay_is_configurable() -> None:
    assert next_check(0.0, 0, ReconcileSchedule(first_s=30.0)) == 30.0


def test_slots_missed_while_down_are_skipped_not_run_in_a_burst() -> None:
    # Checked once at 61 s, then the reconciler was down until 2 h: the next check is the
    # first slot after now (3600 + 86400), not the 300 s and 3600 s slots at once.
    assert next_check(7200.0, 2) == 3600.0 + 86400.0 - 7200.0


def test_an_attempt_never_checked_and_already_late_is_due_at_once() -> None:
    assert next_check(600.0, 0) == 0.0


def test_after_the_give_up_age_the_attempt_is_escalated() -> None:
    assert next_check(31 * 86400.0, 40) is None


@pytest.mark.parametrize(
    "kwargs", [{"first_s": 0.0}, {"first_s": 100.0}, {"then_s": (300.0, 60.0)}, {"every_s": 0.0}]
)
def test_schedules_must_increase(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ReconcileSchedule(**kwargs)  # type: ignore[arg-type]
