"""A token bucket, pure: the caller passes the clock.

Mutable on purpose: the edge takes a token on every request, and allocating a
new frozen object per request would cost more than the check itself.
"""

from __future__ import annotations

from .permissions import RateLimit


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``requests_per_second``."""

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._rate = float(limit.requests_per_second)
        self._burst = float(limit.burst)
        self._tokens = self._burst
        self._updated = now

    def reshape(self, limit: RateLimit, now: float) -> None:
        """Adopt a changed limit at ``now``: tokens earned until now count at the old
        rate, and are capped at the new burst."""
        self._refill(now)
        self._rate = float(limit.requests_per_second)
        self._burst = float(limit.burst)
        self._tokens = min(self._tokens, self._burst)

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._updated = now

    def take(self, now: float) -> float:
        """Take one token. Returns 0.0 if allowed, else the seconds until one is available."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
