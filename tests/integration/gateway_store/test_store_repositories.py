"""The gateway's storage contract, on SQLite and PostgreSQL alike (style.md rule 8).

Below the use cases: the schema against its migration, the repositories' version checks,
the payment lease, the idempotency key's insert-once and compare-and-set, attempts, the
outbox's group heads and parking, and the ledger refs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.attempts import Attempt, Operation, Outcome, RequestSummary
from gateway_svc.domain.cards import CardBrand, CardSummary
from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.idempotency import RecoveryPoint, StoredResponse
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, Payment
from gateway_svc.domain.providers import Provider
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.schema_support import schema_diff

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CARD = MethodSummary(card=CardSummary(CardBrand.VISA, "4242", 12, 2040))


def payment(pid: str = "pay_1", merchant: str = "m_1", at: datetime = T0) -> Payment:
    return Payment(pid, merchant, 1000, "USD", CaptureMethod.MANUAL, CARD, at, at)


def attempt(aid: str, pid: str = "pay_1", at: datetime = T0) -> Attempt:
    return Attempt(aid, pid, Operation.AUTHORIZE, Provider.STRIPE, aid,
                   RequestSummary(1000, "USD", CARD), None, at)  # fmt: skip


async def test_the_migration_creates_exactly_the_tables_module(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(schema_diff)
    assert diff == []


async def test_a_payment_round_trips_and_a_stale_version_is_refused(engine: AsyncEngine) -> None:
    p = payment()
    async with GatewayUnitOfWork(engine) as uow:
        await uow.payments.add(p)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        loaded = await uow.payments.get("m_1", "pay_1")
        assert loaded == p
        assert await uow.payments.get("m_2", "pay_1") is None
        loaded.authorize(T0 + timedelta(seconds=1), 1000)
        await uow.payments.update(loaded, 0)
        with pytest.raises(ConcurrentModification):
            await uow.payments.update(loaded, 0)
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        stored = await uow.payments.get_any("pay_1")
    assert stored is not None and (stored.version, stored.authorized_minor) == (1, 1000)


async def test_the_lease_has_one_holder_until_it_expires(engine: AsyncEngine) -> None:
    async with GatewayUnitOfWork(engine) as uow:
        await uow.payments.add(payment())
        until = T0 + timedelta(seconds=90)
        assert await uow.payments.take_lease("pay_1", "a", until, T0)
        assert not await uow.payments.take_lease("pay_1", "b", until, T0 + timedelta(seconds=10))
        assert await uow.payments.take_lease("pay_1", "a", until, T0 + timedelta(seconds=10))
        await uow.payments.release_lease("pay_1", "b")  # not b's: nothing happens
        assert (await uow.payments.lease_of("pay_1"))[0] == "a"
        later = T0 + timedelta(seconds=91)
        assert await uow.payments.take_lease("pay_1", "b", later + timedelta(seconds=90), later)
        await uow.payments.release_lease("pay_1", "b")
        assert await uow.payments.lease_of("pay_1") == (None, None)


async def test_a_key_is_inserted_once_and_written_only_by_its_holder(engine: AsyncEngine) -> None:
    record = idem.started("m_1", "k", "fp", T0)
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.keys.insert(record, "payments.create")
        assert not await uow.keys.insert(record, "payments.create")
        moved = idem.advance(record, RecoveryPoint.PAYMENT_CREATED, T0, "pay_1")
        await uow.keys.save(moved, record, T0)
        with pytest.raises(ConcurrentModification):
            await uow.keys.save(moved, record, T0)  # the stored key is no longer `record`
        assert not await uow.keys.take_over(record, T0)
        assert await uow.keys.take_over(moved, T0 + timedelta(seconds=91))
        await uow.commit()
    async with GatewayUnitOfWork(engine) as uow:
        row = await uow.keys.get("m_1", "k")
        assert row is not None and row.operation == "payments.create"
        assert (row.record.recovery_point, row.record.payment_id) == (
            RecoveryPoint.PAYMENT_CREATED,
            "pay_1",
        )
        assert await uow.keys.get("m_2", "k") is None


async def test_concurrent_first_inserts_of_one_key_have_exactly_one_winner(
    engine: AsyncEngine,
) -> None:
    async def insert() -> bool:
        async with GatewayUnitOfWork(engine) as uow:
            won = await uow.keys.insert(idem.started("m_1", "race", "fp", T0), "payments.create")
            await asyncio.sleep(0.01)  # hold the transaction open while the others arrive
            await uow.commit()
            return won

    results = await asyncio.gather(*(insert() for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]


async def test_stale_keys_are_found_and_the_reaper_keeps_unsettled_ones(
    engine: AsyncEngine,
) -> None:
    old = T0 - timedelta(hours=80)
    finished = idem.finish(idem.started("m_1", "done", "fp", old), StoredResponse(0, b"ok"))
    open_call = idem.advance(idem.started("m_1", "open", "fp", old),
                             RecoveryPoint.PAYMENT_CREATED, old, "pay_1")  # fmt: skip
    fresh = idem.started("m_1", "fresh", "fp", T0)
    async with GatewayUnitOfWork(engine) as uow:
        for r in (finished, open_call, fresh):
            assert await uow.keys.insert(r, "payments.create")
        stale = await uow.keys.stale(T0 - timedelta(seconds=90), 10)
        assert [r.record.key for r in stale] == ["open"]
        reaped = await uow.keys.reap(T0 - timedelta(hours=72), T0 - timedelta(seconds=90), 10)
        assert reaped == 1
        assert await uow.keys.get("m_1", "done") is None
        assert await uow.keys.get("m_1", "open") is not None
        replay = await uow.keys.get("m_1", "fresh")
        assert replay is not None and replay.record.response is None


async def test_attempts_are_numbered_with_their_tries_and_stale_ones_found(
    engine: AsyncEngine,
) -> None:
    async with GatewayUnitOfWork(engine) as uow:
        await uow.payments.add(payment())
        assert await uow.attempts.add(attempt("att_1"), "m_1", "k") == 1
        assert (
            await uow.attempts.add(attempt("att_2", at=T0 + timedelta(seconds=5)), "m_1", "k") == 2
        )
        done = attempt("att_1").finish_ok(T0 + timedelta(seconds=1), 12, "pi_1")
        await uow.attempts.save(done, [{"latency_ms": 12}])
        assert [a.outcome for a in await uow.attempts.for_payment("pay_1")] == [
            Outcome.SUCCEEDED,
            Outcome.PENDING,
        ]
        assert await uow.attempts.tries("att_1") == [{"latency_ms": 12}]
        latest = await uow.attempts.latest("pay_1", Operation.AUTHORIZE)
        assert latest is not None and latest.id == "att_2"
        [stale] = await uow.attempts.stale_pending(T0 + timedelta(seconds=10), 10)
        assert (stale.attempt.id, stale.merchant_id, stale.request_key) == ("att_2", "m_1", "k")


async def test_the_outbox_hands_out_group_heads_and_a_parked_head_blocks_its_group(
    engine: AsyncEngine,
) -> None:
    lease = timedelta(seconds=30)
    async with GatewayUnitOfWork(engine) as uow:
        for key, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
            await uow.outbox.enqueue("ledger", key, group, {"k": key}, T0)
        await uow.outbox.enqueue("ledger", "a1", "A", {"k": "again"}, T0)  # deduplicated
        heads = await uow.outbox.claim(T0, 10, lease)
        assert [i.dedupe_key for i in heads] == ["a1", "b1"]
        assert await uow.outbox.claim(T0, 10, lease) == []  # leased
        await uow.outbox.park(heads[0].id, "refused: LIMIT_EXCEEDED", T0)
        await uow.outbox.complete([heads[1].id], T0)
        assert await uow.outbox.claim(T0 + lease * 2, 10, lease) == []
        assert await uow.outbox.deliverable_count() == 0
        assert await uow.outbox.pending_count() == 2
        [parked] = await uow.outbox.parked()
        assert (parked.dedupe_key, parked.last_error) == ("a1", "refused: LIMIT_EXCEEDED")


async def test_ledger_refs_remember_transactions_and_accounts(engine: AsyncEngine) -> None:
    async with GatewayUnitOfWork(engine) as uow:
        await uow.ledger_refs.remember_transaction("p:hold", "tx_1", T0)
        await uow.ledger_refs.remember_transaction("p:hold", "tx_2", T0)  # first one stays
        assert await uow.ledger_refs.transaction_id("p:hold") == "tx_1"
        assert await uow.ledger_refs.transaction_id("nope") is None
        await uow.ledger_refs.remember_accounts({"gw/m/USD/clearing": "acct_1"}, "USD", T0)
        known = await uow.ledger_refs.known_accounts(["gw/m/USD/clearing", "gw/m/USD/fees"])
        assert known == {"gw/m/USD/clearing": "acct_1"}


async def test_the_database_refuses_a_payment_without_a_positive_amount(
    engine: AsyncEngine,
) -> None:
    broken = payment("pay_0")
    broken.amount_minor = 0
    with pytest.raises(IntegrityError):
        async with GatewayUnitOfWork(engine) as uow:
            await uow.payments.add(broken)
