"""The webhook storage of issue 7 on SQLite and PostgreSQL: migration 0003 against the tables
module (down and up again), endpoints (merchant scope, versions, soft deletion, filters,
sealed secrets), events written atomically with their deliveries and listed by filter, and
provider callbacks deduplicated by their event id.

The delivery queue (claims, results, redelivery) is in test_webhook_store_delivery.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import gateway_svc.adapters.migrate as migrate_module
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.secret_box import SecretBox, SecretBoxError
from gateway_svc.adapters.tables import metadata
from gateway_svc.adapters.webhook_records import (
    DeliveryStatus,
    EndpointRecord,
    EventQuery,
    EventStatus,
    InboundOutcome,
    NewEvent,
    open_secrets,
    seal_secrets,
)
from gateway_svc.adapters.webhook_tables import webhook_deliveries
from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.webhooks_signing import EndpointSecret
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.schema_support import schema_diff

T0 = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
BOX = SecretBox.development()
SECRET = EndpointSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", None)
WEBHOOK_TABLES = {
    "webhook_endpoints",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
    "provider_webhook_events",
}


def endpoint(
    eid: str = "we_1",
    merchant: str = "m_1",
    at: datetime = T0,
    events: Sequence[str] = (),
    url: str = "https://hooks.example.com/paymesh",
) -> EndpointRecord:
    """A live endpoint with one sealed secret."""
    return EndpointRecord(eid, merchant, url, "orders", tuple(events), True, "",
                          seal_secrets(BOX, eid, [SECRET]), at, at)  # fmt: skip


def event(
    evid: str = "evt_1", merchant: str = "m_1", kind: str = "payment.captured", at: datetime = T0
) -> NewEvent:
    """An event whose document is recognisably its own bytes."""
    return NewEvent(evid, merchant, kind, f'{{"id":"{evid}","type":"{kind}"}}'.encode(), at)


async def queue(engine: AsyncEngine, *endpoints: EndpointRecord) -> None:
    """Store the endpoints in one committed unit."""
    async with GatewayUnitOfWork(engine) as uow:
        for e in endpoints:
            await uow.webhook_endpoints.add(e)
        await uow.commit()


async def publish(engine: AsyncEngine, new: NewEvent, endpoint_ids: Sequence[str]) -> None:
    """Store an event and its deliveries in one committed unit."""
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_events.add(new, endpoint_ids)
        await uow.commit()


def _downgrade(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(migrate_module.__file__).parent / "migrations")
    )
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migration_0003_is_below_the_head_matches_the_tables_and_goes_down_and_up(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        head = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        diff = await conn.run_sync(schema_diff)
    assert (head, diff) == ("0004", [])  # 0004 only adds indexes (test_provider_ref_indexes)
    assert set(metadata.tables) >= WEBHOOK_TABLES
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: _downgrade(c, "0002"))
        names = await _table_names(engine)
        assert not names & WEBHOOK_TABLES and {"payments", "payouts"} <= names
    finally:
        await migrate(engine)
    assert await _table_names(engine) >= WEBHOOK_TABLES


async def test_an_endpoint_round_trips_and_is_invisible_to_another_merchant(
    engine: AsyncEngine,
) -> None:
    stored = endpoint(events=["payment.captured", "refund.succeeded"])
    await queue(engine, stored)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_endpoints.get("m_1", "we_1") == stored
        assert await uow.webhook_endpoints.get("m_2", "we_1") is None
        assert await uow.webhook_endpoints.list("m_2", None, 10) == []
    assert open_secrets(BOX, "we_1", stored.secrets) == (SECRET,)


async def test_sealed_secrets_open_only_for_their_endpoint_and_key(engine: AsyncEngine) -> None:
    await queue(engine, endpoint("we_1"), endpoint("we_2"))
    async with GatewayUnitOfWork(engine) as uow:
        one = await uow.webhook_endpoints.get("m_1", "we_1")
        two = await uow.webhook_endpoints.get("m_1", "we_2")
    assert one is not None and two is not None
    assert SECRET.secret.encode() not in one.secrets
    with pytest.raises(SecretBoxError):
        open_secrets(BOX, "we_2", one.secrets)  # a blob copied onto another row
    with pytest.raises(SecretBoxError):
        open_secrets(SecretBox({"dev": bytes(32)}, "dev"), "we_1", one.secrets)


async def test_an_update_needs_the_version_it_read(engine: AsyncEngine) -> None:
    await queue(engine, endpoint())
    later = T0 + timedelta(minutes=1)
    async with GatewayUnitOfWork(engine) as uow:
        read = await uow.webhook_endpoints.get("m_1", "we_1")
        assert read is not None
        rotated = [EndpointSecret("whsec_new", None), replace(SECRET, expires_at=later)]
        changed = EndpointRecord(read.id, read.merchant_id, "https://new.example.com/h",
                                 "renamed", ("payout.completed",), True, "",
                                 seal_secrets(BOX, read.id, rotated), read.created_at,
                                 later)  # fmt: skip
        stored = await uow.webhook_endpoints.update(changed, read.version)
        with pytest.raises(ConcurrentModification):
            await uow.webhook_endpoints.update(changed, read.version)
        await uow.commit()
    assert (stored.version, stored.url, stored.enabled_events) == (
        1,
        "https://new.example.com/h",
        ("payout.completed",),
    )
    assert open_secrets(BOX, "we_1", stored.secrets) == tuple(rotated)


async def test_a_deleted_endpoint_is_gone_for_the_merchant_but_its_row_stays(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint())
    async with GatewayUnitOfWork(engine) as uow:
        assert not await uow.webhook_endpoints.delete("m_2", "we_1", T0)  # not theirs
        assert await uow.webhook_endpoints.delete("m_1", "we_1", T0)
        assert not await uow.webhook_endpoints.delete("m_1", "we_1", T0)
        read = await uow.webhook_endpoints.get("m_1", "we_1", include_deleted=True)
        assert read is not None and read.deleted_at == T0 and not read.enabled
        with pytest.raises(ConcurrentModification):
            await uow.webhook_endpoints.update(read, read.version)
        assert await uow.webhook_endpoints.get("m_1", "we_1") is None
        assert await uow.webhook_endpoints.list("m_1", None, 10) == []
        assert await uow.webhook_endpoints.matching("m_1", "payment.captured") == []


async def test_endpoints_list_newest_first_in_keyset_pages(engine: AsyncEngine) -> None:
    await queue(engine, *(endpoint(f"we_{i}", at=T0 + timedelta(seconds=i)) for i in range(5)))
    async with GatewayUnitOfWork(engine) as uow:
        first = await uow.webhook_endpoints.list("m_1", None, 2)
        last = first[-1]
        rest = await uow.webhook_endpoints.list("m_1", (last.created_at, last.id), 10)
    assert [e.id for e in first] == ["we_4", "we_3"]
    assert [e.id for e in rest] == ["we_2", "we_1", "we_0"]


async def test_matching_takes_enabled_endpoints_whose_filter_accepts_the_type(
    engine: AsyncEngine,
) -> None:
    off = endpoint("we_off")
    await queue(
        engine,
        endpoint("we_all", at=T0),
        endpoint("we_pay", at=T0 + timedelta(seconds=1), events=["payment.captured"]),
        endpoint("we_ref", at=T0 + timedelta(seconds=2), events=["refund.succeeded"]),
        off,
        endpoint("we_other", merchant="m_2"),
    )
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_endpoints.disable("we_off", "merchant turned it off", T0)
        captured = await uow.webhook_endpoints.matching("m_1", "payment.captured")
        refunded = await uow.webhook_endpoints.matching("m_1", "refund.succeeded")
    assert [e.id for e in captured] == ["we_all", "we_pay"]
    assert [e.id for e in refunded] == ["we_all", "we_ref"]


async def test_an_event_and_its_deliveries_roll_back_with_the_callers_transaction(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_1"), endpoint("we_2"))

    async def state_change_that_fails() -> None:
        async with GatewayUnitOfWork(engine) as uow:
            await uow.webhook_events.add(event("evt_1"), ["we_1", "we_2"])
            raise RuntimeError("state change failed")  # before commit: nothing stays

    with pytest.raises(RuntimeError, match="state change failed"):
        await state_change_that_fails()
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_events.get("m_1", "evt_1") is None
        assert await uow.webhook_deliveries.unfinished_count() == 0
        await uow.webhook_events.add(event("evt_1"), ["we_1", "we_2"])
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        stored = await uow.webhook_events.get("m_1", "evt_1")
        assert await uow.webhook_events.get("m_2", "evt_1") is None
        assert await uow.webhook_deliveries.unfinished_count() == 2
    assert stored is not None
    assert (stored.document, stored.status, stored.attempts, stored.next_attempt_at) == (
        event("evt_1").document,
        EventStatus.PENDING,
        0,
        T0,
    )


async def test_the_database_refuses_a_second_queue_row_and_an_unknown_status(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_1"))
    await publish(engine, event("evt_1"), ["we_1"])
    d = webhook_deliveries.c
    again = webhook_deliveries.insert().values(event_id="evt_1", endpoint_id="we_1",
                                               merchant_id="m_1", status="pending", attempts=0,
                                               round_base=0, next_attempt_at=T0, created_at=T0,
                                               updated_at=T0)  # fmt: skip
    lost = update(webhook_deliveries).where(d.event_id == "evt_1").values(status="lost")
    for statement in (again, lost):
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(statement)
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(d.status))).scalars().all()
    assert statuses == [DeliveryStatus.PENDING.value]


async def test_an_event_no_endpoint_wants_is_listed_as_delivered(engine: AsyncEngine) -> None:
    await publish(engine, event("evt_1"), [])
    async with GatewayUnitOfWork(engine) as uow:
        stored = await uow.webhook_events.get("m_1", "evt_1")
    assert stored is not None and (stored.status, stored.attempts) == (EventStatus.DELIVERED, 0)


async def test_events_list_by_type_status_and_time_range_in_keyset_pages(
    engine: AsyncEngine,
) -> None:
    await queue(engine, endpoint("we_1"))
    kinds = ["payment.captured", "refund.succeeded"] * 3
    for i, kind in enumerate(kinds):
        await publish(engine, event(f"evt_{i}", kind=kind, at=T0 + timedelta(minutes=i)), ["we_1"])
    await publish(engine, event("evt_x", merchant="m_2"), [])
    async with GatewayUnitOfWork(engine) as uow:
        events = uow.webhook_events
        everything = await events.list("m_1", EventQuery(), None, 10)
        page = await events.list("m_1", EventQuery(), None, 4)
        after = (page[-1].created_at, page[-1].id)
        rest = await events.list("m_1", EventQuery(), after, 4)
        refunds = await events.list("m_1", EventQuery(type="refund.succeeded"), None, 10)
        window = EventQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
        ranged = await events.list("m_1", window, None, 10)
        pending = await events.list("m_1", EventQuery(status=EventStatus.PENDING), None, 10)
        dead = await events.list("m_1", EventQuery(status=EventStatus.DEAD_LETTER), None, 10)
    assert [e.id for e in everything] == [f"evt_{i}" for i in range(5, -1, -1)]
    assert [e.id for e in page + rest] == [e.id for e in everything]
    assert [e.id for e in refunds] == ["evt_5", "evt_3", "evt_1"]
    assert [e.id for e in ranged] == ["evt_2", "evt_1"]
    assert len(pending) == 6 and dead == []


async def test_a_provider_callback_is_recorded_once_with_its_raw_bytes(
    engine: AsyncEngine,
) -> None:
    raw = b'\xef\xbb\xbf{"notificationId":"n-1"}'  # exact bytes, a BOM included
    headers = {"x-anet-signature": "sha512=AB12"}
    args = ("authorizenet", "n-1", "net.authorize.payment.authcapture.created", raw, headers, T0)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.provider_events.record_provider_event(*args)
        assert not await uow.provider_events.record_provider_event(*args)
        assert await uow.provider_events.record_provider_event("stripe", "n-1", "x", b"", {}, T0)
        await uow.provider_events.mark_processed("authorizenet", "n-1", T0)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        assert not await uow.provider_events.record_provider_event(*args)  # a replay
        stored = await uow.provider_events.get("authorizenet", "n-1")
    assert stored is not None
    assert (stored.raw_body, stored.headers, stored.outcome, stored.processed_at) == (
        raw,
        headers,
        InboundOutcome.PROCESSED,
        T0,
    )


async def test_a_callback_whose_processing_failed_is_taken_over_by_the_retry(
    engine: AsyncEngine,
) -> None:
    no_headers: dict[str, str] = {}
    args = ("stripe", "evt_s1", "payment_intent.succeeded", b"{}", no_headers, T0)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.provider_events.record_provider_event(*args)
        await uow.provider_events.mark_failed("stripe", "evt_s1", "ledger unavailable", T0)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        failed = await uow.provider_events.get("stripe", "evt_s1")
        assert failed is not None and failed.error == "ledger unavailable"
        assert await uow.provider_events.outcome("stripe", "evt_s1") is InboundOutcome.FAILED
        assert await uow.provider_events.outcome("stripe", "evt_none") is None
        assert await uow.provider_events.record_provider_event(*args)  # the retry processes
        assert not await uow.provider_events.record_provider_event(*args)  # only once
        await uow.provider_events.mark_processed("stripe", "evt_s1", T0, ignored=True)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        done = await uow.provider_events.get("stripe", "evt_s1")
        outcome = await uow.provider_events.outcome("stripe", "evt_s1")
    assert done is not None and (done.outcome, done.error) == (InboundOutcome.IGNORED, None)
    assert outcome is InboundOutcome.IGNORED


async def test_concurrent_deliveries_of_one_callback_have_one_winner(engine: AsyncEngine) -> None:
    async def receive() -> bool:
        async with GatewayUnitOfWork(engine) as uow:
            won = await uow.provider_events.record_provider_event(
                "razorpay", "evt_r1", "payment.captured", b"{}", {}, T0
            )
            await asyncio.sleep(0.01)  # hold the transaction open while the others arrive
            await uow.commit()
            return won

    assert sorted(await asyncio.gather(*(receive() for _ in range(8)))) == [False] * 7 + [True]
