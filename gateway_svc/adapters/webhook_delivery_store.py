"""The delivery queue on one connection: claims, attempt results, redelivery.

Claiming follows ``outbox.claim``: only the head of each endpoint's queue (its oldest
unfinished delivery, by id) can be claimed, so an endpoint receives its events in the order
they were created, and a retry in backoff holds the endpoint's later events back rather than
letting them overtake it. A dead letter is finished, so it stops holding them. On PostgreSQL
the claim takes ``FOR UPDATE SKIP LOCKED``: several workers (gateway replicas, or
``python -m gateway_svc worker``) drain the queue without waiting on each other or taking
the same row. SQLite has one writer at a time (``BEGIN IMMEDIATE``), which excludes as well.

A claim leases the row (``claimed_until``). A worker that dies mid-attempt leaves the row to
be claimed again when the lease runs out: delivery is at least once, and receivers dedupe on
``webhook-id``. The lease is also a fencing token: each new claim moves it forward, and a
result is recorded only where it is still the claim's own, so a worker that outlived its
lease cannot overwrite the result of the one that took over.

Every result updates the event's summary status in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .rows import utc
from .webhook_records import (
    FINISHED,
    UNFINISHED,
    AttemptOutcome,
    AttemptResult,
    ClaimedDelivery,
    DeliveryStatus,
)
from .webhook_store import WebhookEndpointRepository
from .webhook_summary import refresh_event_status
from .webhook_tables import (
    RESPONSE_EXCERPT_CHARS,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)

_ERROR_CHARS = 2000
_d, _e, _w = webhook_deliveries.c, webhook_endpoints.c, webhook_events.c
_LIVE_ENDPOINT = (_e.enabled.is_(True), _e.deleted_at.is_(None))
_STATUS_AFTER = {
    AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED,
    AttemptOutcome.RETRY_SCHEDULED: DeliveryStatus.PENDING,
    AttemptOutcome.DEAD_LETTERED: DeliveryStatus.DEAD,
    AttemptOutcome.ENDPOINT_GONE: DeliveryStatus.CANCELED,
}
"""Where a delivery stands after an attempt with each outcome."""


def _heads() -> Subquery:
    """The id of each endpoint's head: its oldest unfinished delivery."""
    return (
        select(func.min(_d.id).label("id"))
        .where(_d.status.in_(UNFINISHED))
        .group_by(_d.endpoint_id)
        .subquery()
    )


class WebhookDeliveryRepository:
    """``webhook_deliveries`` and ``webhook_attempts`` on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Up to ``limit`` due heads of live endpoints' queues, oldest first, leased until
        ``now + lease`` (status DELIVERING)."""
        heads = _heads()
        at = utc(now)
        stmt = (
            select(
                _d.id,
                _d.event_id,
                _d.endpoint_id,
                _d.merchant_id,
                _d.attempts,
                _d.round_base,
                _w.type,
                _w.document,
                _e.url,
                _e.secrets,
            )
            .join(heads, heads.c.id == _d.id)
            .join(webhook_events, _w.id == _d.event_id)
            .join(webhook_endpoints, _e.id == _d.endpoint_id)
            .where(_d.next_attempt_at <= at, *_LIVE_ENDPOINT)
            .where(or_(_d.claimed_until.is_(None), _d.claimed_until <= at))
            .order_by(_d.id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=webhook_deliveries)
        rows = (await self._conn.execute(stmt)).mappings().all()
        if not rows:
            return []
        until = utc(now + lease)
        await self._conn.execute(
            update(webhook_deliveries)
            .where(_d.id.in_([row["id"] for row in rows]))
            .values(status=DeliveryStatus.DELIVERING.value, claimed_until=until, updated_at=at)
        )
        return [
            ClaimedDelivery(
                delivery_id=row["id"],
                event_id=row["event_id"],
                endpoint_id=row["endpoint_id"],
                merchant_id=row["merchant_id"],
                event_type=row["type"],
                url=row["url"],
                secrets=bytes(row["secrets"]),
                document=bytes(row["document"]),
                attempt=row["attempts"] + 1,
                round_attempt=row["attempts"] - row["round_base"] + 1,
                lease_until=until,
            )
            for row in rows
        ]

    async def delivered(self, claim: ClaimedDelivery, result: AttemptResult, now: datetime) -> bool:
        """Record a 2xx: the delivery is done. False (nothing written) when the claim was
        no longer the worker's (its lease ran out and another worker took the row)."""
        return await self._finish(claim, result, AttemptOutcome.DELIVERED, now)

    async def retry(
        self, claim: ClaimedDelivery, result: AttemptResult, retry_at: datetime, now: datetime
    ) -> bool:
        """Record a failed attempt and when the next one is due (the domain's schedule, with
        Retry-After honoured). False when the claim was no longer the worker's."""
        return await self._finish(claim, result, AttemptOutcome.RETRY_SCHEDULED, now, retry_at)

    async def dead(self, claim: ClaimedDelivery, result: AttemptResult, now: datetime) -> bool:
        """Record the last failed attempt of the schedule: the delivery is a dead letter, and
        its event shows DEAD_LETTER. False when the claim was no longer the worker's."""
        return await self._finish(claim, result, AttemptOutcome.DEAD_LETTERED, now)

    async def gone(
        self, claim: ClaimedDelivery, result: AttemptResult, reason: str, now: datetime
    ) -> bool:
        """Record a 410: the delivery is canceled, the endpoint disabled for ``reason``, and
        every other delivery it was owed canceled too. False when the claim was no longer
        the worker's."""
        if not await self._finish(claim, result, AttemptOutcome.ENDPOINT_GONE, now):
            return False
        await WebhookEndpointRepository(self._conn).disable(claim.endpoint_id, reason, now)
        return True

    async def release(self, claims: list[ClaimedDelivery], now: datetime) -> None:
        """Hand back claims not attempted (a worker stopping mid-batch), instead of leaving
        them leased until the lease runs out."""
        for claim in claims:
            await self._conn.execute(
                update(webhook_deliveries)
                .where(*self._still_held(claim))
                .values(
                    status=DeliveryStatus.PENDING.value, claimed_until=None, updated_at=utc(now)
                )
            )

    async def redeliver(
        self, merchant_id: str, event_id: str, now: datetime, endpoint_id: str | None = None
    ) -> int | None:
        """Queue the merchant's event again, due ``now``: its finished deliveries (delivered,
        dead, or canceled) to endpoints that are neither disabled nor deleted, or only the
        one to ``endpoint_id``. Deliveries still under way are left alone. Attempt history
        is kept and its numbering continues; the retry schedule starts over. How many
        deliveries were queued; None when the event is missing or another merchant's."""
        found = select(_w.id).where(_w.id == event_id, _w.merchant_id == merchant_id)
        if (await self._conn.execute(found)).scalar_one_or_none() is None:
            return None
        live = select(_e.id).where(_e.merchant_id == merchant_id, *_LIVE_ENDPOINT)
        if endpoint_id is not None:
            live = live.where(_e.id == endpoint_id)
        at = utc(now)
        reset = await self._conn.execute(
            update(webhook_deliveries)
            .where(_d.event_id == event_id, _d.status.in_(FINISHED), _d.endpoint_id.in_(live))
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=at,
                claimed_until=None,
                round_base=_d.attempts,
                updated_at=at,
            )
        )
        await refresh_event_status(self._conn, [event_id])
        return int(reset.rowcount)

    async def next_due(self) -> datetime | None:
        """When the earliest head of a live endpoint's queue can next be claimed (its due
        time, or its lease's end); None when nothing is owed. A worker sleeps until then."""
        heads = _heads()
        stmt = (
            select(_d.next_attempt_at, _d.claimed_until)
            .join(heads, heads.c.id == _d.id)
            .join(webhook_endpoints, _e.id == _d.endpoint_id)
            .where(*_LIVE_ENDPOINT)
        )
        times = [
            max(utc(due), utc(leased)) if leased is not None else utc(due)
            for due, leased in (await self._conn.execute(stmt)).all()
        ]
        return min(times, default=None)

    async def unfinished_count(self) -> int:
        """How many deliveries are still owed (pending or being attempted)."""
        stmt = select(func.count()).select_from(webhook_deliveries).where(_d.status.in_(UNFINISHED))
        return int((await self._conn.execute(stmt)).scalar_one())

    def _still_held(self, claim: ClaimedDelivery) -> tuple[Any, ...]:
        # Each claim moves claimed_until forward (a row is re-claimable only once it has
        # passed), so an unchanged value means nobody claimed the row since this claim did.
        return (
            _d.id == claim.delivery_id,
            _d.status == DeliveryStatus.DELIVERING.value,
            _d.claimed_until == claim.lease_until,
        )

    async def _finish(
        self,
        claim: ClaimedDelivery,
        result: AttemptResult,
        outcome: AttemptOutcome,
        now: datetime,
        next_at: datetime | None = None,
    ) -> bool:
        error = None if result.error is None else result.error[:_ERROR_CHARS]
        values: dict[str, Any] = {
            "status": _STATUS_AFTER[outcome].value,
            "attempts": _d.attempts + 1,
            "claimed_until": None,
            "last_status_code": result.status_code,
            "last_error": error,
            "updated_at": utc(now),
        }
        if next_at is not None:
            values["next_attempt_at"] = utc(next_at)
        stmt = update(webhook_deliveries).where(*self._still_held(claim)).values(values)
        if (await self._conn.execute(stmt)).rowcount != 1:
            return False
        await self._conn.execute(
            insert(webhook_attempts).values(
                delivery_id=claim.delivery_id,
                attempt=claim.attempt,
                started_at=utc(result.started_at),
                status_code=result.status_code,
                latency_ms=max(0, result.latency_ms),
                error=error,
                response_excerpt=result.response_excerpt[:RESPONSE_EXCERPT_CHARS],
                outcome=outcome.value,
            )
        )
        await refresh_event_status(self._conn, [claim.event_id])
        return True
