"""The audit log's table and its chain head, inside one transaction.

Appending is ``lock_head`` (the serialisation point: ``FOR UPDATE`` on
PostgreSQL; on SQLite ``BEGIN IMMEDIATE`` already holds the write lock), then
``append`` for each record, which inserts it and moves the head in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity_svc.domain.audit import AuditRecord

from . import tables as t
from .rows import audit_record_from_row, audit_values


class AuditRepository:
    """Reads and appends of the audit log on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_head(self) -> tuple[int, str]:
        """Lock the chain head and return (sequence, hash) of the last record."""
        stmt = select(t.audit_head.c.sequence, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        sequence, hash_ = (await self.conn.execute(stmt)).one()
        return int(sequence), str(hash_)

    async def head(self) -> tuple[int, str]:
        """The stored chain head, unlocked (for verification)."""
        stmt = select(t.audit_head.c.sequence, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
        sequence, hash_ = (await self.conn.execute(stmt)).one()
        return int(sequence), str(hash_)

    async def append(self, record: AuditRecord) -> None:
        """Store a sealed record and make it the head. The head must be locked."""
        await self.conn.execute(insert(t.audit_events).values(audit_values(record)))
        h = t.audit_head
        result = await self.conn.execute(
            update(h)
            .where(h.c.id == 1, h.c.sequence == record.sequence - 1, h.c.hash == record.prev_hash)
            .values(sequence=record.sequence, hash=record.hash)
        )
        # The head was locked and read in this transaction: anything else is a bug.
        assert result.rowcount == 1, "audit head moved under its lock"

    async def by_event_ids(self, event_ids: Collection[str]) -> dict[str, AuditRecord]:
        """The stored records among ``event_ids``, by event id (AuditService's idempotency)."""
        if not event_ids:
            return {}
        a = t.audit_events
        rows = await self.conn.execute(select(a).where(a.c.event_id.in_(list(event_ids))))
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
