"""TokenBucket with an explicit clock. Times and rates are binary fractions, so sums are exact."""

from __future__ import annotations

import pytest

from identity_svc.domain.permissions import RateLimit
from identity_svc.domain.ratelimit import TokenBucket

T = 1000.0
FOUR_PER_SECOND = RateLimit(requests_per_second=4, burst=3)


def _drain(bucket: TokenBucket, now: float) -> int:
    """Take until refused; return how many were allowed."""
    allowed = 0
    while bucket.take(now) == 0.0:
        allowed += 1
        assert allowed <= 10_000, "the bucket never ran dry"
    return allowed


def test_a_new_bucket_allows_a_full_burst_at_once_then_refuses() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)

    assert [bucket.take(T) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(T) > 0.0


def test_an_empty_bucket_says_one_refill_interval_until_the_next_token() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)

    assert bucket.take(T) == 0.25
    assert bucket.take(T + 0.125) == 0.125  # half a token earned, half to go


def test_waiting_the_advertised_time_is_enough() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)

    wait = bucket.take(T)

    assert bucket.take(T + wait) == 0.0
    assert bucket.take(T + wait) == 0.25


def test_refused_requests_do_not_consume_tokens() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)
    for _ in range(50):
        bucket.take(T)

    assert bucket.take(T + 0.25) == 0.0


def test_tokens_refill_at_the_configured_rate() -> None:
    bucket = TokenBucket(RateLimit(requests_per_second=4, burst=100), now=T)
    _drain(bucket, T)

    # 1.5 s at 4/s earns exactly 6 tokens.
    assert _drain(bucket, T + 1.5) == 6
    assert bucket.take(T + 1.5) == 0.25


def test_refill_never_exceeds_the_burst() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)

    assert _drain(bucket, T + 3600.0) == 3


def test_a_clock_that_steps_back_earns_nothing() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)

    assert bucket.take(T - 60.0) == 0.25
    assert bucket.take(T) == 0.25


def test_reshaping_to_a_smaller_burst_caps_the_tokens_held() -> None:
    bucket = TokenBucket(RateLimit(requests_per_second=4, burst=10), now=T)

    bucket.reshape(RateLimit(requests_per_second=4, burst=2), T)

    assert _drain(bucket, T) == 2


def test_reshaping_to_a_larger_burst_keeps_the_tokens_held_without_topping_up() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    bucket.take(T)

    bucket.reshape(RateLimit(requests_per_second=4, burst=50), T)

    assert _drain(bucket, T) == 2
    assert _drain(bucket, T + 10.0) == 40  # and it now fills up to the new burst


def test_reshaping_adopts_the_new_rate() -> None:
    bucket = TokenBucket(FOUR_PER_SECOND, now=T)
    _drain(bucket, T)

    bucket.reshape(RateLimit(requests_per_second=2, burst=3), T)

    assert bucket.take(T) == 0.5
    assert _drain(bucket, T + 1.0) == 2


def test_time_before_a_reshape_is_credited_at_the_old_rate() -> None:
    bucket = TokenBucket(RateLimit(requests_per_second=1, burst=100), now=T)
    _drain(bucket, T)

    bucket.reshape(RateLimit(requests_per_second=50, burst=100), T + 2.0)

    assert _drain(bucket, T + 2.0) == 2  # two seconds at 1/s, not at 50/s


@pytest.mark.parametrize("burst", [1, 7, 400])
def test_every_burst_size_is_honoured_exactly(burst: int) -> None:
    bucket = TokenBucket(RateLimit(requests_per_second=1, burst=burst), now=T)

    assert _drain(bucket, T) == burst
