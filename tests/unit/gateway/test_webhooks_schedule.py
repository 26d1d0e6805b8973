"""The merchant webhook retry schedule, its jitter, exhaustion, Retry-After, and outcomes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.webhooks import Outcome, SendFailure, classify, next_attempt

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


class Fixed:
    """A 'random' source that always answers the same fraction of the interval."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.draws = 0

    def uniform(self, a: float, b: float) -> float:
        self.draws += 1
        return a + (b - a) * self.fraction


def run_to_exhaustion(rng: object) -> list[datetime]:
    """Every attempt's time when every attempt fails at once."""
    times = [NOW]
    while (after := next_attempt(len(times), times[-1], rng)) is not None:  # type: ignore[arg-type]
        times.append(after)
    return times


def test_the_schedule_is_ten_attempts_over_about_two_point_seven_days():
    times = run_to_exhaustion(Fixed(0.5))  # the midpoint of the jitter is no jitter
    assert len(times) == wh.MAX_ATTEMPTS == 10
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert [g.total_seconds() for g in gaps] == [
        5,
        5 * 60,
        30 * 60,
        2 * 3600,
        5 * 3600,
        10 * 3600,
        10 * 3600,
        14 * 3600,
        24 * 3600,
    ]
    span = times[-1] - times[0]
    assert timedelta(days=2.7) < span < timedelta(days=2.8)


@given(seed=st.integers(0, 2**32))
def test_every_jittered_delay_stays_within_twenty_percent_of_the_schedule(seed):
    times = run_to_exhaustion(random.Random(seed))
    gaps = [later - earlier for earlier, later in pairwise(times)]
    for gap, nominal in zip(gaps, wh.RETRY_DELAYS, strict=True):
        assert nominal * 0.8 <= gap <= nominal * 1.2
    assert timedelta(days=2.1) < times[-1] - times[0] < timedelta(days=3.3)


def test_the_jitter_bounds_are_reached_at_the_ends_of_the_interval():
    assert next_attempt(4, NOW, Fixed(0.0)) == NOW + timedelta(hours=2) * 0.8
    assert next_attempt(4, NOW, Fixed(1.0)) == NOW + timedelta(hours=2) * 1.2


def test_the_same_seed_gives_the_same_schedule():
    assert run_to_exhaustion(random.Random(42)) == run_to_exhaustion(random.Random(42))
    assert run_to_exhaustion(random.Random(42)) != run_to_exhaustion(random.Random(43))


def test_after_the_tenth_attempt_fails_the_event_is_exhausted_without_a_draw():
    rng = Fixed(0.5)
    assert next_attempt(10, NOW, rng) is None
    assert next_attempt(11, NOW, rng) is None
    assert rng.draws == 0
    assert next_attempt(9, NOW, rng) == NOW + timedelta(hours=24)
    assert rng.draws == 1


def test_attempts_are_numbered_from_one():
    with pytest.raises(ValueError, match="from 1"):
        next_attempt(0, NOW, Fixed(0.5))


def test_a_longer_retry_after_wins_over_the_schedule():
    assert next_attempt(1, NOW, Fixed(0.5), retry_after_s=120) == NOW + timedelta(seconds=120)


def test_a_shorter_retry_after_does_not_shorten_the_schedule():
    assert next_attempt(3, NOW, Fixed(0.5), retry_after_s=10) == NOW + timedelta(minutes=30)
    assert next_attempt(3, NOW, Fixed(0.5), retry_after_s=0) == NOW + timedelta(minutes=30)
    assert next_attempt(3, NOW, Fixed(0.5), retry_after_s=-5) == NOW + timedelta(minutes=30)


def test_a_retry_after_is_capped_at_a_day_however_large():
    for asked in (7 * 86400, 1e20, float("inf")):
        assert next_attempt(1, NOW, Fixed(0.5), retry_after_s=asked) == NOW + timedelta(days=1)


def test_a_retry_after_adds_no_attempts():
    assert next_attempt(10, NOW, Fixed(0.5), retry_after_s=60) is None


# -- outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(status):
    assert classify(status) is Outcome.DELIVERED


def test_410_means_gone_and_disables_the_endpoint():
    assert classify(410) is Outcome.GONE


@pytest.mark.parametrize("status", [100, 301, 302, 307, 308, 400, 401, 404, 409, 429, 500, 503])
def test_every_other_status_including_redirects_is_retried(status):
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize("kind", list(SendFailure))
def test_every_failure_without_a_status_is_retried(kind):
    assert classify(None, kind) is Outcome.RETRY
    assert classify(None) is Outcome.RETRY
