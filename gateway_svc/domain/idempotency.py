"""Idempotency keys with Stripe's semantics, in Brandur Leach's atomic phases.

A key belongs to a merchant (two merchants may use the same key) and is stored with a
fingerprint of the request it came with. Then, for the same merchant and key:

- same fingerprint, finished: the stored response is replayed, errors included, because once
  execution began its result is the answer (Stripe saves failures and 500s the same way);
- same fingerprint, still locked by a live request: ``InFlight`` (ABORTED, retry later), never
  a second execution;
- same fingerprint, lock older than ``LOCK_TIMEOUT`` (the first request died): ``Resume`` from
  the last recovery point, taking over the lock;
- another fingerprint: ``Mismatch`` (IDEMPOTENCY_KEY_REUSED), whatever the state.

Recovery points (reliability.md): each phase around a foreign call commits with the point it
reached, so a resumed request never repeats a finished phase:

    STARTED --> PAYMENT_CREATED --> PROVIDER_CALLED --> FINISHED

A request refused by validation before execution stores nothing (the caller deletes the new
key row in that transaction), so fixing the request and retrying with the same key works.
Keys are kept ``RETENTION`` (72 h, never under Stripe's 24 h) and then reaped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

LOCK_TIMEOUT = timedelta(seconds=90)
RETENTION = timedelta(hours=72)
MIN_RETENTION = timedelta(hours=24)
MAX_KEY_LEN = 255
"""Stripe's limit for ``Idempotency-Key``."""

# Fingerprints are plain SHA-256: a card number among the fields could be recovered by trying
# every number with the same BIN and last four. Callers pass the card's summary instead.
_SECRET_FIELDS = frozenset({"number", "cvc", "cvv", "pan", "card_number"})


class RecoveryPoint(StrEnum):
    """The last phase a keyed request committed."""

    STARTED = "started"
    PAYMENT_CREATED = "payment_created"
    PROVIDER_CALLED = "provider_called"
    FINISHED = "finished"


_ORDER = list(RecoveryPoint)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a keyed request, replayed byte for byte."""

    status_code: int
    """A gRPC status code number (0 OK), so an error replays as the same error."""
    body: bytes
    """The serialized response message, or the serialized ``google.rpc.Status`` of an error."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One merchant's idempotency key and how far its request got."""

    merchant_id: str
    key: str
    fingerprint: str
    recovery_point: RecoveryPoint
    locked_at: datetime | None
    created_at: datetime
    response: StoredResponse | None = None
    payment_id: str | None = None


def fingerprint(operation: str, fields: Mapping[str, object]) -> str:
    """SHA-256 (hex) of the operation and its semantically relevant fields.

    Canonical JSON: keys sorted at every depth, so map order never matters; lists keep their
    order, because it means something. Floats are refused (money is never a float), and so are
    fields named like a card number or CVC (see ``_SECRET_FIELDS``).
    """
    canonical = json.dumps(
        {"operation": operation, "fields": _canonical(fields)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"fingerprint keys must be strings, got {type(k).__name__}")
            if k.lower() in _SECRET_FIELDS:
                raise ValueError(f"field {k!r} must not be fingerprinted; pass a summary")
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class New:
    """No record: insert one (``started``) and execute."""


@dataclass(frozen=True, slots=True)
class Replay:
    """Finished before: answer with the stored response."""

    response: StoredResponse


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request holds the key; refuse with IDEMPOTENCY_KEY_IN_USE (ABORTED)."""

    retry_after: timedelta
    """How long until the lock may be taken over."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for another request; refuse with IDEMPOTENCY_KEY_REUSED."""


@dataclass(frozen=True, slots=True)
class Resume:
    """The first request died; take the lock over and continue after ``recovery_point``."""

    recovery_point: RecoveryPoint
    payment_id: str | None


Decision = New | Replay | InFlight | Mismatch | Resume


def begin(
    existing: KeyRecord | None,
    request_fingerprint: str,
    now: datetime,
    lock_timeout: timedelta = LOCK_TIMEOUT,
) -> Decision:
    """What to do with a keyed request, given the key's stored record (None: none yet).

    The record must be read under a row lock (or its insert raced on the primary key) so two
    requests cannot both see None and both execute; the loser re-reads and gets InFlight.
    """
    if existing is None:
        return New()
    if existing.fingerprint != request_fingerprint:
        return Mismatch()
    if existing.recovery_point is RecoveryPoint.FINISHED:
        assert existing.response is not None, existing
        return Replay(existing.response)
    if existing.locked_at is not None and now - existing.locked_at < lock_timeout:
        return InFlight(lock_timeout - (now - existing.locked_at))
    return Resume(existing.recovery_point, existing.payment_id)


def started(merchant_id: str, key: str, request_fingerprint: str, now: datetime) -> KeyRecord:
    """The record ``New`` inserts: locked by this request, at STARTED."""
    return KeyRecord(merchant_id, key, request_fingerprint, RecoveryPoint.STARTED, now, now)


def take_over(record: KeyRecord, now: datetime) -> KeyRecord:
    """The record after ``Resume``: locked by this request from ``now``."""
    return replace(record, locked_at=now)


def advance(
    record: KeyRecord, point: RecoveryPoint, now: datetime, payment_id: str | None = None
) -> KeyRecord:
    """The record after a phase commits: a later recovery point, the lock refreshed."""
    if _ORDER.index(point) <= _ORDER.index(record.recovery_point) or point is _ORDER[-1]:
        raise ValueError(f"cannot move from {record.recovery_point} to {point}; use finish")
    return replace(
        record,
        recovery_point=point,
        locked_at=now,
        payment_id=payment_id if payment_id is not None else record.payment_id,
    )


def finish(record: KeyRecord, response: StoredResponse) -> KeyRecord:
    """The record once a response exists: FINISHED, unlocked, replayable from now on."""
    return replace(record, recovery_point=RecoveryPoint.FINISHED, locked_at=None, response=response)


def reapable(
    record: KeyRecord,
    now: datetime,
    retention: timedelta = RETENTION,
    lock_timeout: timedelta = LOCK_TIMEOUT,
) -> bool:
    """True when the reaper may delete the key: older than ``retention`` and not held by a
    live request (a request still running at 72 h keeps its key until it lets go)."""
    if retention < MIN_RETENTION:
        raise ValueError(f"keys must be kept at least {MIN_RETENTION}, got {retention}")
    live = record.locked_at is not None and now - record.locked_at < lock_timeout
    return now - record.created_at >= retention and not live


def check_key(key: str) -> bool:
    """True for a usable key: 1 to 255 printable ASCII characters, no spaces."""
    return 0 < len(key) <= MAX_KEY_LEN and all("\x21" <= c <= "\x7e" for c in key)
