"""Merchant events on one connection: the outbox write, and the merchant's reads.

``add`` writes an event and one delivery per endpoint on the caller's connection, so a use
case that calls it inside the unit of work of a state change commits both or neither: an
event exists exactly when the change it reports does, and nothing is ever published from
memory (issue 7, "Outbox"). ``emit`` is the state changes' own path: it picks the endpoints
itself, in SQL, and ignores an event id already stored (ids are deterministic, so a state
change written twice still has one event).

Reads name the merchant; another merchant's event reads as None (NOT_FOUND for the caller).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    insert,
    select,
    tuple_,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .rows import utc
from .webhook_event_sql import (
    CHOSEN,
    emit_statement,
    event_params,
    new_delivery,
    queue_statement,
    type_filter_pattern,
)
from .webhook_records import (
    UNFINISHED,
    AttemptOutcome,
    AttemptPosition,
    AttemptRecord,
    EventQuery,
    EventRecord,
    EventStatus,
    NewEvent,
)
from .webhook_summary import refresh_event_status
from .webhook_tables import webhook_attempts, webhook_deliveries, webhook_events


class QueuedCount:
    """How many events this process has queued deliveries for (ever; rolled back ones too).

    The delivery worker is kicked after every commit of a state change; it claims only when
    this moved since its last claim, so the payments that concern no endpoint (most of
    them) cost it nothing. Deliveries queued by other processes, and retries coming due,
    are found by its idle poll."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> None:
        """Count ``n`` more events queued."""
        self.value += n


QUEUED = QueuedCount()
"""The process's count (one event loop writes it; reads need no lock)."""


class WebhookEventRepository:
    """``webhook_events`` (and their first deliveries) on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, event: NewEvent, endpoint_ids: Sequence[str]) -> None:
        """Queue ``event`` for each of ``endpoint_ids`` (the merchant's matching endpoints),
        due at once; in the caller's transaction. With no endpoint it is only recorded
        (DELIVERED: nothing is owed), so ListEvents still shows it."""
        at = utc(event.created_at)
        status = EventStatus.PENDING if endpoint_ids else EventStatus.DELIVERED
        await self._conn.execute(
            insert(webhook_events).values(
                id=event.id,
                merchant_id=event.merchant_id,
                type=event.type,
                document=event.document,
                created_at=at,
                status=status.value,
            )
        )
        if endpoint_ids:
            # Inserted in the order given: ids grow, and an endpoint's deliveries go out in
            # id order.
            await self._conn.execute(
                insert(webhook_deliveries),
                [
                    new_delivery(event.id, endpoint_id, event.merchant_id, at)
                    for endpoint_id in endpoint_ids
                ],
            )

    async def emit(self, events: Sequence[NewEvent]) -> list[str]:
        """Store ``events`` and queue each, due at once, for every endpoint of its merchant
        that is enabled now and whose filter takes its type, in the caller's transaction;
        the ids written, in order. An id already stored is left as it is (not written, not
        queued again): ids are deterministic, so a state change recorded twice still has one
        event.

        What it costs the state change: one statement when no endpoint wants any of the
        events (each row computes its own status with an EXISTS over the endpoints: PENDING
        when one wants it, DELIVERED when nobody does), plus one per event an endpoint wants
        (its deliveries, INSERT ... SELECT, in the endpoints' creation order). So a payment of
        a merchant without endpoints pays exactly one statement for its events.
        """
        if not events:
            return []
        params = [event_params(event) for event in events]
        stmt = emit_statement(self._conn.dialect.name)
        written = {row.id: row.status for row in await self._conn.execute(stmt, params)}
        wanted = [e for e in events if written.get(e.id) == EventStatus.PENDING.value]
        unqueued = [e.id for e in wanted if not await self._queue_for_wanting_endpoints(e)]
        QUEUED.add(len(wanted) - len(unqueued))
        if unqueued:
            # Every endpoint that wanted it was disabled or deleted between the two statements
            # (READ COMMITTED): nothing is owed, which its summary must say.
            await refresh_event_status(self._conn, unqueued)
        return [event.id for event in events if event.id in written]

    async def _queue_for_wanting_endpoints(self, event: NewEvent) -> int:
        """Queue ``event`` for the endpoints ``wanted_by`` names; how many."""
        row = new_delivery(event.id, "", event.merchant_id, utc(event.created_at))
        params = {
            **{name: value for name, value in row.items() if name not in CHOSEN},
            "id": event.id,
            "merchant_id": event.merchant_id,
            "type_filter": type_filter_pattern(event.type),
        }
        stmt = queue_statement(self._conn.dialect.name)
        return len((await self._conn.execute(stmt, params)).all())

    async def get(self, merchant_id: str, event_id: str) -> EventRecord | None:
        """The merchant's event with its delivery summary; None when missing or another
        merchant's."""
        w = webhook_events.c
        stmt = select(webhook_events).where(w.id == event_id, w.merchant_id == merchant_id)
        row = (await self._conn.execute(stmt)).mappings().one_or_none()
        if row is None:
            return None
        [record] = await self._with_stats([row])
        return record

    async def attempts(
        self,
        merchant_id: str,
        event_id: str,
        endpoint_id: str = "",
        after: AttemptPosition | None = None,
        limit: int = 100,
    ) -> list[AttemptRecord] | None:
        """The attempts to deliver the merchant's event (to ``endpoint_id`` only, unless
        empty), oldest first, strictly after the keyset position ``after`` (the previous
        page's last ``AttemptRecord.position``); None when the event is missing or another
        merchant's."""
        w = webhook_events.c
        found = select(w.id).where(w.id == event_id, w.merchant_id == merchant_id)
        if (await self._conn.execute(found)).scalar_one_or_none() is None:
            return None
        d, a = webhook_deliveries.c, webhook_attempts.c
        stmt = (
            select(d.endpoint_id, webhook_attempts)
            .join(webhook_deliveries, d.id == a.delivery_id)
            .where(d.event_id == event_id)
        )
        if endpoint_id:
            stmt = stmt.where(d.endpoint_id == endpoint_id)
        if after is not None:
            at, delivery_id, attempt = after
            position = tuple_(a.started_at, a.delivery_id, a.attempt)
            stmt = stmt.where(position > tuple_(utc(at), delivery_id, attempt))
        stmt = stmt.order_by(a.started_at, a.delivery_id, a.attempt).limit(limit)
        return [
            AttemptRecord(
                delivery_id=row["delivery_id"],
                endpoint_id=row["endpoint_id"],
                attempt=row["attempt"],
                started_at=utc(row["started_at"]),
                status_code=row["status_code"],
                latency_ms=row["latency_ms"],
                error=row["error"],
                response_excerpt=row["response_excerpt"],
                outcome=AttemptOutcome(row["outcome"]),
            )
            for row in (await self._conn.execute(stmt)).mappings()
        ]

    async def _with_stats(self, rows: Sequence[RowMapping]) -> list[EventRecord]:
        """Records of event ``rows`` with their deliveries summed up: attempts, the next due
        attempt, and the endpoints in queue order."""
        deliveries: dict[str, list[RowMapping]] = defaultdict(list)
        if rows:
            d = webhook_deliveries.c
            stmt = (
                select(d.event_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at)
                .where(d.event_id.in_([row["id"] for row in rows]))
                .order_by(d.id)
            )
            for delivery in (await self._conn.execute(stmt)).mappings():
                deliveries[delivery["event_id"]].append(delivery)
        return [_event(row, deliveries[row["id"]]) for row in rows]

    # Last in the class: below it, ``list`` in an annotation would name this method.
    async def list(
        self,
        merchant_id: str,
        query: EventQuery,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[EventRecord]:
        """The merchant's events matching ``query``, newest first, strictly after the keyset
        position ``after`` (the previous page's last (created_at, id); the service layer
        makes the opaque page token of it, as ``service_layer.fx_pages`` does)."""
        w = webhook_events.c
        conditions: list[ColumnElement[bool]] = [w.merchant_id == merchant_id]
        if query.type:
            conditions.append(w.type == query.type)
        if query.status is not None:
            conditions.append(w.status == query.status.value)
        if query.since is not None:
            conditions.append(w.created_at >= utc(query.since))
        if query.until is not None:
            conditions.append(w.created_at < utc(query.until))
        if after is not None:
            conditions.append(tuple_(w.created_at, w.id) < tuple_(utc(after[0]), after[1]))
        stmt = (
            select(webhook_events)
            .where(and_(*conditions))
            .order_by(w.created_at.desc(), w.id.desc())
            .limit(limit)
        )
        return await self._with_stats((await self._conn.execute(stmt)).mappings().all())


def _event(row: RowMapping, deliveries: Sequence[RowMapping]) -> EventRecord:
    due = [utc(d["next_attempt_at"]) for d in deliveries if d["status"] in UNFINISHED]
    return EventRecord(
        id=row["id"],
        merchant_id=row["merchant_id"],
        type=row["type"],
        document=bytes(row["document"]),
        created_at=utc(row["created_at"]),
        status=EventStatus(row["status"]),
        attempts=sum(d["attempts"] for d in deliveries),
        next_attempt_at=min(due, default=None),
        endpoint_ids=tuple(d["endpoint_id"] for d in deliveries),
    )
