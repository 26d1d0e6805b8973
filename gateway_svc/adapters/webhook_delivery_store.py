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

Every result updates the event's summary status in the same transaction. ``finish_many``
records a worker's batch of results in a handful of statements (each delivery's fenced
UPDATE, then one INSERT of the attempts and one UPDATE of summaries per status), which is
what a busy worker's throughput rests on; the single-result methods are that with one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    DeliveryState,
    DeliveryStatus,
    EventStatus,
    summarize,
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


@dataclass(frozen=True, slots=True)
class Finished:
    """One attempt's result to record: ``next_at`` for RETRY_SCHEDULED, ``reason`` (the
    endpoint's ``disabled_reason``) for ENDPOINT_GONE."""

    claim: ClaimedDelivery
    result: AttemptResult
    outcome: AttemptOutcome
    next_at: datetime | None = None
    reason: str = ""


def _heads() -> Subquery:
    """The id of each live endpoint's head: its oldest unfinished delivery.

    One index seek per endpoint (the partial index on unfinished (endpoint_id, id)), not a
    scan of the whole queue: a backlog of thousands of deliveries must not make every claim
    slower (each claim computes the heads anew).
    """
    ep = webhook_endpoints.alias("head_endpoint")
    head = (
        select(func.min(_d.id))
        .where(_d.endpoint_id == ep.c.id, _d.status.in_(UNFINISHED))
        .scalar_subquery()
    )
    live = (ep.c.enabled.is_(True), ep.c.deleted_at.is_(None))
    return select(head.label("id")).select_from(ep).where(*live).subquery()


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
        return await self._finish(Finished(claim, result, AttemptOutcome.DELIVERED), now)

    async def retry(
        self, claim: ClaimedDelivery, result: AttemptResult, retry_at: datetime, now: datetime
    ) -> bool:
        """Record a failed attempt and when the next one is due (the domain's schedule, with
        Retry-After honoured). False when the claim was no longer the worker's."""
        outcome = AttemptOutcome.RETRY_SCHEDULED
        return await self._finish(Finished(claim, result, outcome, retry_at), now)

    async def dead(self, claim: ClaimedDelivery, result: AttemptResult, now: datetime) -> bool:
        """Record the last failed attempt of the schedule: the delivery is a dead letter, and
        its event shows DEAD_LETTER. False when the claim was no longer the worker's."""
        return await self._finish(Finished(claim, result, AttemptOutcome.DEAD_LETTERED), now)

    async def gone(
        self, claim: ClaimedDelivery, result: AttemptResult, reason: str, now: datetime
    ) -> bool:
        """Record a 410: the delivery is canceled, the endpoint disabled for ``reason``, and
        every other delivery it was owed canceled too. False when the claim was no longer
        the worker's."""
        outcome = AttemptOutcome.ENDPOINT_GONE
        return await self._finish(Finished(claim, result, outcome, reason=reason), now)

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

    async def _finish(self, finished: Finished, now: datetime) -> bool:
        [held] = await self.finish_many([finished], now)
        return held

    async def finish_many(self, batch: Sequence[Finished], now: datetime) -> list[bool]:
        """Record each result of ``batch`` (one attempt per delivery) where its claim is
        still the worker's; whether each was (False: left alone, its lease ran out and
        another worker holds the row). A 410's endpoint is disabled for its ``reason``."""
        held = [await self._settle(finished, now) for finished in batch]
        recorded = [finished for finished, ok in zip(batch, held, strict=True) if ok]
        if recorded:
            await self._conn.execute(insert(webhook_attempts), [_attempt_row(f) for f in recorded])
            await self._refresh({f.claim.event_id for f in recorded})
        endpoints = WebhookEndpointRepository(self._conn)
        for finished in recorded:
            if finished.outcome is AttemptOutcome.ENDPOINT_GONE:
                await endpoints.disable(finished.claim.endpoint_id, finished.reason, now)
        return held

    async def _settle(self, finished: Finished, now: datetime) -> bool:
        """The delivery row after the attempt, if the claim still holds it."""
        result = finished.result
        values: dict[str, Any] = {
            "status": _STATUS_AFTER[finished.outcome].value,
            "attempts": _d.attempts + 1,
            "claimed_until": None,
            "last_status_code": result.status_code,
            "last_error": _error(result),
            "updated_at": utc(now),
        }
        if finished.next_at is not None:
            values["next_attempt_at"] = utc(finished.next_at)
        stmt = update(webhook_deliveries).where(*self._still_held(finished.claim)).values(values)
        return bool((await self._conn.execute(stmt)).rowcount == 1)

    async def _refresh(self, event_ids: Iterable[str]) -> None:
        """``refresh_event_status`` with one UPDATE per status rather than per event (a
        batch's events mostly end in the same one), and safe beside other workers.

        On PostgreSQL the events are locked first, in id order: two workers recording the
        last two deliveries of one event at once would otherwise each read the other's as
        still owed (READ COMMITTED), and the event would stay PENDING for good. Locked, the
        second one's read comes after the first one's commit.
        """
        ids = sorted(set(event_ids))
        if self._conn.dialect.name == "postgresql":
            lock = select(_w.id).where(_w.id.in_(ids)).order_by(_w.id).with_for_update()
            await self._conn.execute(lock)
        stmt = select(_d.event_id, _d.status, _d.attempts, _d.round_base).where(
            _d.event_id.in_(ids)
        )
        states: dict[str, list[DeliveryState]] = defaultdict(list)
        for event_id, status, attempts, round_base in (await self._conn.execute(stmt)).all():
            states[event_id].append(DeliveryState(DeliveryStatus(status), attempts, round_base))
        groups: dict[EventStatus, list[str]] = defaultdict(list)
        for event_id in ids:
            groups[summarize(states[event_id])].append(event_id)
        for status, group in groups.items():
            await self._conn.execute(
                update(webhook_events).where(_w.id.in_(group)).values(status=status.value)
            )


def _error(result: AttemptResult) -> str | None:
    return None if result.error is None else result.error[:_ERROR_CHARS]


def _attempt_row(finished: Finished) -> dict[str, Any]:
    result = finished.result
    return {
        "delivery_id": finished.claim.delivery_id,
        "attempt": finished.claim.attempt,
        "started_at": utc(result.started_at),
        "status_code": result.status_code,
        "latency_ms": max(0, result.latency_ms),
        "error": _error(result),
        "response_excerpt": result.response_excerpt[:RESPONSE_EXCERPT_CHARS],
        "outcome": finished.outcome.value,
    }
