"""When to try a webhook delivery again, and what one attempt's outcome means.

The retry schedule, written down here and nowhere else (the README quotes it):

=======  ===============  =====================
attempt  after the last   since the event
=======  ===============  =====================
1        at once          0
2        5 s              5 s
3        5 min            ~5 min
4        30 min           ~35 min
5        2 h              ~2.6 h
6        5 h              ~7.6 h
7        10 h             ~17.6 h
8        10 h             ~27.6 h
9        14 h             ~41.6 h
10       24 h             ~65.6 h (~2.7 days)
=======  ===============  =====================

After attempt 10 fails the event is dead-lettered (``next_attempt`` returns None); it shows
in ListEvents and RedeliverEvent starts it again. Each delay is multiplied by a uniform
factor in ``JITTER`` so endpoints that failed together do not all come back together.

A receiver's Retry-After (seconds, already parsed) is honoured as a floor: the next attempt
waits the longer of the schedule and Retry-After, the latter capped at MAX_RETRY_AFTER so a
receiver cannot park its events for a week. It does not add attempts.

Outcomes (Standard Webhooks): only 2xx is delivered; 410 Gone means the receiver wants no
more (the endpoint is disabled); everything else is retried: other statuses, 3xx (redirects
are not followed: the signed URL is the one the merchant registered), timeouts, network
and TLS errors, and a destination the SSRF guard refused at delivery time (DNS may change
back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from .retry import Uniform

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "JITTER",
    "MAX_ATTEMPTS",
    "MAX_RETRY_AFTER",
    "RETRY_DELAYS",
    "Outcome",
    "SendFailure",
    "classify",
    "next_attempt",
]

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=24),
)
"""Delay before attempt n+2 after attempt n+1 failed (the first attempt is at once)."""
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)
JITTER = (0.8, 1.2)
"""Each scheduled delay is multiplied by uniform(*JITTER)."""
MAX_RETRY_AFTER = timedelta(hours=24)
"""The longest wait a receiver's Retry-After can impose."""
ATTEMPT_TIMEOUT_S = 15.0
"""One attempt's whole budget: resolving, connecting, sending and reading the status."""


class Outcome(StrEnum):
    """What one attempt's result means for the event and its endpoint."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    """410: disable the endpoint; the event is not retried there."""


class SendFailure(StrEnum):
    """Why an attempt got no HTTP status."""

    DESTINATION_REFUSED = "destination_refused"
    """The SSRF guard refused the URL or an address it resolved to; nothing was sent."""
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    NETWORK = "network"
    """The connection broke while sending or reading."""
    PROTOCOL = "protocol"
    """The receiver's answer was not valid HTTP/1.1."""


def classify(status_code: int | None, error_kind: SendFailure | None = None) -> Outcome:
    """DELIVERED for 2xx, GONE for 410, RETRY for anything else (see the module docstring)."""
    if error_kind is not None or status_code is None:
        return Outcome.RETRY
    if 200 <= status_code <= 299:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.RETRY


def next_attempt(
    attempt_number: int,
    now: datetime,
    rng: Uniform,
    retry_after_s: float | None = None,
) -> datetime | None:
    """When to make the next attempt after attempt ``attempt_number`` (1-based) failed at
    ``now``, or None once MAX_ATTEMPTS have failed (dead letter).

    ``rng`` supplies the jitter (``random.Random``, seeded in tests); it is drawn exactly once
    per scheduled retry, never after the last attempt.
    """
    if attempt_number < 1:
        raise ValueError(f"attempts are numbered from 1, got {attempt_number}")
    if attempt_number >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempt_number - 1] * rng.uniform(*JITTER)
    # Capped as a float first: a hostile Retry-After of 1e20 s would overflow timedelta.
    if retry_after_s is not None and retry_after_s > 0:
        asked_s = min(retry_after_s, MAX_RETRY_AFTER.total_seconds())
        delay = max(delay, timedelta(seconds=asked_s))
    return now + delay
