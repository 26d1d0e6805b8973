"""Merchant webhooks (issue 7, "Outbound"): what an event is, and what we send for it.

Pure domain: no I/O and no clock reads (``now`` and randomness are passed in). The pieces:

- this module: the event types, an endpoint's event-type filter, and the versioned event
  document whose bytes are signed and sent, unchanged, on every attempt;
- ``webhooks_signing``: ``whsec_`` secrets, Standard Webhooks signatures and headers, and
  secret rotation (old and new both sign during an overlap);
- ``webhooks_delivery``: the retry schedule (written down once, there) and what an HTTP
  outcome means (delivered, retry, or gone);
- ``webhooks_ssrf``: which URLs and resolved addresses a delivery may go to.

Everything public in those modules is re-exported here, so callers import one module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from svc_kit.faults import FieldViolation

from .bank_details import invalid
from .webhooks_delivery import (
    ATTEMPT_TIMEOUT_S,
    JITTER,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    RETRY_DELAYS,
    Outcome,
    SendFailure,
    classify,
    next_attempt,
)
from .webhooks_signing import (
    MIN_SECRET_BYTES,
    ROTATION_OVERLAP,
    SECRET_BYTES,
    SECRET_PREFIX,
    EndpointSecret,
    active_secrets,
    headers,
    new_secret,
    rotate,
    secret_key,
    sign,
)
from .webhooks_ssrf import Destination, check_addresses, check_url

__all__ = [
    "API_VERSION",
    "ATTEMPT_TIMEOUT_S",
    "JITTER",
    "MAX_ATTEMPTS",
    "MAX_RETRY_AFTER",
    "MIN_SECRET_BYTES",
    "RETRY_DELAYS",
    "ROTATION_OVERLAP",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "Destination",
    "EndpointSecret",
    "EventType",
    "Outcome",
    "SendFailure",
    "active_secrets",
    "check_addresses",
    "check_url",
    "classify",
    "event_document",
    "event_filter",
    "event_type_violations",
    "headers",
    "new_secret",
    "next_attempt",
    "rotate",
    "secret_key",
    "sign",
    "wants",
]

API_VERSION = "2026-11-01"
"""The event document's version. A change that could break a receiver's parser gets a new
date; receivers switch on ``api_version``."""

EVENT_ID_PREFIX = "evt_"


class EventType(StrEnum):
    """Every event a merchant can subscribe to. The values are the wire names."""

    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    CONVERSION_COMPLETED = "conversion.completed"
    PAYOUT_COMPLETED = "payout.completed"
    PAYOUT_FAILED = "payout.failed"


_KNOWN = ", ".join(t.value for t in EventType)


def event_type_violations(names: Sequence[str], path: str = "event_types") -> list[FieldViolation]:
    """One violation per name that is not an ``EventType`` value (``path[i]`` names it)."""
    known = {t.value for t in EventType}
    return [
        FieldViolation(f"{path}[{i}]", f"{name!r} is not an event type; use one of {_KNOWN}")
        for i, name in enumerate(names)
        if name not in known
    ]


def event_filter(names: Sequence[str], path: str = "event_types") -> tuple[EventType, ...]:
    """An endpoint's filter from the names a merchant sent, duplicates dropped, order kept.

    Empty means every event type (including ones added later). Unknown names are refused
    together in one ValidationFailed, a violation each, so one round trip fixes them all.
    """
    violations = event_type_violations(names, path)
    if violations:
        raise invalid("invalid event type filter", violations)
    return tuple(dict.fromkeys(EventType(name) for name in names))


def wants(subscribed: Iterable[EventType], event_type: EventType) -> bool:
    """Whether an endpoint whose filter is ``subscribed`` receives events of ``event_type``."""
    chosen = frozenset(subscribed)
    return not chosen or event_type in chosen


def event_document(
    event_id: str, type: EventType | str, created_at: datetime, data: Mapping[str, object]
) -> bytes:
    """The event as sent: ``{"id", "type", "api_version", "timestamp", "data"}`` as compact
    JSON bytes.

    Serialize once and store the bytes: they are what is signed and sent on every attempt,
    so a retry is byte-for-byte the first attempt. The output is also deterministic (the keys
    of ``data`` are sorted at every level, ASCII only), so building the document twice from
    the same facts gives the same bytes. ``timestamp`` is RFC 3339 in UTC with microseconds,
    as in the Standard Webhooks examples. ``data`` holds JSON values only (money as integer
    minor units plus a currency code); NaN and infinities are refused.
    """
    if not event_id.startswith(EVENT_ID_PREFIX) or len(event_id) == len(EVENT_ID_PREFIX):
        raise ValueError(f"an event id starts with {EVENT_ID_PREFIX!r}, got {event_id!r}")
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    stamp = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    document = {
        "id": event_id,
        "type": EventType(type).value,
        "api_version": API_VERSION,
        "timestamp": stamp.removesuffix("+00:00") + "Z",
        "data": _canonical(data),
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode("ascii")


def _canonical(value: object) -> object:
    """``value`` with every mapping's keys sorted, so equal data serializes identically."""
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("event data keys must be strings")
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
