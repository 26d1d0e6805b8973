"""The LedgerService's happy paths over the wire, for transactions: postings, holds (posted in
full or in part, voided, expired), reversals and CreateTransactions batches.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    EQUITY,
    Stub,
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
    refused,
    reverse,
    serve_ledger,
    tx_request,
    void,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


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
