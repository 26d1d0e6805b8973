"""Idempotency keys on one connection: insert-once, compare-and-set, stale scans, reaping.

The rules of ``gateway_svc.domain.idempotency`` hold only if two requests can never both
believe they own a key. Three statements make that true on both backends:

- ``insert`` is ``INSERT ... ON CONFLICT DO NOTHING`` on the (merchant, key) primary key: of
  concurrent first requests exactly one inserts; the others re-read and see it in flight.
- ``take_over`` and ``save`` are compare-and-set on (recovery_point, locked_at): a request
  whose lock was taken over after it stalled past the timeout cannot write over its
  successor, it gets ``ConcurrentModification`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.idempotency import KeyRecord, RecoveryPoint

from .dialect import insert_or_ignore
from .rows import key_from_row, key_values, utc
from .tables import idempotency_keys as k


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A stored key: the domain's record plus what only the service layer reads."""

    record: KeyRecord
    operation: str
    """Which use case the key was first used for (``payments.create`` ...)."""
    refund_id: str | None = None


def _same(record: KeyRecord) -> ColumnElement[bool]:
    locked = (
        k.c.locked_at.is_(None)
        if record.locked_at is None
        else (k.c.locked_at == utc(record.locked_at))
    )
    return and_(
        k.c.merchant_id == record.merchant_id,
        k.c.key == record.key,
        k.c.recovery_point == record.recovery_point.value,
        locked,
    )


# ``save`` is on every keyed request's path: its two shapes (the expected key locked, or
# not) are built once and executed with parameters (see store.py).
_SAME_KEY = and_(
    k.c.merchant_id == bindparam("b_merchant"),
    k.c.key == bindparam("b_key"),
    k.c.recovery_point == bindparam("b_point"),
)
_SAVE_UNLOCKED = update(k).where(_SAME_KEY, k.c.locked_at.is_(None))
_SAVE_LOCKED = update(k).where(_SAME_KEY, k.c.locked_at == bindparam("b_locked"))


class IdempotencyKeyRepository:
    """``idempotency_keys`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def insert(self, record: KeyRecord, operation: str) -> bool:
        """Insert a new key; False when the merchant already has this key."""
        values = key_values(record) | {"operation": operation, "updated_at": record.created_at}
        return await insert_or_ignore(self._conn, k, values, ("merchant_id", "key"))

    async def get(self, merchant_id: str, key: str) -> KeyRow | None:
        """The merchant's key, or None."""
        stmt = select(k).where(k.c.merchant_id == merchant_id, k.c.key == key)
        row = (await self._conn.execute(stmt)).mappings().one_or_none()
        return None if row is None else _key_row(row)

    async def save(
        self,
        new: KeyRecord,
        expected: KeyRecord,
        now: datetime,
        refund_id: str | None = None,
    ) -> None:
        """Replace ``expected`` with ``new``; ConcurrentModification when the stored key is no
        longer ``expected`` (another request took it over)."""
        values: dict[str, Any] = key_values(new) | {"updated_at": utc(now)}
        values.pop("created_at")
        if refund_id is not None:
            values["refund_id"] = refund_id
        values |= {"b_merchant": expected.merchant_id, "b_key": expected.key,
                   "b_point": expected.recovery_point.value}  # fmt: skip
        if expected.locked_at is None:
            stmt = _SAVE_UNLOCKED
        else:
            stmt = _SAVE_LOCKED
            values["b_locked"] = utc(expected.locked_at)
        result = await self._conn.execute(stmt, values)
        if result.rowcount != 1:
            raise ConcurrentModification(
                "the idempotency key was taken over by another request; retry",
                metadata={"idempotency_key": new.key},
            )

    async def take_over(self, record: KeyRecord, now: datetime) -> bool:
        """Lock a key whose lock expired (or was released); False if someone was faster."""
        result = await self._conn.execute(
            update(k).where(_same(record)).values(locked_at=utc(now), updated_at=utc(now))
        )
        return bool(result.rowcount == 1)

    async def delete(self, record: KeyRecord) -> None:
        """Forget a key that never began executing (a refused request), if unchanged."""
        await self._conn.execute(delete(k).where(_same(record)))

    async def stale(self, locked_before: datetime, limit: int) -> list[KeyRow]:
        """Unfinished keys whose lock is older than ``locked_before``: abandoned requests."""
        stmt = (
            select(k)
            .where(k.c.recovery_point != RecoveryPoint.FINISHED.value)
            .where(k.c.locked_at < utc(locked_before))
            .order_by(k.c.locked_at)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).mappings().all()
        return [_key_row(row) for row in rows]

    async def open_for(self, merchant_id: str, key: str) -> bool:
        """True when the key exists and is not finished (its request may still act)."""
        stmt = select(k.c.recovery_point).where(k.c.merchant_id == merchant_id, k.c.key == key)
        point = (await self._conn.execute(stmt)).scalar_one_or_none()
        return point is not None and point != RecoveryPoint.FINISHED.value

    async def reap(self, created_before: datetime, locked_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` keys created before ``created_before`` that no live request
        holds. A key stopped at PAYMENT_CREATED is kept: its provider call is unresolved until
        the completer has settled it, and the key is how a retry finds that out."""
        idle = or_(k.c.locked_at.is_(None), k.c.locked_at < utc(locked_before))
        doomed = (
            select(k.c.merchant_id, k.c.key)
            .where(k.c.created_at < utc(created_before))
            .where(k.c.recovery_point != RecoveryPoint.PAYMENT_CREATED.value)
            .where(idle)
            .limit(limit)
        )
        rows = (await self._conn.execute(doomed)).all()
        for merchant_id, key in rows:
            await self._conn.execute(
                delete(k).where(k.c.merchant_id == merchant_id, k.c.key == key)
            )
        return len(rows)


def _key_row(row: Any) -> KeyRow:
    return KeyRow(key_from_row(row), row["operation"], row["refund_id"])
