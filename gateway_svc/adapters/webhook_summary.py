"""Writes the webhook repositories share: an event's summary status, and what an endpoint
that stops receiving owes (nothing: its unfinished deliveries are canceled, and stay listed
with the reason).

Both run on the caller's connection, inside its transaction, so the summary never disagrees
with the deliveries it summarizes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .rows import utc
from .webhook_records import UNFINISHED, DeliveryState, DeliveryStatus, summarize
from .webhook_tables import webhook_deliveries, webhook_events


async def refresh_event_status(conn: AsyncConnection, event_ids: Iterable[str]) -> None:
    """Recompute and store the summary status of each of ``event_ids``."""
    ids = sorted(set(event_ids))
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        # Lock the events first (in id order): two transactions finishing an event's last
        # two deliveries at once would otherwise each read the other's delivery as still
        # unfinished and leave the event PENDING forever. SQLite writers are serialized.
        lock = select(webhook_events.c.id).where(webhook_events.c.id.in_(ids))
        await conn.execute(lock.order_by(webhook_events.c.id).with_for_update())
    d = webhook_deliveries.c
    stmt = select(d.event_id, d.status, d.attempts, d.round_base).where(d.event_id.in_(ids))
    states: dict[str, list[DeliveryState]] = defaultdict(list)
    for event_id, status, attempts, round_base in (await conn.execute(stmt)).all():
        states[event_id].append(DeliveryState(DeliveryStatus(status), attempts, round_base))
    for event_id in ids:
        await conn.execute(
            update(webhook_events)
            .where(webhook_events.c.id == event_id)
            .values(status=summarize(states[event_id]).value)
        )


async def cancel_unfinished(
    conn: AsyncConnection, endpoint_id: str, reason: str, now: datetime
) -> int:
    """Cancel the endpoint's deliveries still owed, with ``reason`` as their last error, and
    refresh their events' status; how many were canceled."""
    d = webhook_deliveries.c
    # RETURNING names exactly the rows this statement canceled, even if a concurrent
    # transaction queued more for the endpoint meanwhile.
    stmt = (
        update(webhook_deliveries)
        .where(d.endpoint_id == endpoint_id, d.status.in_(UNFINISHED))
        .values(
            status=DeliveryStatus.CANCELED.value,
            last_error=reason,
            claimed_until=None,
            updated_at=utc(now),
        )
        .returning(d.event_id)
    )
    event_ids = (await conn.execute(stmt)).scalars().all()
    await refresh_event_status(conn, event_ids)
    return len(event_ids)
