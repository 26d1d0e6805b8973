"""The flush's batch path below gRPC (issue 5): concurrent flushes over shared accounts, and on
PostgreSQL the one-statement write and the pipelined locking reads (adapters/pg_flush.py).

What the database itself must still refuse when the write is one statement: entries of an
event that do not balance (the statement-level trigger) and totals past a limit flag (the
CHECK constraints), whole, with nothing of the flush left behind.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.adapters.migrate import migrate
from ledger_svc.domain.commands import CreateTx
from ledger_svc.domain.engine import ChainHead, Effects, PostingEngine
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    AccountType,
    Direction,
    EntrySpec,
    NewTransaction,
    Totals,
)
from ledger_svc.service_layer import posting
from ledger_svc.service_layer.reports import verify
from ledger_svc.service_layer.unit_of_work import UnitOfWork
from svc_kit.db import make_engine, retrying
from svc_kit.ids import new_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def pg_engine(pg_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(pg_database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


async def _open(engine: AsyncEngine, n: int, *, flag_last: bool = False) -> list[Account]:
    accounts = [
        Account(
            id=new_id("acct"), code=f"b/{i}/{new_id('c')}", name=f"a{i}", currency="USD",
            type=AccountType.LIABILITY, owner="m", metadata={},
            debits_must_not_exceed_credits=flag_last and i == n - 1,
            credits_must_not_exceed_debits=False, status=AccountStatus.OPEN, create_time=T0,
        )
        for i in range(n)
    ]  # fmt: skip
    async with UnitOfWork(engine) as uow:
        for acct in accounts:
            assert await uow.ledger.insert_account(acct)
        await uow.commit()
    return accounts


def _move(debited: Account, credited: Account, amount: int, request_id: str = "") -> CreateTx:
    entries = (
        EntrySpec(debited.id, Direction.DEBIT, amount, "USD"),
        EntrySpec(credited.id, Direction.CREDIT, amount, "USD"),
    )
    return CreateTx(NewTransaction(entries), request_id)


async def _totals(engine: AsyncEngine, accounts: list[Account]) -> dict[str, Totals]:
    async with UnitOfWork(engine, read_only=True) as uow:
        loaded = await uow.ledger.lock_accounts(a.id for a in accounts)
    return {aid: acct.totals for aid, acct in loaded.items()}


async def test_concurrent_batches_over_the_same_accounts_in_opposite_orders_never_retry(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt only: a deadlock or a serialisation failure would fail a flush outright.
    monkeypatch.setattr(posting, "retrying", functools.partial(retrying, attempts=1))
    ring = await _open(engine, 6)
    up = [_move(ring[i], ring[(i + 1) % 6], 10 + i) for i in range(6)]
    down = [_move(ring[(i + 1) % 6], ring[i], 100 + i) for i in reversed(range(6))]

    rounds = await asyncio.gather(*(
        posting.flush(engine, [(batch, False)], new_id) for _ in range(5) for batch in (up, down)
    ))  # fmt: skip

    outcomes = [o for [outcome] in rounds for o in outcome]
    assert len(outcomes) == 60 and not [o for o in outcomes if isinstance(o, Exception)]
    assert sorted(o.sequence for o in outcomes) == list(range(1, 61))  # type: ignore[union-attr]
    totals = await _totals(engine, ring)
    for i, acct in enumerate(ring):
        # Debited by "up" item i and "down" item i-1; credited by "up" i-1 and "down" i.
        prev = (i - 1) % 6
        assert totals[acct.id] == Totals(5 * (10 + i + 100 + prev), 5 * (10 + prev + 100 + i))
    assert sum(t.debits_posted - t.credits_posted for t in totals.values()) == 0
    assert (await verify(engine)).ok


async def _decided(engine: AsyncEngine, accounts: list[Account], cmd: CreateTx) -> Effects:
    """A flush's effects for ``cmd``, decided by the real engine but not written."""
    async with UnitOfWork(engine, read_only=True) as uow:
        head, _, locked = await uow.ledger.open_flush([], [a.id for a in accounts])
    decided = PostingEngine(head=head, accounts=locked, transactions={}, remembered={},
                            now=T0, new_id=new_id)  # fmt: skip
    decided.apply(cmd)
    return decided.effects


async def _nothing_was_written(engine: AsyncEngine, accounts: list[Account]) -> None:
    async with UnitOfWork(engine, read_only=True) as uow:
        assert await uow.ledger.lock_head() == ChainHead()
        assert await uow.ledger.count() == 0
        assert await uow.ledger.remembered(["forged"]) == {}
    assert all(t.is_zero() for t in (await _totals(engine, accounts)).values())


async def _write(engine: AsyncEngine, effects: Effects) -> None:
    async with UnitOfWork(engine) as uow:
        await uow.ledger.write_effects(effects, ChainHead(1, "f" * 64), T0)
        await uow.commit()


@pytest.mark.postgres
async def test_postgres_refuses_the_whole_write_when_an_events_entries_do_not_balance(
    pg_engine: AsyncEngine,
) -> None:
    accounts = await _open(pg_engine, 2)
    effects = await _decided(pg_engine, accounts, _move(accounts[0], accounts[1], 50, "forged"))
    forged = effects.entries[1]
    effects.entries[1] = replace(forged, spec=replace(forged.spec, amount=49))

    with pytest.raises(psycopg.errors.CheckViolation, match="do not balance"):
        await _write(pg_engine, effects)

    await _nothing_was_written(pg_engine, accounts)


@pytest.mark.postgres
async def test_postgres_refuses_the_whole_write_when_totals_break_a_limit_flag(
    pg_engine: AsyncEngine,
) -> None:
    accounts = await _open(pg_engine, 2, flag_last=True)
    wallet = accounts[1]
    effects = await _decided(pg_engine, accounts, _move(accounts[0], wallet, 50, "forged"))
    # Bypass the domain's own check: the wallet's delta turned into a debit it cannot cover.
    effects.deltas[wallet.id] = Totals(debits_posted=50)

    with pytest.raises(psycopg.errors.CheckViolation, match="ck_accounts_debits_limit"):
        await _write(pg_engine, effects)

    await _nothing_was_written(pg_engine, accounts)


@pytest.mark.postgres
async def test_postgres_open_flush_holds_the_head_and_the_named_accounts_until_the_end(
    pg_engine: AsyncEngine, pg_database_url: str
) -> None:
    named, other = await _open(pg_engine, 2)
    libpq = make_url(pg_database_url).set(drivername="postgresql")
    nowait = "SELECT 1 FROM {} WHERE id = %s FOR UPDATE NOWAIT"
    async with await psycopg.AsyncConnection.connect(
        libpq.render_as_string(hide_password=False), autocommit=True
    ) as rival:
        async with UnitOfWork(pg_engine) as uow:
            await uow.ledger.open_flush(["some-request"], [named.id])
            for table, key in (("ledger_head", 1), ("accounts", named.id)):
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    await rival.execute(nowait.format(table), [key])
            assert await (await rival.execute(nowait.format("accounts"), [other.id])).fetchone()
        # The unit of work ended (rolled back): both are free again.
        for table, key in (("ledger_head", 1), ("accounts", named.id)):
            assert await (await rival.execute(nowait.format(table), [key])).fetchone()
