"""The LedgerService's happy paths over the wire, for what it reports: point-in-time balances,
statements, ListTransactions, the trial balance and VerifyLedger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    EQUITY,
    EUR,
    EXPENSE,
    LIABILITY,
    REVENUE,
    USD,
    Served,
    Stub,
    all_pages,
    amounts,
    balance_of,
    cash_and_payable,
    credit,
    debit,
    get_tx,
    hold,
    move,
    open_account,
    post,
    record,
    reverse,
    timestamp,
    void,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


# -- point-in-time balances ---------------------------------------------------


async def test_the_balance_as_of_a_past_time_counts_only_entries_effective_by_then(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    t1, t2, t3 = NOW - 30 * DAY, NOW - 20 * DAY, NOW - 10 * DAY
    await move(stub, cash, payable, 100, effective_time=t1)
    await move(stub, cash, payable, 200, effective_time=t2)
    await move(stub, payable, cash, 50, effective_time=t3)
    await move(stub, cash, payable, 1000)  # effective now
    await hold(stub, cash, payable, 7, effective_time=t1)  # pending: never in as-of balances

    async def posted_as_of(when: datetime) -> int:
        return (await balance_of(stub, payable, as_of=when)).posted.minor_units

    assert await posted_as_of(t1 - timedelta(seconds=1)) == 0
    assert await posted_as_of(t1) == 100  # at or before: the boundary counts
    assert await posted_as_of(t1 + DAY) == 100
    assert await posted_as_of(t2) == 300
    assert await posted_as_of(t3 - timedelta(microseconds=1)) == 300
    assert await posted_as_of(t3) == 250
    assert await posted_as_of(NOW - DAY) == 250
    assert await posted_as_of(datetime.now(UTC) + DAY) == 1250
    past = await balance_of(stub, payable, as_of=t2)
    assert past.as_of_time == timestamp(t2)
    assert (past.posted_debits.minor_units, past.posted_credits.minor_units) == (0, 300)
    assert (past.pending_debits.minor_units, past.pending_credits.minor_units) == (0, 0)
    assert past.pending == past.posted and past.available == past.posted
    assert not (await balance_of(stub, payable)).HasField("as_of_time")
    assert await amounts(stub, payable) == (1250, 1257, 1250)


# -- statements ---------------------------------------------------------------


async def test_list_entries_is_a_statement_with_running_balances_across_pages(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    fees = await open_account(stub, REVENUE)
    txs = [
        await move(stub, cash, payable, 1000, description="capture 1"),
        await move(stub, cash, payable, 500, description="capture 2"),
        await record(stub, debit(payable, 100), credit(fees, 30), credit(cash, 70)),
        await move(stub, payable, cash, 400, description="payout"),
    ]
    await hold(stub, payable, cash, 5)  # pending: not on the statement
    # One transaction writing the account twice: a line per entry, in entry order.
    twice = await record(stub, debit(cash, 60), credit(payable, 80), debit(payable, 20))
    txs.append(twice)

    lines, pages = await all_pages(
        stub.ListEntries, pb.ListEntriesRequest(account_id=payable.id, page_size=2), "lines"
    )

    assert pages == 3
    assert [(x.transaction_id, x.direction, x.amount.minor_units) for x in lines] == [
        (txs[0].id, pb.DIRECTION_CREDIT, 1000),
        (txs[1].id, pb.DIRECTION_CREDIT, 500),
        (txs[2].id, pb.DIRECTION_DEBIT, 100),
        (txs[3].id, pb.DIRECTION_DEBIT, 400),
        (twice.id, pb.DIRECTION_CREDIT, 80),
        (twice.id, pb.DIRECTION_DEBIT, 20),
    ]
    assert [x.balance_after.minor_units for x in lines] == [1000, 1500, 1400, 1000, 1080, 1060]
    assert lines[-1].balance_after == (await balance_of(stub, payable)).posted
    assert [x.sequence for x in lines] == sorted(x.sequence for x in lines)
    assert len({x.entry_id for x in lines}) == 6
    assert [x.description for x in lines[:2]] == ["capture 1", "capture 2"]
    assert all(x.amount.currency_code == "USD" for x in lines)
    assert lines[0].effective_time == txs[0].effective_time


async def test_list_entries_filters_by_effective_time(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    t1, t2, t3 = NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY
    for when, amount in [(t1, 10), (t2, 20), (t3, 30)]:
        await move(stub, cash, payable, amount, effective_time=when)

    response = await stub.ListEntries(
        pb.ListEntriesRequest(
            account_id=payable.id, start_time=timestamp(t2), end_time=timestamp(t3)
        )
    )

    assert [x.amount.minor_units for x in response.lines] == [20]
    assert response.lines[0].balance_after.minor_units == 30
    assert response.next_page_token == ""


# -- ListTransactions ---------------------------------------------------------


async def test_list_transactions_filters_by_account_and_effective_time_and_pages(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    other = await open_account(stub, LIABILITY)
    times = [NOW - (9 - i) * DAY for i in range(8)]
    mine = [await move(stub, cash, payable, 10 + i, effective_time=t) for i, t in enumerate(times)]
    for t in times:
        await move(stub, cash, other, 1, effective_time=t)

    on_payable, pages = await all_pages(
        stub.ListTransactions,
        pb.ListTransactionsRequest(account_id=payable.id, page_size=3),
        "transactions",
    )
    in_window, window_pages = await all_pages(
        stub.ListTransactions,
        pb.ListTransactionsRequest(
            account_id=payable.id,
            start_time=timestamp(times[2]),
            end_time=timestamp(times[7]),
            page_size=2,
        ),
        "transactions",
    )

    assert [t.id for t in on_payable] == [t.id for t in mine]
    assert pages == 3
    assert [t.id for t in in_window] == [t.id for t in mine[2:7]]  # start in, end out
    assert window_pages == 3
    assert [t.sequence for t in in_window] == sorted(t.sequence for t in in_window)
    assert in_window[0] == await get_tx(stub, mine[2])


# -- reports (each on a ledger of its own) -------------------------------------


async def test_the_trial_balance_is_balanced_per_currency_with_totals_by_type(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    cash = await open_account(stub, ASSET, USD)
    payable = await open_account(stub, LIABILITY, USD)
    fees = await open_account(stub, REVENUE, USD)
    costs = await open_account(stub, EXPENSE, USD)
    await open_account(stub, EQUITY, USD)  # idle: listed with zero totals
    eur_cash = await open_account(stub, ASSET, EUR)
    eur_equity = await open_account(stub, EQUITY, EUR)
    await record(stub, debit(cash, 1000), credit(payable, 970), credit(fees, 30))
    await move(stub, costs, cash, 12)
    await hold(stub, payable, cash, 400)
    await move(stub, eur_cash, eur_equity, 5000)
    await hold(stub, eur_cash, eur_equity, 70)

    response = await stub.GetTrialBalance(pb.GetTrialBalanceRequest())

    def totals(t: pb.Totals) -> tuple[int, int]:
        return t.debits.minor_units, t.credits.minor_units

    by_currency = {c.currency_code: c for c in response.currencies}
    assert [c.currency_code for c in response.currencies] == ["EUR", "USD"]
    usd, eur = by_currency["USD"], by_currency["EUR"]
    assert usd.balanced and eur.balanced
    assert totals(usd.posted) == (1012, 1012)
    assert totals(usd.pending) == (400, 400)
    assert {t.type: (totals(t.posted), totals(t.pending)) for t in usd.by_type} == {
        ASSET: ((1000, 12), (0, 400)),
        LIABILITY: ((0, 970), (400, 0)),
        EQUITY: ((0, 0), (0, 0)),
        REVENUE: ((0, 30), (0, 0)),
        EXPENSE: ((12, 0), (0, 0)),
    }
    assert [t.type for t in usd.by_type] == [ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE]
    assert totals(eur.posted) == (5000, 5000)
    assert {t.type: (totals(t.posted), totals(t.pending)) for t in eur.by_type} == {
        ASSET: ((5000, 0), (70, 0)),
        EQUITY: ((0, 5000), (0, 70)),
    }
    assert all(t.posted.debits.currency_code == "EUR" for t in eur.by_type)


async def test_verify_ledger_finds_a_clean_ledger_ok_and_counts_what_it_checked(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    empty = await stub.VerifyLedger(pb.VerifyLedgerRequest())
    cash, payable = await cash_and_payable(stub, funded=1000)  # 2 accounts, 1 tx, 2 entries
    fees = await open_account(stub, REVENUE)
    await record(stub, debit(payable, 100), credit(cash, 90), credit(fees, 10))  # 3 entries
    posted = await hold(stub, payable, cash, 50)  # 2 held entries, then 2 posted ones
    await post(stub, posted)
    voided = await hold(stub, payable, cash, 20)  # 2 held entries
    await void(stub, voided)
    await hold(stub, payable, cash, 5)  # 2 held entries, still pending
    reversed_ = await move(stub, cash, payable, 30)  # 2 entries
    await reverse(stub, reversed_)  # 2 entries

    report = await stub.VerifyLedger(pb.VerifyLedgerRequest())

    assert empty.ok and empty.transactions_checked == 0 and empty.entries_checked == 0
    assert report.ok, list(report.discrepancies)
    assert list(report.discrepancies) == []
    assert report.accounts_checked == 3
    assert report.transactions_checked == 7
    assert report.entries_checked == 2 + 3 + 4 + 2 + 2 + 2 + 2


async def test_transaction_sequences_are_journal_numbers_that_posts_and_voids_also_take(
    fresh_ledger: Served,
) -> None:
    # Transaction.sequence is the journal number of the creation; the journal is
    # gap-free from 1, and each post and void takes the next number too.
    stub = fresh_ledger.stub
    cash, payable = await cash_and_payable(stub)
    recorded = [await move(stub, cash, payable, 100)]
    recorded.append(await hold(stub, payable, cash, 10))
    await post(stub, recorded[-1])
    recorded.append(await hold(stub, payable, cash, 10))
    await void(stub, recorded[-1])
    recorded.append(await move(stub, cash, payable, 5))

    listed = (await stub.ListTransactions(pb.ListTransactionsRequest())).transactions

    assert [t.id for t in listed] == [t.id for t in recorded]
    assert [t.sequence for t in listed] == [1, 2, 4, 6]
