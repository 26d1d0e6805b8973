"""The webhook delivery queue on SQLite and PostgreSQL: per-endpoint order, exclusive claims
(two PostgreSQL connections claiming at once never share a row), leases that expire and fence,
retry, dead letter and redelivery with the event's summary status in step, and a 410 that
disables the endpoint and cancels what it was owed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.webhook_delivery_store import WebhookDeliveryRepository
from gateway_svc.adapters.webhook_records import (
    AttemptOutcome,
    AttemptResult,
    ClaimedDelivery,
    EventQuery,
    EventStatus,
)
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.test_webhook_store import T0, endpoint, event, publish, queue

LEASE = timedelta(seconds=30)
DEAD_LETTERS = EventQuery(status=EventStatus.DEAD_LETTER)


def answered(code: int, at: datetime = T0, excerpt: str = "") -> AttemptResult:
    return AttemptResult(started_at=at, status_code=code, latency_ms=12, response_excerpt=excerpt)


async def claim(engine: AsyncEngine, now: datetime = T0, limit: int = 10) -> list[ClaimedDelivery]:
    async with GatewayUnitOfWork(engine) as uow:
        claimed = await uow.webhook_deliveries.claim(now, limit, LEASE)
        await uow.commit()
    return claimed


async def status_of(engine: AsyncEngine, event_id: str) -> EventStatus:
    async with GatewayUnitOfWork(engine) as uow:
        found = await uow.webhook_events.get("m_1", event_id)
    assert found is not None
    return found.status


async def three_events_to_two_endpoints(engine: AsyncEngine) -> None:
    await queue(engine, endpoint("we_a"), endpoint("we_b"))
    for i in range(3):
        await publish(engine, event(f"evt_{i}", at=T0 + timedelta(seconds=i)), ["we_a", "we_b"])


async def test_each_endpoint_receives_its_events_one_at_a_time_in_creation_order(
    engine: AsyncEngine,
) -> None:
    await three_events_to_two_endpoints(engine)
    seen: dict[str, list[str]] = {"we_a": [], "we_b": []}
    now = T0 + timedelta(seconds=5)
    for _ in range(3):
        batch = await claim(engine, now)
        assert sorted(c.endpoint_id for c in batch) == ["we_a", "we_b"]  # one head each
        assert await claim(engine, now) == []  # the next ones wait behind the heads
        async with GatewayUnitOfWork(engine) as uow:
            for c in batch:
                seen[c.endpoint_id].append(c.event_id)
                assert c.document == event(c.event_id).document and c.url.startswith("https://")
                assert await uow.webhook_deliveries.delivered(c, answered(200), now)
            await uow.commit()
    assert seen == {"we_a": ["evt_0", "evt_1", "evt_2"], "we_b": ["evt_0", "evt_1", "evt_2"]}
    assert [await status_of(engine, f"evt_{i}") for i in range(3)] == [EventStatus.DELIVERED] * 3
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.next_due() is None


async def test_two_concurrent_claimers_never_take_the_same_row(engine: AsyncEngine) -> None:
    endpoints = [endpoint(f"we_{i}") for i in range(12)]
    await queue(engine, *endpoints)
    for i in range(3):
        await publish(engine, event(f"evt_{i}"), [e.id for e in endpoints])

    async def claimer() -> list[int]:
        taken: list[int] = []
        for _ in range(6):
            taken += [c.delivery_id for c in await claim(engine, T0, limit=2)]
        return taken

    results = await asyncio.gather(*(claimer() for _ in range(4)))
    everything = [i for taken in results for i in taken]
    assert len(everything) == len(set(everything)) == 12  # every head once, nothing twice


async def test_a_claim_held_open_is_skipped_on_postgres_and_waited_for_on_sqlite(
    engine: AsyncEngine,
) -> None:
    await three_events_to_two_endpoints(engine)
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        held = await WebhookDeliveryRepository(first).claim(T0, 1, LEASE)

        async def claim_meanwhile() -> list[ClaimedDelivery]:
            await second.begin()
            return await WebhookDeliveryRepository(second).claim(T0, 10, LEASE)

        meanwhile = asyncio.create_task(claim_meanwhile())
        if engine.dialect.name == "postgresql":
            # FOR UPDATE SKIP LOCKED: answers at once, around the row the first one holds.
            other = await asyncio.wait_for(meanwhile, 5)
            await first.commit()
        else:
            # BEGIN IMMEDIATE: the second claimer queues for the write lock instead.
            await asyncio.sleep(0.3)
            assert not meanwhile.done()
            await first.commit()
            other = await asyncio.wait_for(meanwhile, 5)
        await second.commit()
    assert [c.endpoint_id for c in held] == ["we_a"]
    assert [(c.endpoint_id, c.event_id) for c in other] == [("we_b", "evt_0")]
    assert await claim(engine) == []


async def test_an_expired_lease_makes_the_row_claimable_and_fences_the_late_worker(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"))
    await publish(engine, event("evt_1"), ["we_a"])
    [first] = await claim(engine, T0)
    assert await claim(engine, T0 + LEASE - timedelta(seconds=1)) == []
    [second] = await claim(engine, T0 + LEASE)
    assert (second.delivery_id, second.attempt) == (first.delivery_id, 1)
    async with GatewayUnitOfWork(engine) as uow:
        late = await uow.webhook_deliveries.retry(first, answered(500), T0 + LEASE, T0 + LEASE)
        assert not late  # the row is the second worker's now
        assert await uow.webhook_deliveries.delivered(second, answered(204), T0 + LEASE)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        attempts = await uow.webhook_events.attempts("m_1", "evt_1")
    assert attempts is not None
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (1, 204, AttemptOutcome.DELIVERED)
    ]


async def test_retries_then_dead_letter_then_redelivery_keep_the_summary_in_step(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"))
    await publish(engine, event("evt_1"), ["we_a"])
    await publish(engine, event("evt_2", at=T0 + timedelta(seconds=1)), ["we_a"])
    retry_at = T0 + timedelta(seconds=5)
    [c1] = await claim(engine, T0)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.retry(
            c1, answered(500, excerpt="x" * 600), retry_at, T0
        )
        await uow.commit()
        assert await uow.webhook_deliveries.next_due() == retry_at
    assert await status_of(engine, "evt_1") == EventStatus.FAILING
    assert await claim(engine, retry_at - timedelta(seconds=1)) == []  # evt_2 waits too
    [c2] = await claim(engine, retry_at)
    assert (c2.event_id, c2.attempt, c2.round_attempt) == ("evt_1", 2, 2)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.dead(c2, answered(503, retry_at), retry_at)
        await uow.commit()
    assert await status_of(engine, "evt_1") == EventStatus.DEAD_LETTER
    [c3] = await claim(engine, retry_at)  # a dead letter no longer holds the endpoint back
    assert c3.event_id == "evt_2"
    async with GatewayUnitOfWork(engine) as uow:
        dead = await uow.webhook_events.list("m_1", DEAD_LETTERS, None, 10)
        assert [e.id for e in dead] == ["evt_1"]
        assert await uow.webhook_deliveries.redeliver("m_2", "evt_1", retry_at) is None
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_1", retry_at) == 1
        await uow.commit()
    assert await status_of(engine, "evt_1") == EventStatus.PENDING  # a new round
    [c4] = await claim(engine, retry_at + LEASE)  # evt_2's lease still holds the endpoint
    assert (c4.event_id, c4.attempt, c4.round_attempt) == ("evt_1", 3, 1)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.delivered(
            c4, answered(200, retry_at + LEASE), retry_at + LEASE
        )
        await uow.commit()
        attempts = await uow.webhook_events.attempts("m_1", "evt_1")
        assert await uow.webhook_events.attempts("m_2", "evt_1") is None
        page = await uow.webhook_events.attempts("m_1", "evt_1", limit=2)
        assert page is not None
        rest = await uow.webhook_events.attempts("m_1", "evt_1", after=page[-1].position)
        elsewhere = await uow.webhook_events.attempts("m_1", "evt_1", endpoint_id="we_b")
    assert rest is not None and page + rest == attempts and elsewhere == []
    assert await status_of(engine, "evt_1") == EventStatus.DELIVERED
    assert attempts is not None
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, AttemptOutcome.RETRY_SCHEDULED),
        (2, 503, AttemptOutcome.DEAD_LETTERED),
        (3, 200, AttemptOutcome.DELIVERED),
    ]
    assert len(attempts[0].response_excerpt) == 512


async def test_a_dead_letter_outranks_another_endpoints_retry_in_the_summary(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"), endpoint("we_b"))
    await publish(engine, event("evt_1"), ["we_a", "we_b"])
    to_a, to_b = sorted(await claim(engine), key=lambda c: c.endpoint_id)
    retry_at = T0 + timedelta(minutes=5)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.retry(to_b, answered(502), retry_at, T0)
        await uow.commit()
    assert await status_of(engine, "evt_1") == EventStatus.FAILING
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.dead(to_a, answered(500), T0)
        await uow.commit()
        summary = await uow.webhook_events.get("m_1", "evt_1")
    assert summary is not None
    assert (summary.status, summary.attempts, summary.next_attempt_at) == (
        EventStatus.DEAD_LETTER,
        2,
        retry_at,
    )


async def test_a_410_disables_the_endpoint_and_cancels_what_it_was_owed(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"), endpoint("we_b"))
    await publish(engine, event("evt_1"), ["we_a", "we_b"])
    await publish(engine, event("evt_2", at=T0 + timedelta(seconds=1)), ["we_a"])
    gone = next(c for c in await claim(engine) if c.endpoint_id == "we_a")
    async with GatewayUnitOfWork(engine) as uow:
        reason = "receiver answered 410 Gone"
        assert await uow.webhook_deliveries.gone(gone, answered(410), reason, T0)
        await uow.commit()
        disabled = await uow.webhook_endpoints.get("m_1", "we_a")
    assert disabled is not None and (disabled.enabled, disabled.disabled_reason) == (False, reason)
    assert disabled.version == 1
    assert await status_of(engine, "evt_1") == EventStatus.PENDING  # we_b is still owed it
    assert await status_of(engine, "evt_2") == EventStatus.DELIVERED  # nothing owed any more
    async with GatewayUnitOfWork(engine) as uow:
        canceled = await uow.webhook_events.get("m_1", "evt_2")
    assert canceled is not None and canceled.endpoint_ids == ("we_a",)
    [again] = await claim(engine, T0 + LEASE)  # we_b's lease ran out; we_a owes nothing
    assert (again.endpoint_id, again.event_id) == ("we_b", "evt_1")
    async with GatewayUnitOfWork(engine) as uow:
        # Redelivering to a disabled endpoint queues nothing; re-enabled, it does.
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_2", T0, "we_a") == 0
        enabled = replace(disabled, enabled=True, disabled_reason="")
        await uow.webhook_endpoints.update(enabled, disabled.version)
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_2", T0, "we_a") == 1
        await uow.commit()
    assert await status_of(engine, "evt_2") == EventStatus.PENDING


async def test_a_delivered_event_is_redelivered_only_where_it_went_before(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"))
    await publish(engine, event("evt_1"), ["we_a"])
    [first] = await claim(engine)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.delivered(first, answered(200), T0)
        await uow.webhook_endpoints.add(endpoint("we_new", at=T0 + timedelta(seconds=1)))
        await uow.commit()
    later = T0 + timedelta(minutes=1)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_1", later, "we_new") == 0
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_1", later) == 1
        assert await uow.webhook_deliveries.redeliver("m_1", "evt_1", later) == 0  # under way
        await uow.commit()
        again = await uow.webhook_events.get("m_1", "evt_1")
    assert again is not None
    assert (again.status, again.attempts, again.next_attempt_at) == (EventStatus.PENDING, 1, later)
    [second] = await claim(engine, later)
    assert (second.endpoint_id, second.attempt, second.round_attempt) == ("we_a", 2, 1)


async def test_disabling_or_deleting_an_endpoint_cancels_its_queue_and_released_claims_return(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_a"), endpoint("we_b"), endpoint("we_c"))
    await publish(engine, event("evt_1"), ["we_a", "we_b", "we_c"])
    claimed = await claim(engine)
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_deliveries.release(claimed, T0)
        read = await uow.webhook_endpoints.get("m_1", "we_a")
        assert read is not None
        off = replace(read, enabled=False, disabled_reason="paused by merchant")
        await uow.webhook_endpoints.update(off, read.version)
        assert await uow.webhook_endpoints.delete("m_1", "we_b", T0)
        await uow.commit()
        assert await uow.webhook_deliveries.unfinished_count() == 1
        assert await uow.webhook_deliveries.next_due() == T0
    [left] = await claim(engine)  # released at once, not after the lease
    assert left.endpoint_id == "we_c"
    async with GatewayUnitOfWork(engine) as uow:
        assert not await uow.webhook_deliveries.delivered(claimed[0], answered(200), T0)
        assert await uow.webhook_deliveries.delivered(left, answered(200), T0)
        await uow.commit()
        history = await uow.webhook_events.attempts("m_1", "evt_1")
    assert await status_of(engine, "evt_1") == EventStatus.DELIVERED  # canceled ones owe nothing
    assert history is not None and [a.endpoint_id for a in history] == ["we_c"]
