"""An endpoint disabled while an event is being queued for it: whichever transaction goes
first, nothing is left owed to an endpoint that no longer takes anything.

The queuing statement holds a share lock on the endpoints it chose until its transaction
ends (PostgreSQL; SQLite's writers take turns anyway), so a disable that comes in meanwhile
waits and then cancels the delivery it can now see. Without the lock, READ COMMITTED let the
disable commit first, blind to the uncommitted delivery, which then stayed pending forever.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.webhook_records import EventStatus
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.test_webhook_store import T0, endpoint, event, queue


async def _disable(engine: AsyncEngine, endpoint_id: str) -> int:
    async with GatewayUnitOfWork(engine) as uow:
        canceled = await uow.webhook_endpoints.disable(endpoint_id, "receiver said 410", T0)
        await uow.commit()
    return canceled


async def test_a_disable_during_the_queuing_waits_and_cancels_what_was_queued(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_1"))
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_events.emit([event("evt_1")]) == ["evt_1"]
        disabling = asyncio.create_task(_disable(engine, "we_1"))
        await asyncio.sleep(0.3)
        assert not disabling.done()  # it waits for the transaction that queued the delivery
        await uow.commit()
    assert await asyncio.wait_for(disabling, 10) == 1  # then sees the delivery and cancels it
    async with GatewayUnitOfWork(engine, read_only=True) as uow:
        found = await uow.webhook_events.get("m_1", "evt_1")
    assert found is not None
    assert found.status is not EventStatus.PENDING
    assert found.next_attempt_at is None  # nothing left to send


async def test_an_endpoint_disabled_first_is_not_chosen(engine: AsyncEngine) -> None:
    await queue(engine, endpoint("we_1"))
    assert await _disable(engine, "we_1") == 0
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_events.emit([event("evt_2")])
        await uow.commit()
    async with GatewayUnitOfWork(engine, read_only=True) as uow:
        found = await uow.webhook_events.get("m_1", "evt_2")
    assert found is not None
    assert (found.status, found.endpoint_ids) == (EventStatus.DELIVERED, ())
