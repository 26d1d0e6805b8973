"""The circuit breaker's state machine, driven by a fake clock (plain floats)."""

from __future__ import annotations

import pytest

from gateway_svc.domain.breaker import (
    BreakerPolicy,
    Breakers,
    BreakerSnapshot,
    BreakerState,
    CallOutcome,
    CircuitBreaker,
    Transition,
    outcome_of,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, Provider, ProviderError

OK, FAIL = CallOutcome.SUCCESS, CallOutcome.FAILURE
CLOSED, OPEN, HALF = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
POLICY = BreakerPolicy(
    window_s=60.0, min_calls=4, failure_rate=0.5, cooldown_s=10.0, max_cooldown_s=35.0
)


class Recorder:
    """A transition listener that keeps what it heard."""

    def __init__(self) -> None:
        self.seen: list[Transition] = []

    def __call__(self, transition: Transition) -> None:
        self.seen.append(transition)

    @property
    def moves(self) -> list[tuple[BreakerState, BreakerState]]:
        return [(t.from_state, t.to_state) for t in self.seen]


def breaker(policy: BreakerPolicy = POLICY) -> tuple[CircuitBreaker, Recorder]:
    recorder = Recorder()
    return CircuitBreaker(Provider.STRIPE, policy, recorder), recorder


def feed(b: CircuitBreaker, start: float, outcomes: list[CallOutcome]) -> float:
    """Record ``outcomes`` one second apart from ``start``; returns the last time."""
    now = start
    for i, outcome in enumerate(outcomes):
        now = start + i
        b.record(now, outcome)
    return now


def tripped(at: float = 0.0) -> tuple[CircuitBreaker, Recorder, float]:
    b, rec = breaker()
    last = feed(b, at, [FAIL, FAIL, FAIL, FAIL])
    assert b.state(last) is OPEN
    return b, rec, last


# -- what counts as a failure --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (ErrorKind.RETRIABLE, FAIL),
        (ErrorKind.UNKNOWN, FAIL),
        (ErrorKind.DECLINED, OK),
        (ErrorKind.INVALID, OK),
    ],
)
def test_only_retriable_and_unknown_errors_are_failures(
    kind: ErrorKind, outcome: CallOutcome
) -> None:
    assert outcome_of(ProviderError(kind, DeclineCode.PROCESSING_ERROR, "x")) is outcome


def test_a_call_without_error_is_a_success() -> None:
    assert outcome_of(None) is OK


# -- CLOSED -> OPEN ------------------------------------------------------------------------


def test_failures_below_the_minimum_call_count_never_open() -> None:
    b, rec = breaker()
    last = feed(b, 0.0, [FAIL, FAIL, FAIL])
    assert b.state(last) is CLOSED and b.allow(last)
    assert rec.seen == []


def test_the_failure_rate_reaching_the_threshold_opens_and_reports_it() -> None:
    b, rec = breaker()
    last = feed(b, 0.0, [OK, FAIL, OK, FAIL])
    assert b.state(last) is OPEN
    assert not b.allow(last)
    assert rec.moves == [(CLOSED, OPEN)]
    assert rec.seen[0].provider is Provider.STRIPE and rec.seen[0].at == last
    assert "2 of 4 calls failed" in rec.seen[0].reason


def test_a_rate_below_the_threshold_stays_closed() -> None:
    b, _ = breaker()
    last = feed(b, 0.0, [OK, OK, FAIL, OK, OK, FAIL, OK])
    assert b.state(last) is CLOSED


def test_failures_older_than_the_window_are_forgotten() -> None:
    b, _ = breaker()
    feed(b, 0.0, [FAIL, FAIL, FAIL])
    # 100 s later the three old failures are out of the 60 s window: 1 failure of 4 calls.
    last = feed(b, 100.0, [OK, OK, OK, FAIL])
    assert b.state(last) is CLOSED


def test_declines_keep_a_busy_provider_closed() -> None:
    b, _ = breaker()
    decline = ProviderError(ErrorKind.DECLINED, DeclineCode.INSUFFICIENT_FUNDS, "no")
    last = feed(b, 0.0, [outcome_of(decline)] * 20)
    assert b.state(last) is CLOSED


# -- OPEN -> HALF_OPEN ---------------------------------------------------------------------


def test_an_open_breaker_refuses_until_the_cool_down_ends() -> None:
    b, rec, at = tripped()
    assert not b.allow(at + 9.99)
    assert b.state(at + 10.0) is HALF
    assert rec.moves == [(CLOSED, OPEN), (OPEN, HALF)]


def test_a_forced_probe_half_opens_before_the_cool_down() -> None:
    b, rec, at = tripped()
    assert b.allow(at + 1.0, force_probe=True)
    assert b.state(at + 1.0) is HALF
    assert rec.seen[-1].reason.startswith("forced probe")


def test_force_probe_does_nothing_to_a_closed_breaker() -> None:
    b, rec = breaker()
    assert b.allow(0.0, force_probe=True)
    assert b.state(0.0) is CLOSED and rec.seen == []


def test_a_late_result_while_open_changes_nothing() -> None:
    b, rec, at = tripped()
    b.record(at + 1.0, OK)
    assert b.state(at + 1.0) is OPEN and len(rec.seen) == 1


# -- HALF_OPEN ----------------------------------------------------------------------------


def test_half_open_lets_only_the_probe_limit_through() -> None:
    b, _ = breaker(BreakerPolicy(min_calls=1, cooldown_s=5.0, probe_calls=2))
    b.record(0.0, FAIL)
    assert [b.allow(5.0), b.allow(5.1), b.allow(5.2)] == [True, True, False]


def test_a_successful_probe_closes_and_resets_the_cool_down() -> None:
    b, rec, at = tripped()
    assert b.allow(at + 10.0)
    b.record(at + 10.5, OK)
    assert b.state(at + 10.5) is CLOSED
    assert rec.moves[-1] == (HALF, CLOSED)
    # Trip again: the cool-down is back to 10 s, not grown.
    last = feed(b, at + 20.0, [FAIL] * 4)
    assert b.state(last + 10.0) is HALF


def test_a_failed_probe_reopens_with_a_growing_capped_cool_down() -> None:
    b, rec, at = tripped()
    cooldowns = []
    now = at
    for _ in range(4):
        opened_at = now
        now = opened_at + 1.0
        while b.state(now) is OPEN:
            now += 1.0
        cooldowns.append(now - opened_at)
        assert b.allow(now)
        b.record(now, FAIL)
    assert cooldowns == [10.0, 20.0, 35.0, 35.0]
    assert rec.moves[-2:] == [(OPEN, HALF), (HALF, OPEN)]


def test_closing_may_need_several_successful_probes() -> None:
    b, _ = breaker(BreakerPolicy(min_calls=1, cooldown_s=5.0, probe_calls=3, probe_successes=3))
    b.record(0.0, FAIL)
    assert all(b.allow(5.0) for _ in range(3))
    b.record(5.1, OK)
    b.record(5.2, OK)
    assert b.state(5.2) is HALF
    b.record(5.3, OK)
    assert b.state(5.3) is CLOSED


def test_a_probe_whose_result_never_comes_frees_its_slot_after_the_timeout() -> None:
    b, _ = breaker(BreakerPolicy(min_calls=1, cooldown_s=5.0, probe_timeout_s=30.0))
    b.record(0.0, FAIL)
    assert b.allow(5.0)
    assert not b.allow(34.9)
    assert b.allow(35.0)


# -- the registry and snapshots ------------------------------------------------------------


def test_breakers_are_per_provider_and_snapshots_carry_the_opening_time() -> None:
    rec = Recorder()
    breakers = Breakers(POLICY, rec)
    for t in range(4):
        breakers[Provider.STRIPE].record(float(t), FAIL)
    breakers[Provider.PAYPAL].record(0.0, OK)
    assert breakers[Provider.STRIPE] is breakers[Provider.STRIPE]
    assert breakers.snapshots(5.0) == {
        Provider.STRIPE: BreakerSnapshot(OPEN, 3.0),
        Provider.PAYPAL: BreakerSnapshot(CLOSED, None),
    }
    assert [t.provider for t in rec.seen] == [Provider.STRIPE]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_rate": 0.0},
        {"failure_rate": 1.5},
        {"min_calls": 0},
        {"cooldown_s": 50.0, "max_cooldown_s": 10.0},
        {"probe_calls": 0},
    ],
)
def test_nonsensical_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="breaker policy needs"):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
