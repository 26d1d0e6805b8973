"""The audit log's table and its chain head, inside one transaction.

Appending is ``lock_head`` (the serialisation point: ``FOR UPDATE`` on
PostgreSQL; on SQLite ``BEGIN IMMEDIATE`` already holds the write lock), then
``append_all`` (or ``append_if_new``) with the sealed records, which inserts
them and moves the head in the same transaction.

The statements are built once, here: building a Core statement per call (and
SQLAlchemy's cache key for it) cost more CPU than executing it. A batch, whatever
its size, is one INSERT executed for all its rows (psycopg pipelines them, one
round trip) and one head UPDATE.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import pairwise
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from identity_svc.domain.audit import AuditRecord

from . import tables as t
from .rows import audit_record_from_row, audit_values

_a, _h = t.audit_events, t.audit_head
_HEAD = select(_h.c.sequence, _h.c.hash).where(_h.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT = insert(_a)
# Skips a row whose event_id is stored already (only that index: a clash of sequences is
# still an error). No RETURNING: with it SQLAlchemy sends the batch as one multi-row
# statement too long for psycopg's statement cache, parsed again on every call (it cost
# more than the rest of the append); without it, one prepared single-row INSERT, pipelined.
_INSERT_NEW: dict[str, Any] = {
    name: make(_a).on_conflict_do_nothing(index_elements=[_a.c.event_id])
    for name, make in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
# Compare-and-set: the head moves only from the state the batch was sealed on, and only
# onto a whole batch. Rows after the head can only be the batch's own (appends hold the
# head lock), so counting them tells whether one was skipped as a known event_id.
_MOVE_HEAD = (
    update(_h)
    .where(
        _h.c.id == 1,
        _h.c.sequence == bindparam("from_sequence"),
        _h.c.hash == bindparam("from_hash"),
        select(func.count())
        .select_from(_a)
        .where(_a.c.sequence > bindparam("from_sequence"))
        .scalar_subquery()
        == bindparam("rows"),
    )
    .values(sequence=bindparam("to_sequence"), hash=bindparam("to_hash"))
)
_BY_EVENT_IDS = select(_a).where(_a.c.event_id.in_(bindparam("event_ids", expanding=True)))


class AuditRepository:
    """Reads and appends of the audit log on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_head(self) -> tuple[int, str]:
        """Lock the chain head and return (sequence, hash) of the last record."""
        # SQLite has no FOR UPDATE; its BEGIN IMMEDIATE holds the write lock already.
        stmt = _HEAD_FOR_UPDATE if self.conn.dialect.name == "postgresql" else _HEAD
        sequence, hash_ = (await self.conn.execute(stmt)).one()
        return int(sequence), str(hash_)

    async def head(self) -> tuple[int, str]:
        """The stored chain head, unlocked (for verification)."""
        sequence, hash_ = (await self.conn.execute(_HEAD)).one()
        return int(sequence), str(hash_)

    async def append(self, record: AuditRecord) -> None:
        """Store a sealed record and make it the head. The head must be locked."""
        await self.append_all([record])

    async def append_all(self, records: Sequence[AuditRecord]) -> None:
        """Store sealed records, each linking to the one before it, and make the last
        one the head: one INSERT and one UPDATE. The head must be locked."""
        if records:
            await self.conn.execute(_INSERT, _rows(records))
            moved = await self._move_head(records)
            # The head was locked and read in this transaction: anything else is a bug.
            assert moved, "audit head moved under its lock"

    async def append_if_new(self, records: Sequence[AuditRecord]) -> bool:
        """``append_all``, unless an event_id of ``records`` is stored already: then
        False, and the transaction holds some of the rows but not the head's move, so
        the caller must roll it back (never commit it). The head must be locked.

        One statement fewer than asking ``by_event_ids`` first, for the common case:
        events sent once. The unique index on event_id decides, under the head lock.
        """
        if not records:
            return True
        await self.conn.execute(_INSERT_NEW[self.conn.dialect.name], _rows(records))
        return await self._move_head(records)

    async def _move_head(self, records: Sequence[AuditRecord]) -> bool:
        """Make the last record the head if every record is stored; True when it moved."""
        first, last = records[0], records[-1]
        moved = {
            "from_sequence": first.sequence - 1,
            "from_hash": first.prev_hash,
            "rows": len(records),
            "to_sequence": last.sequence,
            "to_hash": last.hash,
        }
        result = await self.conn.execute(_MOVE_HEAD, moved)
        return bool(result.rowcount == 1)

    async def by_event_ids(self, event_ids: Collection[str]) -> dict[str, AuditRecord]:
        """The stored records among ``event_ids``, by event id (AuditService's idempotency):
        one SELECT for the whole batch."""
        if not event_ids:
            return {}
        rows = await self.conn.execute(_BY_EVENT_IDS, {"event_ids": list(event_ids)})
        records = (audit_record_from_row(r) for r in rows.mappings())
        return {r.entry.event_id: r for r in records}

    async def newest_first(
        self, *, merchant_id: str, action: str, before: int | None, limit: int
    ) -> list[AuditRecord]:
        """Records newest first, optionally of one merchant and one action."""
        a = t.audit_events
        stmt = select(a).order_by(a.c.sequence.desc()).limit(limit)
        if merchant_id:
            stmt = stmt.where(a.c.merchant_id == merchant_id)
        if action:
            stmt = stmt.where(a.c.action == action)
        if before is not None:
            stmt = stmt.where(a.c.sequence < before)
        return [audit_record_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def in_order(self, after: int, limit: int) -> list[AuditRecord]:
        """Records with sequence > ``after``, ascending: one page of verification."""
        a = t.audit_events
        stmt = select(a).where(a.c.sequence > after).order_by(a.c.sequence).limit(limit)
        return [audit_record_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]


def _rows(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    """The rows of records sealed in one chain, checked to link one to the next."""
    for before, after in pairwise(records):
        # Sealed by the caller from one head: a break here is a bug, never data.
        assert after.sequence == before.sequence + 1 and after.prev_hash == before.hash
    return [audit_values(r) for r in records]
