"""The idempotency key's side of a keyed request: open it (phase a), move it, finish it.

``open_key`` is Brandur Leach's first atomic phase: it decides, with the key row itself as
the lock, whether this request executes (a new key, or the takeover of an abandoned one),
replays a stored response, or is refused (in flight, or reused for another request). Every
later write names the record it last wrote, so a request that stalled past the lock timeout
and was taken over can never overwrite its successor (``ConcurrentModification``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from gateway_svc.adapters.key_store import KeyRow
from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ValidationFailed,
)
from gateway_svc.domain.idempotency import KeyRecord, RecoveryPoint, StoredResponse
from svc_kit.faults import FieldViolation

from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

CREATE = "payments.create"
CAPTURE = "payments.capture"
CANCEL = "payments.cancel"
REFUND = "refunds.create"


@dataclass(frozen=True, slots=True)
class KeyHold:
    """A key this request holds (locked by it), as it was last written."""

    record: KeyRecord
    operation: str
    """The use case the key belongs to (``CREATE``, ``CAPTURE`` ...)."""
    refund_id: str | None = None

    @property
    def point(self) -> RecoveryPoint:
        """The last phase committed."""
        return self.record.recovery_point

    @property
    def holder(self) -> str:
        """Who this request is, as a payment lease names it."""
        return f"{self.record.merchant_id}/{self.record.key}"


@dataclass(frozen=True, slots=True)
class Replayed:
    """The key finished before: answer with its stored response."""

    response: StoredResponse


def check_request_id(key: str, *, required: bool) -> None:
    """Refuse a missing (when required) or malformed key before anything is stored."""
    if not key and not required:
        return
    if not idem.check_key(key):
        why = "is required" if not key else "must be 1 to 255 printable ASCII characters"
        raise ValidationFailed(
            f"invalid request: request_id {why}",
            violations=[FieldViolation("request_id", why)],
        )


async def open_key(
    rt: GatewayRuntime, merchant_id: str, key: str, operation: str, fingerprint: str
) -> KeyHold | Replayed:
    """Phase a: own the key (new or taken over), or replay, or raise the refusal."""
    now = rt.clock()
    async with GatewayUnitOfWork(rt.engine) as uow:
        row = await uow.keys.get(merchant_id, key)
        if row is None:
            record = idem.started(merchant_id, key, fingerprint, now)
            if await uow.keys.insert(record, operation):
                await uow.commit()
                return KeyHold(record, operation)
            # Lost the primary-key race to a concurrent twin: read what it wrote.
            row = await uow.keys.get(merchant_id, key)
            assert row is not None, (merchant_id, key)
        decision = idem.begin(row.record, fingerprint, now, rt.lock_timeout)
        if isinstance(decision, idem.Replay):
            return Replayed(decision.response)
        if isinstance(decision, idem.Mismatch):
            raise IdempotencyKeyReused(
                "this request_id was used for a different request",
                metadata={"request_id": key, "operation": row.operation},
            )
        if isinstance(decision, idem.Resume) and await uow.keys.take_over(row.record, now):
            await uow.commit()
            return KeyHold(idem.take_over(row.record, now), row.operation, row.refund_id)
    retry_after = decision.retry_after if isinstance(decision, idem.InFlight) else None
    raise _in_use(key, retry_after.total_seconds() if retry_after else 1.0)


def _in_use(key: str, retry_after_s: float) -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        "a request with this request_id is still running; retry later",
        metadata={"request_id": key, "retry_after_s": f"{max(retry_after_s, 0.0):.1f}"},
    )


async def advance(
    uow: GatewayUnitOfWork,
    hold: KeyHold,
    point: RecoveryPoint,
    now: datetime,
    *,
    payment_id: str | None = None,
    refund_id: str | None = None,
) -> KeyHold:
    """Record a later recovery point in ``uow`` (committed with the phase's own writes)."""
    new = idem.advance(hold.record, point, now, payment_id)
    await uow.keys.save(new, hold.record, now, refund_id)
    return KeyHold(new, hold.operation, refund_id or hold.refund_id)


async def refresh(uow: GatewayUnitOfWork, hold: KeyHold, now: datetime) -> KeyHold:
    """Renew the lock (a long failover chain must not look abandoned)."""
    new = replace(hold.record, locked_at=now)
    await uow.keys.save(new, hold.record, now)
    return KeyHold(new, hold.operation, hold.refund_id)


async def finish(
    uow: GatewayUnitOfWork, hold: KeyHold, response: StoredResponse, now: datetime
) -> None:
    """Store the response and unlock: every retry from now on replays it."""
    await uow.keys.save(idem.finish(hold.record, response), hold.record, now)


async def unlock(uow: GatewayUnitOfWork, hold: KeyHold, now: datetime) -> None:
    """Release the lock without finishing: the next retry resumes at once (the completer
    uses this after settling a request whose client may still come back)."""
    await uow.keys.save(replace(hold.record, locked_at=None), hold.record, now)


def stored(row: KeyRow) -> KeyHold:
    """A stored key as a hold (for the completer, which has just taken it over)."""
    return KeyHold(row.record, row.operation, row.refund_id)


async def drop(rt: GatewayRuntime, hold: KeyHold) -> None:
    """Forget a key whose request was refused before it executed, in its own transaction:
    the same request_id may then be used again (for a corrected request)."""
    async with GatewayUnitOfWork(rt.engine) as uow:
        await uow.keys.delete(hold.record)
        await uow.commit()
