"""The storage contract, run against SQLite and PostgreSQL alike (style.md rule 8).

These go below gRPC: the unit of work, the repository, the queries and the
flush that ties them to the posting engine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.adapters.migrate import migrate
from ledger_svc.adapters.queries import AccountFilter
from ledger_svc.domain.commands import CreateTx, IdempotencyRecord, PostTx
from ledger_svc.domain.engine import ChainHead
from ledger_svc.domain.errors import LimitExceeded
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    AccountType,
    Direction,
    EntrySpec,
    NewTransaction,
    Totals,
    TxStatus,
)
from ledger_svc.service_layer.posting import flush
from ledger_svc.service_layer.reports import verify
from ledger_svc.service_layer.unit_of_work import UnitOfWork
from svc_kit.db import make_engine
from svc_kit.ids import new_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


def _account(code: str, typ: AccountType = AccountType.ASSET, **flags: bool) -> Account:
    return Account(
        id=new_id("acct"),
        code=code,
        name=code,
        currency="USD",
        type=typ,
        owner="m_1",
        metadata={"k": "v"},
        debits_must_not_exceed_credits=flags.get("dn", False),
        credits_must_not_exceed_debits=flags.get("cn", False),
        status=AccountStatus.OPEN,
        create_time=T0,
    )


async def _open(engine: AsyncEngine, *accounts: Account) -> None:
    async with UnitOfWork(engine) as uow:
        for acct in accounts:
            assert await uow.ledger.insert_account(acct)
        await uow.commit()


def _transfer(debit: Account, credit: Account, amount: int, **kw: object) -> NewTransaction:
    return NewTransaction(
        entries=(
            EntrySpec(debit.id, Direction.DEBIT, amount, "USD"),
            EntrySpec(credit.id, Direction.CREDIT, amount, "USD"),
        ),
        **kw,  # type: ignore[arg-type]
    )


async def test_migrating_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await migrate(engine)
    async with UnitOfWork(engine) as uow:
        assert await uow.ledger.lock_head() == ChainHead()


async def test_a_unit_of_work_rolls_back_unless_committed(engine: AsyncEngine) -> None:
    acct = _account("uow/rollback")
    async with UnitOfWork(engine) as uow:
        assert await uow.ledger.insert_account(acct)
    async with UnitOfWork(engine, read_only=True) as uow:
        assert await uow.ledger.get_account(acct.id) is None


async def test_an_account_round_trips_and_its_code_is_unique(engine: AsyncEngine) -> None:
    acct = _account("store/roundtrip", AccountType.LIABILITY, dn=True)
    await _open(engine, acct)
    async with UnitOfWork(engine) as uow:
        assert not await uow.ledger.insert_account(_account("store/roundtrip"))
        loaded = await uow.ledger.get_account(acct.id)
        by_code = await uow.ledger.get_account_by_code("store/roundtrip")
    assert loaded == acct
    assert by_code == acct


async def test_accounts_list_in_creation_order_with_filters(engine: AsyncEngine) -> None:
    made = [
        _account(f"list/{i}", AccountType.ASSET if i % 2 else AccountType.EXPENSE) for i in range(5)
    ]
    await _open(engine, *made)
    async with UnitOfWork(engine, read_only=True) as uow:
        everything = await uow.queries.list_accounts(AccountFilter(code_prefix="list/"), "", 10)
        assets = await uow.queries.list_accounts(
            AccountFilter(type=AccountType.ASSET, code_prefix="list/"), "", 10
        )
        after_second = await uow.queries.list_accounts(AccountFilter(), made[1].id, 10)
    assert [a.id for a in everything] == sorted(a.id for a in made)
    assert {a.code for a in assets} == {"list/1", "list/3"}
    assert all(a.id > made[1].id for a in after_second)


async def test_a_flush_writes_totals_entries_journal_and_remembers_request_ids(
    engine: AsyncEngine,
) -> None:
    cash, payable = _account("f/cash"), _account("f/payable", AccountType.LIABILITY)
    await _open(engine, cash, payable)
    cmd = CreateTx(_transfer(cash, payable, 700), request_id="req-1")
    [[tx]] = await flush(engine, [([cmd], False)], new_id)
    assert not isinstance(tx, Exception)
    async with UnitOfWork(engine, read_only=True) as uow:
        stored = (await uow.ledger.transactions([tx.id]))[tx.id]
        accounts = await uow.ledger.lock_accounts([cash.id, payable.id])
        remembered = await uow.ledger.remembered(["req-1", "unknown"])
        head = await uow.ledger.lock_head()
    assert stored == tx
    assert accounts[cash.id].totals == Totals(debits_posted=700)
    assert accounts[payable.id].totals == Totals(credits_posted=700)
    assert remembered == {"req-1": IdempotencyRecord("req-1", cmd.fingerprint(), tx.id)}
    assert head == ChainHead(tx.sequence, tx.hash)


async def test_a_refused_command_in_a_flush_does_not_stop_the_others(engine: AsyncEngine) -> None:
    cash = _account("r/cash")
    wallet = _account("r/wallet", AccountType.LIABILITY, dn=True)
    await _open(engine, cash, wallet)
    fund = CreateTx(_transfer(cash, wallet, 100))
    overdraw = CreateTx(_transfer(wallet, cash, 101))
    spend = CreateTx(_transfer(wallet, cash, 60))
    [[funded, refused, spent]] = await flush(engine, [([fund, overdraw, spend], False)], new_id)
    assert isinstance(refused, LimitExceeded)
    assert not isinstance(funded, Exception) and not isinstance(spent, Exception)
    assert (await verify(engine)).ok


async def test_an_atomic_request_fails_whole_and_leaves_its_neighbours_alone(
    engine: AsyncEngine,
) -> None:
    cash = _account("a/cash")
    wallet = _account("a/wallet", AccountType.LIABILITY, dn=True)
    await _open(engine, cash, wallet)
    good = ([CreateTx(_transfer(cash, wallet, 50))], False)
    doomed = ([CreateTx(_transfer(cash, wallet, 10)), CreateTx(_transfer(wallet, cash, 500))], True)
    [[ok], failed] = await flush(engine, [good, doomed], new_id)
    assert not isinstance(ok, Exception)
    assert all(isinstance(x, LimitExceeded) for x in failed)
    async with UnitOfWork(engine, read_only=True) as uow:
        totals = (await uow.ledger.lock_accounts([wallet.id]))[wallet.id].totals
    assert totals == Totals(credits_posted=50)


async def test_concurrent_flushes_serialise_into_one_gap_free_chain(engine: AsyncEngine) -> None:
    cash, payable = _account("c/cash"), _account("c/payable", AccountType.LIABILITY)
    await _open(engine, cash, payable)
    batches = [[([CreateTx(_transfer(cash, payable, 1))], False)] for _ in range(20)]
    results = await asyncio.gather(*(flush(engine, b, new_id) for b in batches))
    sequences = sorted(r[0][0].sequence for r in results)  # type: ignore[union-attr]
    assert sequences == list(range(sequences[0], sequences[0] + 20))
    async with UnitOfWork(engine, read_only=True) as uow:
        totals = (await uow.ledger.lock_accounts([payable.id]))[payable.id].totals
    assert totals.credits_posted == 20
    assert (await verify(engine)).ok


async def test_statements_carry_running_balances_and_as_of_sums(engine: AsyncEngine) -> None:
    cash, payable = _account("s/cash"), _account("s/payable", AccountType.LIABILITY)
    await _open(engine, cash, payable)
    times = [T0 + timedelta(days=d) for d in range(3)]
    cmds = [
        CreateTx(_transfer(cash, payable, amount, effective_time=when))
        for amount, when in zip((100, 250, 40), times, strict=True)
    ]
    await flush(engine, [(cmds, False)], new_id)
    async with UnitOfWork(engine, read_only=True) as uow:
        lines = await uow.queries.statement(payable.id, None, None, (0, -1), 10)
        later = await uow.queries.statement(
            payable.id, None, None, (lines[0].sequence, lines[0].index), 10
        )
        as_of = await uow.queries.posted_totals_as_of(payable.id, times[1])
    assert [x.balance_after for x in lines] == [100, 350, 390]
    assert [x.balance_after for x in later] == [350, 390]
    assert as_of == Totals(credits_posted=350)


async def test_due_expiries_lists_only_lapsed_holds(engine: AsyncEngine) -> None:
    cash, payable = _account("e/cash"), _account("e/payable", AccountType.LIABILITY)
    await _open(engine, cash, payable)
    ids = itertools.count()
    clock_now = datetime.now(UTC)
    hold = CreateTx(_transfer(cash, payable, 5, pending=True, pending_timeout_s=1.0))
    open_ended = CreateTx(_transfer(cash, payable, 6, pending=True))
    [[lapsing, forever]] = await flush(
        engine, [([hold, open_ended], False)], lambda p: f"{p}_{next(ids)}_{new_id('x')}"
    )
    assert not isinstance(lapsing, Exception) and not isinstance(forever, Exception)
    async with UnitOfWork(engine, read_only=True) as uow:
        assert await uow.ledger.due_expiries(clock_now, 10) == []
        assert await uow.ledger.due_expiries(clock_now + timedelta(seconds=2), 10) == [lapsing.id]
    [[posted]] = await flush(engine, [([PostTx(forever.id)], False)], new_id)
    assert not isinstance(posted, Exception) and posted.status is TxStatus.POSTED
