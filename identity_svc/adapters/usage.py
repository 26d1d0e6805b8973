"""Usage counters: atomic increments from the edge, and reads for GetUsage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from identity_svc.service_layer.ports import UsageDelta

from . import tables as t
from .rows import utc

# Six bound parameters a row: well under SQLite's and PostgreSQL's limits.
_ROWS_PER_STATEMENT = 500
BATCH_ID_RETENTION = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One counter: requests by one key to one RPC on one UTC day."""

    key_id: str
    rpc: str
    day: date
    allowed_count: int
    throttled_count: int


class UsageRepository:
    """Counter writes and reads on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claim_batch(self, batch_id: str, now: datetime) -> bool:
        """Record ``batch_id`` as applied; False if it already was (a re-sent batch).

        Runs in the same transaction as the counts, so "claimed" and "added"
        commit together or not at all.
        """
        b = t.usage_batches
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(b)
            .values(batch_id=batch_id, applied_at=utc(now))
            .on_conflict_do_nothing(index_elements=[b.c.batch_id])
            .returning(b.c.batch_id)
        )
        claimed = (await self.conn.execute(stmt)).first() is not None
        # A re-send comes within seconds; two days of ids is ample and keeps the table small.
        await self.conn.execute(delete(b).where(b.c.applied_at < utc(now - BATCH_ID_RETENTION)))
        return claimed

    async def add(self, deltas: Sequence[UsageDelta]) -> None:
        """Add every delta with one upsert, then move last_used_time forward.

        Rows are touched in key order, so two concurrent flushes lock them in
        the same order and cannot deadlock each other.
        """
        counts, last_used = _aggregate(deltas)
        if not counts:
            return
        rows = [counts[k] for k in sorted(counts)]
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            await self.conn.execute(self._upsert(rows[start : start + _ROWS_PER_STATEMENT]))
        k = t.api_keys
        for key_id in sorted(last_used):
            at = utc(last_used[key_id])
            newer = k.c.last_used_time.is_(None) | (k.c.last_used_time < at)
            await self.conn.execute(
                update(k)
                .where(k.c.key_id == key_id)
                .values(last_used_time=case((newer, at), else_=k.c.last_used_time))
            )

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t.usage_counters).values(rows)
        u = t.usage_counters
        # Both dialects run ON CONFLICT DO UPDATE atomically per row: a concurrent
        # increment is added to, never overwritten (the row is re-read under its lock).
        return stmt.on_conflict_do_update(
            index_elements=[u.c.key_id, u.c.rpc, u.c.day],
            set_={
                "allowed_count": u.c.allowed_count + stmt.excluded.allowed_count,
                "throttled_count": u.c.throttled_count + stmt.excluded.throttled_count,
            },
        )

    async def read(
        self, merchant_id: str, start: date, end: date, key_id: str
    ) -> list[UsageRecord]:
        """A merchant's counters from ``start`` to ``end`` inclusive, by day, key and RPC."""
        u = t.usage_counters
        stmt = (
            select(u.c.key_id, u.c.rpc, u.c.day, u.c.allowed_count, u.c.throttled_count)
            .where(u.c.merchant_id == merchant_id, u.c.day >= start, u.c.day <= end)
            .order_by(u.c.day, u.c.key_id, u.c.rpc)
        )
        if key_id:
            stmt = stmt.where(u.c.key_id == key_id)
        rows = (await self.conn.execute(stmt)).all()
        return [UsageRecord(k, r, d, int(a), int(th)) for k, r, d, a, th in rows]


def _aggregate(
    deltas: Iterable[UsageDelta],
) -> tuple[dict[tuple[str, str, date], dict[str, Any]], dict[str, datetime]]:
    # PostgreSQL refuses an INSERT ... ON CONFLICT that touches one row twice,
    # so deltas for the same counter are summed first.
    counts: dict[tuple[str, str, date], dict[str, Any]] = {}
    last_used: dict[str, datetime] = {}
    for d in deltas:
        if d.allowed < 0 or d.throttled < 0:
            raise ValueError("usage deltas only add")
        key = (d.key_id, d.rpc, d.day)
        row = counts.setdefault(
            key,
            {
                "key_id": d.key_id,
                "rpc": d.rpc,
                "day": d.day,
                "merchant_id": d.merchant_id,
                "allowed_count": 0,
                "throttled_count": 0,
            },
        )
        row["allowed_count"] += d.allowed
        row["throttled_count"] += d.throttled
        if d.last_used is not None:
            previous = last_used.get(d.key_id)
            last_used[d.key_id] = d.last_used if previous is None else max(previous, d.last_used)
    return counts, last_used
