"""The LedgerService's happy paths over the wire: accounts, postings, holds, reversals,
point-in-time balances, statements, listings, the trial balance and VerifyLedger.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
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
    account_message,
    all_pages,
    amounts,
    balance_of,
    cash_and_payable,
    credit,
    debit,
    entry_view,
    get_tx,
    hold,
    move,
    open_account,
    post,
    record,
    refused,
    reverse,
    serve_ledger,
    timestamp,
    tx_request,
    unique_code,
    void,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


# -- accounts -----------------------------------------------------------------


async def test_an_opened_account_reads_back_the_same_by_id_and_by_code(stub: Stub) -> None:
    sent = account_message(
        LIABILITY,
        EUR,
        name="Merchant m_1 payable",
        owner="m_1",
        metadata={"region": "eu", "tier": "gold"},
        debits_must_not_exceed_credits=True,
    )

    opened = (await stub.CreateAccount(pb.CreateAccountRequest(account=sent))).account
    by_id = (await stub.GetAccount(pb.GetAccountRequest(account_id=opened.id))).account
    by_code = (await stub.GetAccount(pb.GetAccountRequest(code=sent.code))).account

    assert opened.id.startswith("acct_") and len(opened.id) == len("acct_") + 26
    assert (opened.code, opened.name, opened.currency_code, opened.owner) == (
        sent.code,
        "Merchant m_1 payable",
        "EUR",
        "m_1",
    )
    assert dict(opened.metadata) == {"region": "eu", "tier": "gold"}
    assert opened.type == LIABILITY
    assert opened.normal_balance == pb.NORMAL_BALANCE_CREDIT
    assert opened.debits_must_not_exceed_credits and not opened.credits_must_not_exceed_debits
    assert opened.status == pb.ACCOUNT_STATUS_OPEN
    assert abs(opened.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert by_id == opened
    assert by_code == opened


@pytest.mark.parametrize(
    ("type_", "normal"),
    [
        (ASSET, pb.NORMAL_BALANCE_DEBIT),
        (EXPENSE, pb.NORMAL_BALANCE_DEBIT),
        (LIABILITY, pb.NORMAL_BALANCE_CREDIT),
        (EQUITY, pb.NORMAL_BALANCE_CREDIT),
        (REVENUE, pb.NORMAL_BALANCE_CREDIT),
    ],
)
async def test_the_account_type_fixes_the_normal_balance(
    stub: Stub, type_: pb.AccountType.ValueType, normal: pb.NormalBalance.ValueType
) -> None:
    account = await open_account(stub, type_)

    assert account.normal_balance == normal


async def test_closing_an_account_twice_succeeds_and_leaves_it_closed(stub: Stub) -> None:
    account = await open_account(stub, ASSET)

    first = await stub.CloseAccount(pb.CloseAccountRequest(account_id=account.id))
    second = await stub.CloseAccount(pb.CloseAccountRequest(account_id=account.id))
    read = await stub.GetAccount(pb.GetAccountRequest(account_id=account.id))

    assert first.account.status == pb.ACCOUNT_STATUS_CLOSED
    assert second.account.status == pb.ACCOUNT_STATUS_CLOSED
    assert read.account.status == pb.ACCOUNT_STATUS_CLOSED


async def test_list_accounts_filters_by_owner_currency_type_and_code_prefix(stub: Stub) -> None:
    owner = f"m_{uuid.uuid4().hex[:8]}"
    prefix = unique_code("list")
    made = {}
    for key, type_, currency in [
        ("usd_cash", ASSET, USD),
        ("usd_payable", LIABILITY, USD),
        ("eur_payable", LIABILITY, EUR),
        ("eur_fees", REVENUE, EUR),
    ]:
        made[key] = await open_account(stub, type_, currency, owner=owner, code=f"{prefix}/{key}")
    other_owner = await open_account(stub, LIABILITY, USD, code=f"{prefix}/other")

    async def listed(**filters: Any) -> list[str]:
        found, _ = await all_pages(stub.ListAccounts, pb.ListAccountsRequest(**filters), "accounts")
        return [a.id for a in found]

    ids = {k: a.id for k, a in made.items()}
    assert await listed(owner=owner) == [ids[k] for k in made]
    assert await listed(owner=owner, currency_code=EUR) == [ids["eur_payable"], ids["eur_fees"]]
    assert await listed(owner=owner, type=LIABILITY) == [ids["usd_payable"], ids["eur_payable"]]
    assert await listed(owner=owner, type=LIABILITY, currency_code=USD) == [ids["usd_payable"]]
    assert await listed(code_prefix=f"{prefix}/") == [*ids.values(), other_owner.id]
    assert await listed(code_prefix=f"{prefix}/eur_") == [ids["eur_payable"], ids["eur_fees"]]
    assert await listed(owner=owner, type=EXPENSE) == []


async def test_list_accounts_pages_through_every_account_exactly_once(stub: Stub) -> None:
    prefix = unique_code("pages")
    opened = [await open_account(stub, ASSET, code=f"{prefix}/{i}") for i in range(7)]

    found, pages = await all_pages(
        stub.ListAccounts, pb.ListAccountsRequest(code_prefix=prefix, page_size=2), "accounts"
    )

    assert pages == 4
    assert [a.id for a in found] == [a.id for a in opened]
    assert len({a.id for a in found}) == 7


# -- posted and pending transactions ------------------------------------------


async def test_a_posted_transaction_moves_balances_signed_by_each_accounts_normal_side(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)

    tx = await move(stub, cash, payable, 1000, description="capture", external_ref="pi_1")
    await move(stub, payable, cash, 300)
    cash_balance = await balance_of(stub, cash)
    payable_balance = await balance_of(stub, payable)

    assert tx.status == pb.TRANSACTION_STATUS_POSTED
    assert tx.id.startswith("txn_") and tx.sequence > 0 and len(tx.hash) == 64
    assert (tx.description, tx.external_ref) == ("capture", "pi_1")
    assert entry_view(tx.posted_entries) == entry_view(tx.entries)
    assert cash_balance.posted_debits.minor_units == 1000
    assert cash_balance.posted_credits.minor_units == 300
    assert payable_balance.posted_debits.minor_units == 300
    assert payable_balance.posted_credits.minor_units == 1000
    assert await amounts(stub, cash) == (700, 700, 700)  # debit-normal: debits - credits
    assert await amounts(stub, payable) == (700, 700, 700)  # credit-normal: credits - debits
    assert cash_balance.posted.currency_code == "USD"


async def test_a_debit_normal_account_can_go_negative_without_a_limit_flag(stub: Stub) -> None:
    cash = await open_account(stub, ASSET)
    equity = await open_account(stub, EQUITY)

    await move(stub, equity, cash, 250)

    assert await amounts(stub, cash) == (-250, -250, -250)
    assert await amounts(stub, equity) == (-250, -250, -250)


async def test_an_outgoing_hold_lowers_pending_and_available_but_not_posted(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)

    tx = await hold(stub, payable, cash, 300)
    payable_balance = await balance_of(stub, payable)

    assert tx.status == pb.TRANSACTION_STATUS_PENDING
    assert list(tx.posted_entries) == []
    assert not tx.HasField("expire_time")
    assert payable_balance.pending_debits.minor_units == 300
    assert payable_balance.pending_credits.minor_units == 0
    assert await amounts(stub, payable) == (1000, 700, 700)
    assert await amounts(stub, cash) == (1000, 700, 700)


async def test_an_incoming_hold_raises_pending_but_not_available(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)

    await hold(stub, cash, payable, 200)

    assert await amounts(stub, payable) == (1000, 1200, 1000)
    assert await amounts(stub, cash) == (1000, 1200, 1000)


async def test_posting_a_hold_in_full_makes_it_posted(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    tx = await hold(stub, payable, cash, 300)

    posted = await post(stub, tx)

    assert posted.id == tx.id
    assert posted.status == pb.TRANSACTION_STATUS_POSTED
    assert posted.HasField("resolve_time")
    assert entry_view(posted.posted_entries) == entry_view(tx.entries)
    assert (posted.sequence, posted.hash) == (tx.sequence, tx.hash)
    assert await get_tx(stub, tx) == posted
    assert await amounts(stub, payable) == (700, 700, 700)


async def test_a_partial_post_posts_that_amount_and_releases_the_rest_of_the_hold(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    tx = await hold(stub, payable, cash, 300)

    posted = await post(stub, tx, 120)
    payable_balance = await balance_of(stub, payable)

    assert posted.status == pb.TRANSACTION_STATUS_POSTED
    assert entry_view(posted.entries) == entry_view(tx.entries)  # what was held
    assert entry_view(posted.posted_entries) == [
        (payable.id, pb.DIRECTION_DEBIT, 120, "USD"),
        (cash.id, pb.DIRECTION_CREDIT, 120, "USD"),
    ]
    assert payable_balance.pending_debits.minor_units == 0
    assert await amounts(stub, payable) == (880, 880, 880)
    assert await amounts(stub, cash) == (880, 880, 880)


async def test_voiding_a_hold_releases_it(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    tx = await hold(stub, payable, cash, 300)

    voided = await void(stub, tx)

    assert voided.status == pb.TRANSACTION_STATUS_VOIDED
    assert voided.HasField("resolve_time")
    assert list(voided.posted_entries) == []
    assert await amounts(stub, payable) == (1000, 1000, 1000)
    assert await amounts(stub, cash) == (1000, 1000, 1000)


async def test_a_hold_made_before_an_account_closed_can_still_be_posted_or_voided(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    to_post = await hold(stub, payable, cash, 300)
    to_void = await hold(stub, payable, cash, 200)
    await stub.CloseAccount(pb.CloseAccountRequest(account_id=payable.id))

    posted = await post(stub, to_post)
    voided = await void(stub, to_void)

    assert posted.status == pb.TRANSACTION_STATUS_POSTED
    assert voided.status == pb.TRANSACTION_STATUS_VOIDED
    assert await amounts(stub, payable) == (700, 700, 700)


async def wait_for_status(
    stub: Stub, tx: pb.Transaction, status: pb.TransactionStatus.ValueType, within_s: float = 5.0
) -> pb.Transaction:
    deadline = time.monotonic() + within_s
    while True:
        current = await get_tx(stub, tx)
        if current.status == status or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.1)


async def test_a_hold_with_a_timeout_expires_by_itself_and_releases_its_hold(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    tx = await hold(stub, payable, cash, 300, timeout_s=1)
    assert tx.expire_time.ToDatetime() - tx.create_time.ToDatetime() == timedelta(seconds=1)
    assert await amounts(stub, payable) == (1000, 700, 700)

    expired = await wait_for_status(stub, tx, pb.TRANSACTION_STATUS_EXPIRED)
    late_post = await refused(post(stub, tx))

    assert expired.status == pb.TRANSACTION_STATUS_EXPIRED
    assert expired.HasField("resolve_time")
    assert expired.resolve_time.ToDatetime() >= expired.expire_time.ToDatetime()
    assert await amounts(stub, payable) == (1000, 1000, 1000)
    assert late_post.code == grpc.StatusCode.FAILED_PRECONDITION
    assert late_post.reason in ("PENDING_EXPIRED", "TRANSACTION_NOT_PENDING")


async def test_a_due_hold_the_sweeper_has_not_reached_refuses_post_and_void_as_expired(
    database_url: str,
) -> None:
    # A sweeper that runs once at start-up and then not for an hour: the hold is due
    # but still PENDING when the post and the void arrive.
    async with serve_ledger(database_url, sweep_interval_s=3600) as served:
        stub = served.stub
        cash, payable = await cash_and_payable(stub, funded=1000)
        tx = await hold(stub, payable, cash, 300, timeout_s=1)
        await asyncio.sleep(1.1)

        late_post = await refused(post(stub, tx))
        late_void = await refused(void(stub, tx))

        expired = (grpc.StatusCode.FAILED_PRECONDITION, "PENDING_EXPIRED")
        assert (late_post.code, late_post.reason) == expired
        assert (late_void.code, late_void.reason) == expired
        assert (await get_tx(stub, tx)).status == pb.TRANSACTION_STATUS_PENDING


# -- reversals ----------------------------------------------------------------


async def test_a_reversal_mirrors_the_original_and_the_two_link_both_ways(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    original = await move(stub, cash, payable, 500, external_ref="pi_9", metadata={"k": "v"})

    reversal = await reverse(stub, original)
    original_now = await get_tx(stub, original)

    assert reversal.id != original.id
    assert reversal.status == pb.TRANSACTION_STATUS_POSTED
    assert reversal.sequence > original.sequence
    assert entry_view(reversal.entries) == [
        (cash.id, pb.DIRECTION_CREDIT, 500, "USD"),
        (payable.id, pb.DIRECTION_DEBIT, 500, "USD"),
    ]
    assert reversal.description == f"Reversal of {original.id}"
    assert reversal.external_ref == "pi_9" and dict(reversal.metadata) == {"k": "v"}
    assert reversal.reverses_transaction_id == original.id
    assert original_now.reversed_by_transaction_id == reversal.id
    assert (await get_tx(stub, reversal)).reverses_transaction_id == original.id
    assert await amounts(stub, cash) == (0, 0, 0)
    assert await amounts(stub, payable) == (0, 0, 0)


async def test_reversing_a_partially_posted_hold_mirrors_what_was_posted(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=1000)
    tx = await hold(stub, payable, cash, 300)
    await post(stub, tx, 120)

    reversal = await reverse(stub, tx, description="refund")

    assert reversal.description == "refund"
    assert entry_view(reversal.entries) == [
        (payable.id, pb.DIRECTION_CREDIT, 120, "USD"),
        (cash.id, pb.DIRECTION_DEBIT, 120, "USD"),
    ]
    assert await amounts(stub, payable) == (1000, 1000, 1000)


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


# -- batches --------------------------------------------------------------------


async def test_an_atomic_batch_records_items_in_order_and_each_sees_the_ones_before(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    items = [
        tx_request(debit(cash, 100), credit(payable, 100)),
        tx_request(debit(payable, 60), credit(cash, 60)),  # spends what item 0 brought
        tx_request(debit(payable, 40), credit(cash, 40), pending=True),
    ]

    response = await stub.CreateTransactions(
        pb.CreateTransactionsRequest(requests=items, mode=pb.BATCH_MODE_ATOMIC)
    )

    results = [r.transaction for r in response.results]
    assert [r.WhichOneof("outcome") for r in response.results] == ["transaction"] * 3
    assert [t.status for t in results] == [
        pb.TRANSACTION_STATUS_POSTED,
        pb.TRANSACTION_STATUS_POSTED,
        pb.TRANSACTION_STATUS_PENDING,
    ]
    assert [t.sequence for t in results] == sorted(t.sequence for t in results)
    assert await amounts(stub, payable) == (40, 0, 0)


async def test_a_batch_of_a_thousand_items_is_recorded(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    item = tx_request(debit(cash, 1), credit(payable, 1))

    response = await stub.CreateTransactions(pb.CreateTransactionsRequest(requests=[item] * 1000))

    assert len({r.transaction.id for r in response.results}) == 1000
    assert await amounts(stub, payable) == (1000, 1000, 1000)


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
