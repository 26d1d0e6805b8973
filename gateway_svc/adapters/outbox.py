"""The outbox table: work for other services, written with the state change that caused it.

``enqueue`` runs inside the caller's transaction, so the work exists exactly when the change
does. ``claim`` hands a relay the oldest due items, at most one unfinished head per group, so
the items of one payment reach the ledger in the order they were written (a capture never
before its hold). On PostgreSQL the claim takes ``FOR UPDATE SKIP LOCKED``, so several gateway
replicas drain one outbox without waiting on each other or taking the same item; SQLite has one
writer at a time (``BEGIN IMMEDIATE``), which gives the same exclusion.

Delivery is at least once: an item is marked done after its handler succeeded, and every
handler is idempotent on ``dedupe_key`` (the ledger's and identity's request ids).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.adapters.dialect import insert_many_or_ignore
from gateway_svc.adapters.tables import outbox


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One unit of work for another service."""

    id: int
    kind: str
    dedupe_key: str
    group_key: str
    payload: Mapping[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to enqueue: its payload is serialized by the outbox."""

    kind: str
    dedupe_key: str
    group_key: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ParkedItem:
    """An item the relay gave up on, for an operator (and for tests)."""

    id: int
    kind: str
    dedupe_key: str
    last_error: str


# Far enough ahead that no claim ever reaches it; a date both backends store.
PARKED_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


class Outbox:
    """Outbox rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def enqueue(
        self,
        kind: str,
        dedupe_key: str,
        group_key: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Add one item; an item with the same ``dedupe_key`` already there is left as is.

        Re-enqueueing the same work (a resumed request, a reconciler pass that sees the same
        provider state again) is therefore harmless.
        """
        await self.enqueue_many([NewItem(kind, dedupe_key, group_key, payload)], now)

    async def enqueue_many(self, items: Sequence[NewItem], now: datetime) -> None:
        """``enqueue`` for several items in one statement, in order (their ids rise in the
        order given, which is the order a group's items are applied in)."""
        rows = [
            {
                "kind": item.kind,
                "dedupe_key": item.dedupe_key,
                "group_key": item.group_key,
                "payload": json.dumps(item.payload, separators=(",", ":"), sort_keys=True),
                "created_at": now,
                "available_at": now,
                "attempts": 0,
            }
            for item in items
        ]
        await insert_many_or_ignore(self._conn, outbox, rows, ("dedupe_key",))

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
        """The oldest due items, heads of their groups only, leased for ``lease``.

        Leasing moves ``available_at`` forward, so a relay that dies mid-item leaves it to be
        claimed again once the lease runs out, never lost.
        """
        heads = (
            select(func.min(outbox.c.id).label("id"))
            .where(outbox.c.done_at.is_(None))
            .group_by(outbox.c.group_key)
            .subquery()
        )
        stmt = (
            select(outbox)
            .join(heads, heads.c.id == outbox.c.id)
            .where(outbox.c.available_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=outbox)
        rows = (await self._conn.execute(stmt)).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        await self._conn.execute(
            update(outbox).where(outbox.c.id.in_(ids)).values(available_at=now + lease)
        )
        return [
            OutboxItem(
                id=row["id"],
                kind=row["kind"],
                dedupe_key=row["dedupe_key"],
                group_key=row["group_key"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
            )
            for row in rows
        ]

    async def complete(self, ids: Sequence[int], now: datetime) -> None:
        """Mark items done (kept for inspection; a reaper may delete old ones)."""
        if ids:
            await self._conn.execute(
                update(outbox).where(outbox.c.id.in_(list(ids))).values(done_at=now)
            )

    async def fail(self, item_id: int, error: str, retry_at: datetime) -> None:
        """Record a failed try and when the item may be tried again."""
        await self._conn.execute(
            update(outbox)
            .where(outbox.c.id == item_id)
            .values(
                attempts=outbox.c.attempts + 1,
                last_error=error[:2000],
                available_at=retry_at,
            )
        )

    async def release(self, item_ids: list[int], now: datetime) -> None:
        """Hand claimed items back at once (a relay stopping mid-pass), instead of leaving
        them leased until the lease runs out."""
        if item_ids:
            await self._conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(item_ids), outbox.c.done_at.is_(None))
                .values(available_at=now)
            )

    async def park(self, item_id: int, error: str, now: datetime) -> None:
        """Give up on an item until an operator looks: it stays undone and keeps blocking
        its group (a later posting of the same payment must not overtake it)."""
        await self._conn.execute(
            update(outbox)
            .where(outbox.c.id == item_id)
            .values(
                attempts=outbox.c.attempts + 1,
                last_error=error[:2000],
                parked_at=now,
                available_at=PARKED_UNTIL,
            )
        )

    async def reap(self, done_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` items delivered before ``done_before``; how many.

        Only delivered items go: an undone or parked one is work. A delivered item is kept
        for a while for inspection; re-enqueueing its work after it is gone is still safe,
        because the ledger and identity deduplicate on the item's request / event id.
        """
        doomed = (
            select(outbox.c.id)
            .where(outbox.c.done_at.is_not(None), outbox.c.done_at < done_before)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        ids = list((await self._conn.execute(doomed)).scalars())
        if ids:
            await self._conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))
        return len(ids)

    async def pending_count(self, group_key: str | None = None, *, parked: bool = True) -> int:
        """How many items are not done yet (all, or of one group); ``parked=False`` leaves
        out the parked ones, which only an operator can move."""
        condition: ColumnElement[bool] = outbox.c.done_at.is_(None)
        if group_key is not None:
            condition = and_(condition, outbox.c.group_key == group_key)
        if not parked:
            condition = and_(condition, outbox.c.parked_at.is_(None))
        stmt = select(func.count()).select_from(outbox).where(condition)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def deliverable_count(self) -> int:
        """Undone items that a relay can still deliver: not parked, and not queued behind a
        parked item of their group."""
        blocked = select(outbox.c.group_key).where(
            outbox.c.parked_at.is_not(None), outbox.c.done_at.is_(None)
        )
        stmt = (
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.done_at.is_(None), outbox.c.parked_at.is_(None))
            .where(outbox.c.group_key.not_in(blocked))
        )
        return int((await self._conn.execute(stmt)).scalar_one())

    async def next_due(self) -> datetime | None:
        """When the earliest undone, unparked item becomes available (None: nothing left)."""
        stmt = select(func.min(outbox.c.available_at)).where(
            outbox.c.done_at.is_(None), outbox.c.parked_at.is_(None)
        )
        found: datetime | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        if found is None:
            return None
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)

    async def parked(self, limit: int = 100) -> list[ParkedItem]:
        """Parked items, oldest first, with the error that parked them."""
        stmt = (
            select(outbox.c.id, outbox.c.kind, outbox.c.dedupe_key, outbox.c.last_error)
            .where(outbox.c.parked_at.is_not(None), outbox.c.done_at.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [ParkedItem(int(i), str(k), str(d), str(e or "")) for i, k, d, e in rows]
