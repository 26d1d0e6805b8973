"""request_id over the wire: a repeat returns the first result and changes nothing, concurrent
twins post exactly once, and a refused request is not remembered.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    LIABILITY,
    Served,
    Stub,
    account_message,
    all_pages,
    amounts,
    cash_and_payable,
    credit,
    debit,
    entry_view,
    get_tx,
    hold,
    move,
    new_request_id,
    open_account,
    post,
    refusal_from_error,
    refused,
    reverse,
    tx_request,
    unique_code,
    void,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def transactions_on(stub: Stub, account: pb.Account) -> list[pb.Transaction]:
    request = pb.ListTransactionsRequest(account_id=account.id, page_size=500)
    found, _ = await all_pages(stub.ListTransactions, request, "transactions")
    return found


def same_result(a: pb.Transaction, b: pb.Transaction) -> bool:
    return (a.id, a.sequence, a.hash) == (b.id, b.sequence, b.hash)


# -- sequential repeats ---------------------------------------------------------


async def test_a_repeated_create_transaction_returns_the_first_transaction_and_posts_nothing(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    request = tx_request(
        debit(cash, 100), credit(payable, 100), request_id=new_request_id(), description="d"
    )

    first = (await stub.CreateTransaction(request)).transaction
    again = (await stub.CreateTransaction(request)).transaction

    assert again == first
    assert await amounts(stub, payable) == (100, 100, 100)
    assert [t.id for t in await transactions_on(stub, payable)] == [first.id]


async def test_a_repeated_pending_create_returns_the_same_hold_and_holds_once(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    rid = new_request_id()

    first = await hold(stub, payable, cash, 30, timeout_s=60, request_id=rid)
    again = await hold(stub, payable, cash, 30, timeout_s=60, request_id=rid)

    assert same_result(again, first)
    assert again.status == pb.TRANSACTION_STATUS_PENDING
    assert again.expire_time == first.expire_time
    assert await amounts(stub, payable) == (100, 70, 70)


async def test_a_repeated_create_account_returns_the_first_account(stub: Stub) -> None:
    rid = new_request_id()
    request = pb.CreateAccountRequest(account=account_message(LIABILITY, name="n"), request_id=rid)

    first = (await stub.CreateAccount(request)).account
    again = (await stub.CreateAccount(request)).account
    listed = await stub.ListAccounts(pb.ListAccountsRequest(code_prefix=request.account.code))

    assert again == first
    assert [a.id for a in listed.accounts] == [first.id]


async def test_a_repeated_close_account_returns_the_closed_account(stub: Stub) -> None:
    account = await open_account(stub, ASSET)
    request = pb.CloseAccountRequest(account_id=account.id, request_id=new_request_id())

    first = (await stub.CloseAccount(request)).account
    again = (await stub.CloseAccount(request)).account

    assert first.status == pb.ACCOUNT_STATUS_CLOSED
    assert again == first


async def test_a_repeated_post_returns_the_posted_transaction_and_posts_once(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)
    rid = new_request_id()

    first = await post(stub, tx, 25, request_id=rid)
    again = await post(stub, tx, 25, request_id=rid)

    assert again == first
    assert first.status == pb.TRANSACTION_STATUS_POSTED
    assert await amounts(stub, payable) == (75, 75, 75)


async def test_a_repeated_void_returns_the_voided_transaction(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)
    rid = new_request_id()

    first = await void(stub, tx, request_id=rid)
    again = await void(stub, tx, request_id=rid)

    assert again == first
    assert first.status == pb.TRANSACTION_STATUS_VOIDED
    assert await amounts(stub, payable) == (100, 100, 100)


async def test_a_repeated_reverse_returns_the_same_reversal_and_reverses_once(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 100)
    rid = new_request_id()

    first = await reverse(stub, tx, description="refund", request_id=rid)
    again = await reverse(stub, tx, description="refund", request_id=rid)

    assert again == first
    assert first.reverses_transaction_id == tx.id
    assert (await get_tx(stub, tx)).reversed_by_transaction_id == first.id
    assert await amounts(stub, payable) == (0, 0, 0)
    assert len(await transactions_on(stub, payable)) == 2


async def test_a_repeat_after_the_hold_was_posted_still_names_the_first_transaction(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    rid = new_request_id()
    first = await hold(stub, payable, cash, 30, request_id=rid)
    await post(stub, first)

    again = await hold(stub, payable, cash, 30, request_id=rid)

    assert same_result(again, first)
    assert await amounts(stub, payable) == (70, 70, 70)


async def test_a_batch_that_repeats_a_request_id_records_it_once(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    item = tx_request(debit(cash, 10), credit(payable, 10), request_id=new_request_id())

    response = await stub.CreateTransactions(
        pb.CreateTransactionsRequest(requests=[item, item, item], mode=pb.BATCH_MODE_INDEPENDENT)
    )
    single = (await stub.CreateTransaction(item)).transaction

    assert {r.transaction.id for r in response.results} == {single.id}
    assert await amounts(stub, payable) == (10, 10, 10)


# -- refusals are not remembered ----------------------------------------------------


async def test_a_refused_request_retried_with_its_request_id_after_funding_succeeds(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=50)
    rid = new_request_id()

    refusal = await refused(move(stub, payable, cash, 80, request_id=rid))
    await move(stub, cash, payable, 50)
    retried = await move(stub, payable, cash, 80, request_id=rid)
    replayed = await move(stub, payable, cash, 80, request_id=rid)

    assert (refusal.code, refusal.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "LIMIT_EXCEEDED",
    )
    assert retried.status == pb.TRANSACTION_STATUS_POSTED
    assert replayed == retried
    assert await amounts(stub, payable) == (20, 20, 20)


async def test_a_request_id_refused_for_an_unknown_account_is_free_for_a_different_request(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    rid = new_request_id()

    refusal = await refused(
        stub.CreateTransaction(
            tx_request(debit(cash, 5), credit("acct_00000000000000000000000000", 5), request_id=rid)
        )
    )
    recorded = await move(stub, cash, payable, 5, request_id=rid)

    assert refusal.reason == "ACCOUNT_NOT_FOUND"
    assert entry_view(recorded.entries)[1][0] == payable.id


# -- concurrent twins ---------------------------------------------------------------


async def test_fifty_concurrent_identical_creates_post_exactly_once(
    shared_ledger: Served,
) -> None:
    stub = shared_ledger.stub
    cash, payable = await cash_and_payable(stub)
    request = tx_request(debit(cash, 100), credit(payable, 100), request_id=new_request_id())

    async with AsyncExitStack() as stack:
        stubs = [await stack.enter_async_context(shared_ledger.channel()) for _ in range(5)]
        responses = await asyncio.gather(
            *(stubs[i % 5].CreateTransaction(request) for i in range(50))
        )

    ids = {r.transaction.id for r in responses}
    assert len(responses) == 50
    assert len(ids) == 1
    assert len({(r.transaction.sequence, r.transaction.hash) for r in responses}) == 1
    assert await amounts(stub, payable) == (100, 100, 100)
    assert [t.id for t in await transactions_on(stub, payable)] == list(ids)


async def test_concurrent_identical_create_accounts_open_one_account(
    shared_ledger: Served,
) -> None:
    request = pb.CreateAccountRequest(
        account=account_message(ASSET, code=unique_code("twin")), request_id=new_request_id()
    )

    async with AsyncExitStack() as stack:
        stubs = [await stack.enter_async_context(shared_ledger.channel()) for _ in range(10)]
        responses = await asyncio.gather(*(s.CreateAccount(request) for s in stubs))

    assert len({r.account.id for r in responses}) == 1


async def test_concurrent_identical_close_accounts_all_return_the_closed_account(
    shared_ledger: Served,
) -> None:
    stub = shared_ledger.stub
    account = await open_account(stub, ASSET)
    request = pb.CloseAccountRequest(account_id=account.id, request_id=new_request_id())

    async with AsyncExitStack() as stack:
        stubs = [await stack.enter_async_context(shared_ledger.channel()) for _ in range(10)]
        outcomes = await asyncio.gather(
            *(s.CloseAccount(request) for s in stubs), return_exceptions=True
        )

    failures = [
        f"{o.code()}: {o.details()}" for o in outcomes if isinstance(o, grpc.aio.AioRpcError)
    ]
    assert failures == []
    closed = [o.account.status for o in outcomes if isinstance(o, pb.CloseAccountResponse)]
    assert closed == [pb.ACCOUNT_STATUS_CLOSED] * 10


async def test_concurrent_identical_posts_post_the_hold_once(shared_ledger: Served) -> None:
    stub = shared_ledger.stub
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)
    rid = new_request_id()

    results = await asyncio.gather(*(post(stub, tx, request_id=rid) for _ in range(20)))

    assert {r.status for r in results} == {pb.TRANSACTION_STATUS_POSTED}
    assert all(r == results[0] for r in results)
    assert await amounts(stub, payable) == (60, 60, 60)


async def test_racing_posts_and_voids_resolve_a_hold_exactly_once(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)

    outcomes = await asyncio.gather(
        *(post(stub, tx) if i % 2 else void(stub, tx) for i in range(20)),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, pb.Transaction)]
    losers = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert len(losers) == 19
    assert {(r.code, r.reason) for r in map(refusal_from_error, losers)} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "TRANSACTION_NOT_PENDING")
    }
    expected = (60, 60, 60) if winners[0].status == pb.TRANSACTION_STATUS_POSTED else (100,) * 3
    assert await amounts(stub, payable) == expected
