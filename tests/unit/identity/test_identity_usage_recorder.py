"""Usage counters: per key, RPC and UTC day, flushed in batches, never lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from identity_svc.service_layer.usage_recorder import UsageRecorder
from tests.unit.identity.fakes import NOW, FakeAuthStore, WallClock

WHOAMI = "paymesh.identity.v1.IdentityService/WhoAmI"
GET_KEY = "paymesh.identity.v1.IdentityService/GetApiKey"


def counts(store: FakeAuthStore) -> dict[tuple[str, str, str], tuple[int, int]]:
    """What reached the store, summed per (key, rpc, day)."""
    total: dict[tuple[str, str, str], tuple[int, int]] = {}
    for d in store.usage:
        allowed, throttled = total.get((d.key_id, d.rpc, d.day.isoformat()), (0, 0))
        total[(d.key_id, d.rpc, d.day.isoformat())] = (
            allowed + d.allowed,
            throttled + d.throttled,
        )
    return total


async def test_requests_are_counted_per_key_rpc_and_utc_day() -> None:
    store, wall = FakeAuthStore(), WallClock()
    recorder = UsageRecorder(store, wall)
    recorder.record("k1", "mer_1", WHOAMI, True)
    recorder.record("k1", "mer_1", WHOAMI, False)
    recorder.record("k1", "mer_1", GET_KEY, True)
    recorder.record("k2", "mer_2", WHOAMI, True)
    wall.now = NOW + timedelta(days=1)
    recorder.record("k1", "mer_1", WHOAMI, True)
    await recorder.flush()
    assert counts(store) == {
        ("k1", WHOAMI, "2025-03-01"): (1, 1),
        ("k1", GET_KEY, "2025-03-01"): (1, 0),
        ("k2", WHOAMI, "2025-03-01"): (1, 0),
        ("k1", WHOAMI, "2025-03-02"): (1, 0),
    }
    assert recorder.pending() == []


async def test_last_used_is_the_latest_allowed_request_and_none_when_all_throttled() -> None:
    store, wall = FakeAuthStore(), WallClock()
    recorder = UsageRecorder(store, wall)
    recorder.record("k1", "mer_1", WHOAMI, True)
    wall.now = NOW + timedelta(minutes=5)
    recorder.record("k1", "mer_1", WHOAMI, True)
    recorder.record("k2", "mer_2", WHOAMI, False)
    last_used = {d.key_id: d.last_used for d in recorder.pending()}
    assert last_used == {"k1": NOW + timedelta(minutes=5), "k2": None}
    assert {d.key_id: d.merchant_id for d in recorder.pending()} == {"k1": "mer_1", "k2": "mer_2"}


async def test_a_failed_flush_keeps_the_counts_and_the_next_delivers_them_once() -> None:
    store, wall = FakeAuthStore(), WallClock()
    recorder = UsageRecorder(store, wall)
    recorder.record("k1", "mer_1", WHOAMI, True)
    recorder.record("k1", "mer_1", WHOAMI, False)
    store.fail_usage = 1
    with pytest.raises(ConnectionError):
        await recorder.flush()
    recorder.record("k1", "mer_1", WHOAMI, True)  # counted while the store was down
    await recorder.flush()  # the failed batch, re-sent under the same id
    await recorder.flush()  # then what was counted meanwhile
    await recorder.flush()  # nothing left: must not send the same counts again
    assert counts(store) == {("k1", WHOAMI, "2025-03-01"): (2, 1)}
    assert store.batches[0] == store.batches[1] != store.batches[2]
    assert len(store.batches) == 3 and recorder.pending() == []


async def test_a_batch_whose_reply_was_lost_is_re_sent_but_counted_once() -> None:
    store, wall = FakeAuthStore(), WallClock()
    recorder = UsageRecorder(store, wall)
    recorder.record("k1", "mer_1", WHOAMI, True)
    store.lose_usage_replies = 1
    with pytest.raises(ConnectionError):
        await recorder.flush()  # committed, but the recorder cannot know
    await recorder.flush()
    assert counts(store) == {("k1", WHOAMI, "2025-03-01"): (1, 0)}
    assert len(store.batches) == 2 and len(set(store.batches)) == 1
    assert recorder.pending() == []


async def test_counts_recorded_during_a_failing_flush_wait_for_the_next_batch() -> None:
    store, wall = FakeAuthStore(), WallClock()
    recorder = UsageRecorder(store, wall)
    recorder.record("k1", "mer_1", WHOAMI, True)
    store.fail_usage = 1
    store_add = store.add_usage

    async def slow_failing_add(deltas: object, *, batch_id: str = "") -> bool:
        recorder.record("k1", "mer_1", WHOAMI, True)  # arrives while the flush awaits
        return await store_add(deltas, batch_id=batch_id)  # type: ignore[arg-type]

    store.add_usage = slow_failing_add  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await recorder.flush()
    assert [(d.allowed, d.throttled) for d in recorder.pending()] == [(1, 0), (1, 0)]


async def test_the_flush_task_delivers_on_its_interval() -> None:
    store = FakeAuthStore()
    recorder = UsageRecorder(store, WallClock(), flush_interval_s=0.02)
    await recorder.start()
    try:
        recorder.record("k1", "mer_1", WHOAMI, True)
        async with asyncio.timeout(1.0):
            await store.delivered.wait()
        assert counts(store) == {("k1", WHOAMI, "2025-03-01"): (1, 0)}
    finally:
        await recorder.stop()


async def test_stop_flushes_what_remains_at_once() -> None:
    store = FakeAuthStore()
    recorder = UsageRecorder(store, WallClock(), flush_interval_s=60.0)
    await recorder.start()
    recorder.record("k1", "mer_1", WHOAMI, False)
    async with asyncio.timeout(1.0):  # must not wait for the 60 s interval
        await recorder.stop()
    assert counts(store) == {("k1", WHOAMI, "2025-03-01"): (0, 1)}


async def test_the_flush_task_survives_a_failing_store() -> None:
    store = FakeAuthStore()
    store.fail_usage = 2
    recorder = UsageRecorder(store, WallClock(), flush_interval_s=0.01)
    await recorder.start()
    try:
        recorder.record("k1", "mer_1", WHOAMI, True)
        async with asyncio.timeout(1.0):
            await store.delivered.wait()
        assert store.fail_usage == 0
        assert counts(store) == {("k1", WHOAMI, "2025-03-01"): (1, 0)}
    finally:
        await recorder.stop()
