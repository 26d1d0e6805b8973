"""Refunds on one connection: stored as documents, versioned, scoped by merchant.

A refund whose provider call ended without an answer stays PENDING with a ``next_check_at``,
which is how the reconciler finds it.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.refunds import Refund, RefundStatus

from .rows import refund_from_doc, refund_values, utc
from .tables import refunds


class RefundRepository:
    """``refunds`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, refund: Refund) -> None:
        """Insert a new (PENDING) refund."""
        values = refund_values(refund) | {"checks_done": 0, "next_check_at": None}
        await self._conn.execute(insert(refunds).values(values))

    async def get(self, merchant_id: str, refund_id: str) -> Refund | None:
        """The merchant's refund; None for a missing or another merchant's refund."""
        stmt = select(refunds.c.doc).where(
            refunds.c.id == refund_id, refunds.c.merchant_id == merchant_id
        )
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else refund_from_doc(json.loads(doc))

    async def for_payment(self, payment_id: str) -> list[Refund]:
        """Every refund of a payment, every status, oldest first."""
        stmt = (
            select(refunds.c.doc)
            .where(refunds.c.payment_id == payment_id)
            .order_by(refunds.c.create_time, refunds.c.id)
        )
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [refund_from_doc(json.loads(doc)) for doc in docs]

    async def update(self, refund: Refund, read_version: int) -> None:
        """Write ``refund`` over the row at ``read_version``, or raise ConcurrentModification."""
        values = refund_values(refund)
        for column in ("id", "payment_id", "merchant_id", "create_time"):
            values.pop(column)
        result = await self._conn.execute(
            update(refunds)
            .where(refunds.c.id == refund.id, refunds.c.version == read_version)
            .values(values)
        )
        if result.rowcount != 1:
            raise ConcurrentModification(
                f"refund {refund.id} changed since it was read; retry the request",
                metadata={"refund_id": refund.id, "payment_id": refund.payment_id},
            )

    async def schedule_check(self, refund_id: str, at: datetime | None, checks_done: int) -> None:
        """When the reconciler should next ask about this refund (None: never)."""
        await self._conn.execute(
            update(refunds)
            .where(refunds.c.id == refund_id)
            .values(next_check_at=utc(at) if at is not None else None, checks_done=checks_done)
        )

    async def due_checks(self, now: datetime, limit: int) -> list[tuple[Refund, int]]:
        """PENDING refunds whose check is due, with the number of checks done so far."""
        stmt = (
            select(refunds.c.doc, refunds.c.checks_done)
            .where(refunds.c.next_check_at <= utc(now))
            .where(refunds.c.status == RefundStatus.PENDING.value)
            .order_by(refunds.c.next_check_at, refunds.c.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [(refund_from_doc(json.loads(doc)), int(done)) for doc, done in rows]

    async def list(
        self,
        merchant_id: str,
        payment_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Refund]:
        """A payment's refunds in creation order, after the key (create_time, id)."""
        r = refunds.c
        stmt = select(r.doc).where(r.merchant_id == merchant_id, r.payment_id == payment_id)
        if after is not None:
            stmt = stmt.where(tuple_(r.create_time, r.id) > tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(r.create_time, r.id).limit(limit)
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [refund_from_doc(json.loads(doc)) for doc in docs]
