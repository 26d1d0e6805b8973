"""Concurrent writers through separate engines (separate pools, as separate replicas
would have): no lost usage increment, and one gap-free audit chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.migrate import migrate
from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.identity import Identity
from identity_svc.service_layer.ports import UsageDelta
from svc_kit.db import make_engine
from tests.integration.identity_store.identity_store_support import PEPPER, caller, new_tenant

TASKS = 8
CALLS = 50
DAY = date(2026, 5, 1)
T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


@pytest.fixture
async def engines(pg_database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first, second = make_engine(pg_database_url), make_engine(pg_database_url)
    await migrate(first)
    await migrate(second)  # a second replica starting: a no-op
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_concurrent_usage_flushes_never_lose_an_increment(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    identity = Identity(engines[0], pepper=PEPPER)
    _, admin_key, _ = await identity.bootstrap_admin()
    tenant = await new_tenant(identity, caller(admin_key), "busy")
    stores = [SqlIdentityStore(engine) for engine in engines]
    key_id, merchant_id = tenant.owner.key_id, tenant.merchant.merchant_id

    async def flusher(task: int) -> None:
        store = stores[task % 2]
        for call in range(CALLS):
            used = T0 + timedelta(seconds=task * CALLS + call)
            await store.add_usage(
                [
                    UsageDelta(key_id, merchant_id, "rpc/A", DAY, 2, 1, used),
                    UsageDelta(key_id, merchant_id, "rpc/B", DAY, 1, 0, used),
                    UsageDelta(admin_key.key_id, admin_key.merchant_id, "rpc/A", DAY, 1, 0, used),
                ]
            )

    await asyncio.gather(*(flusher(task) for task in range(TASKS)))
    report = await identity.get_usage(
        tenant.ctx, merchant_id, start_day=DAY, end_day=DAY, key_id=""
    )
    assert [(r.rpc, r.allowed_count, r.throttled_count) for r in report.records] == [
        ("rpc/A", 2 * TASKS * CALLS, TASKS * CALLS),
        ("rpc/B", TASKS * CALLS, 0),
    ]
    key = await identity.get_api_key(tenant.ctx, key_id)
    assert key.last_used_time == T0 + timedelta(seconds=TASKS * CALLS - 1)


async def test_concurrent_mutations_leave_one_gap_free_chain_that_verifies(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    services = [Identity(engine, pepper=PEPPER) for engine in engines]
    _, admin_key, _ = await services[0].bootstrap_admin()
    admin = caller(admin_key)
    tenant = await new_tenant(services[0], admin, "race")
    victims = [
        (
            await services[0].create_api_key(
                admin,
                tenant.merchant.merchant_id,
                display_name=f"v{i}",
                description="",
                role=Role.VIEWER,
                expire_time=None,
                rate_limit=None,
                request_id="",
            )
        )[0]
        for i in range(10)
    ]
    before = await SqlIdentityStore(engines[0]).change_cursor()

    async def create(i: int) -> object:
        return await services[i % 2].create_api_key(
            tenant.ctx,
            tenant.merchant.merchant_id,
            display_name=f"c{i}",
            description="",
            role=Role.DEVELOPER,
            expire_time=None,
            rate_limit=None,
            request_id=f"race-{i}",
        )

    async def revoke(i: int) -> object:
        return await services[i % 2].revoke_api_key(tenant.ctx, victims[i].key_id)

    await asyncio.gather(*(f(i) for i in range(10) for f in (create, revoke)))

    checked, problems = await services[1].verify_audit_log()
    async with engines[1].connect() as conn:
        sequences = (
            (await conn.execute(text("SELECT sequence FROM audit_events ORDER BY 1")))
            .scalars()
            .all()
        )
    assert problems == []
    assert list(sequences) == list(range(1, checked + 1))
    assert checked == 2 + 2 + 10 + 20  # bootstrap, tenant, victims, the race
    changes = await SqlIdentityStore(engines[1]).changes_since(before)
    assert len(changes) == 20
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
