"""The key cache: answers from memory, and stops believing itself when it may be stale."""

from __future__ import annotations

import asyncio
import time

import pytest

from identity_svc.domain.model import MerchantStatus
from identity_svc.service_layer.key_cache import KeyCache, StoreUnavailable
from tests.unit.identity.fakes import NOW, FakeAuthStore, ManualClock, issue_key, key_id_of


async def synced(
    store: FakeAuthStore,
    clock: ManualClock,
    *,
    max_age_s: float = 60.0,
    staleness_s: float = 0.75,
    negative_ttl_s: float = 2.0,
) -> KeyCache:
    """A cache whose follower has just polled (the manual clock keeps it current)."""
    cache = KeyCache(
        store, clock, max_age_s=max_age_s, staleness_s=staleness_s, negative_ttl_s=negative_ttl_s
    )
    await cache.sync_once()
    return cache


async def test_revocation_in_the_store_is_seen_within_one_second() -> None:
    store = FakeAuthStore()
    key_id = key_id_of(issue_key(store))
    cache = KeyCache(store, refresh_interval_s=0.05, staleness_s=0.2)
    await cache.start()
    try:
        before = await cache.get(key_id)
        assert before is not None and before.key.revoke_time is None
        revoked_at = time.monotonic()
        store.update_key(key_id, revoke_time=NOW)
        while (record := await cache.get(key_id)) is not None and record.key.revoke_time is None:
            assert time.monotonic() - revoked_at < 1.0, "revocation not seen within 1 s"
            await asyncio.sleep(0.01)
        assert record is not None and record.key.revoke_time == NOW
        assert time.monotonic() - revoked_at < 1.0
    finally:
        await cache.stop()


async def test_a_key_is_loaded_once_then_served_from_memory() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    key_id = key_id_of(issue_key(store))
    cache = await synced(store, clock)
    first, second = await cache.get(key_id), await cache.get(key_id)
    assert first is second is not None
    assert store.load_calls == [key_id]


async def test_an_unknown_key_is_remembered_briefly() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    cache = await synced(store, clock, negative_ttl_s=2.0)
    assert await cache.get("0000000000000000") is None
    assert await cache.get("0000000000000000") is None
    clock.advance(2.5)
    await cache.sync_once()
    assert await cache.get("0000000000000000") is None
    assert store.load_calls == ["0000000000000000"] * 2


async def test_a_key_change_evicts_only_that_key() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    changed, untouched = key_id_of(issue_key(store)), key_id_of(issue_key(store))
    cache = await synced(store, clock)
    await cache.get(changed), await cache.get(untouched)
    store.update_key(changed, display_name="renamed")
    await cache.sync_once()
    record = await cache.get(changed)
    await cache.get(untouched)
    assert record is not None and record.key.display_name == "renamed"
    assert store.load_calls == [changed, untouched, changed]


async def test_a_merchant_change_evicts_every_key_of_that_merchant_only() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    m1 = [key_id_of(issue_key(store, merchant_id="mer_1")) for _ in range(2)]
    m2 = key_id_of(issue_key(store, merchant_id="mer_2"))
    cache = await synced(store, clock)
    for key_id in [*m1, m2]:
        await cache.get(key_id)
    store.set_merchant_status("mer_1", MerchantStatus.SUSPENDED)
    await cache.sync_once()
    reloaded = [await cache.get(key_id) for key_id in m1]
    await cache.get(m2)
    assert all(r is not None and r.merchant_status is MerchantStatus.SUSPENDED for r in reloaded)
    assert store.load_calls == [*m1, m2, *m1]


async def test_concurrent_misses_of_one_key_share_one_load() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    key_id = key_id_of(issue_key(store))
    cache = await synced(store, clock)
    store.gate = asyncio.Event()
    waiters = [asyncio.create_task(cache.get(key_id)) for _ in range(20)]
    await store.loading.wait()  # the one load is in flight, held at the gate
    waiters += [asyncio.create_task(cache.get(key_id)) for _ in range(5)]
    await asyncio.sleep(0)
    store.gate.set()
    records = await asyncio.gather(*waiters)
    assert store.load_calls == [key_id]
    assert all(r is records[0] for r in records) and records[0] is not None


async def test_a_load_that_overlaps_an_eviction_is_not_cached() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    key_id = key_id_of(issue_key(store))
    cache = await synced(store, clock)
    store.gate = asyncio.Event()
    loading = asyncio.create_task(cache.get(key_id))
    await store.loading.wait()  # the old row is read; the reply is held at the gate
    store.update_key(key_id, revoke_time=NOW)  # committed while the load was in flight
    await cache.sync_once()
    store.gate.set()
    stale = await loading
    again = await cache.get(key_id)
    assert stale is not None and stale.key.revoke_time is None  # its waiters get what it read
    assert again is not None and again.key.revoke_time == NOW
    assert store.load_calls == [key_id, key_id]


async def test_entries_are_reloaded_after_max_age_even_without_a_change() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    key_id = key_id_of(issue_key(store))
    cache = await synced(store, clock, max_age_s=60.0)
    await cache.get(key_id)
    clock.advance(61.0)
    await cache.sync_once()
    await cache.get(key_id)
    assert store.load_calls == [key_id, key_id]


async def test_a_stale_change_feed_makes_every_request_read_the_store() -> None:
    store, clock = FakeAuthStore(), ManualClock()
    key_id = key_id_of(issue_key(store))
    cache = await synced(store, clock, staleness_s=0.75)
    await cache.get(key_id)
    store.fail_changes = True
    with pytest.raises(ConnectionError):
        await cache.sync_once()
    clock.advance(0.5)
    await cache.get(key_id)  # still within the bound: memory
    assert store.load_calls == [key_id] and cache.is_fresh()
    clock.advance(0.3)
    await cache.get(key_id)
    await cache.get(key_id)
    assert store.load_calls == [key_id] * 3 and not cache.is_fresh()
    store.fail_loads = True
    with pytest.raises(StoreUnavailable):
        await cache.get(key_id)


async def test_the_follower_recovers_and_the_cache_answers_from_memory_again() -> None:
    store = FakeAuthStore()
    key_id = key_id_of(issue_key(store))
    store.fail_changes = True  # down at start-up
    cache = KeyCache(store, refresh_interval_s=0.02, staleness_s=0.1)
    await cache.start()
    try:
        await cache.get(key_id)
        await cache.get(key_id)
        assert store.load_calls == [key_id, key_id] and not cache.is_fresh()
        store.polled.clear()
        store.fail_changes = False
        async with asyncio.timeout(1.0):
            await store.polled.wait()
        await asyncio.sleep(0)  # the follower records its success after the poll returns
        assert cache.is_fresh()
        loads = len(store.load_calls)
        await cache.get(key_id)
        await cache.get(key_id)
        assert len(store.load_calls) == loads + 1
    finally:
        await cache.stop()
