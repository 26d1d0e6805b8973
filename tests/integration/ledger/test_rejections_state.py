"""LedgerService refusals that depend on state, over the wire: closed accounts, limit flags
(pending holds counted), and the pending and reversal life cycle of a transaction.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import INVALID, PRECONDITION
from tests.integration.ledger.support import (
    ASSET,
    REVENUE,
    Stub,
    amounts,
    cash_and_payable,
    credit,
    debit,
    hold,
    move,
    open_account,
    record,
    refusal_from_error,
    refused,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# -- account state: closed, limits ------------------------------------------


async def test_a_closed_account_refuses_new_entries(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=500)

    closed = await stub.CloseAccount(pb.CloseAccountRequest(account_id=payable.id))
    r = await refused(move(stub, cash, payable, 100))

    assert closed.account.status == pb.ACCOUNT_STATUS_CLOSED
    assert (r.code, r.reason) == (PRECONDITION, "ACCOUNT_CLOSED")
    assert r.metadata["account_id"] == payable.id
    assert await amounts(stub, payable) == (500, 500, 500)


async def test_a_reversal_onto_a_closed_account_is_refused(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 100)
    await stub.CloseAccount(pb.CloseAccountRequest(account_id=cash.id))

    r = await refused(stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=tx.id)))

    assert (r.code, r.reason) == (PRECONDITION, "ACCOUNT_CLOSED")


async def test_a_debit_beyond_the_credits_of_a_protected_account_exceeds_its_limit(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)

    r = await refused(move(stub, payable, cash, 101))

    assert (r.code, r.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert r.metadata["account_id"] == payable.id
    assert r.metadata["flag"] == "debits_must_not_exceed_credits"
    assert await amounts(stub, payable) == (100, 100, 100)
    await move(stub, payable, cash, 100)  # exactly the credits is allowed
    assert await amounts(stub, payable) == (0, 0, 0)


async def test_a_credit_beyond_the_debits_of_a_protected_asset_exceeds_its_limit(
    stub: Stub,
) -> None:
    wallet = await open_account(stub, ASSET, credits_must_not_exceed_debits=True)
    equity = await open_account(stub, pb.ACCOUNT_TYPE_EQUITY)
    await move(stub, wallet, equity, 50)

    r = await refused(move(stub, equity, wallet, 51))

    assert (r.code, r.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert r.metadata["flag"] == "credits_must_not_exceed_debits"


async def test_pending_holds_count_against_the_limit(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    await hold(stub, payable, cash, 80)

    posted = await refused(move(stub, payable, cash, 30))
    pending = await refused(hold(stub, payable, cash, 21))

    assert (posted.code, posted.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert (pending.code, pending.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert await amounts(stub, payable) == (100, 20, 20)
    await move(stub, payable, cash, 20)  # what the hold leaves is still spendable
    assert await amounts(stub, payable) == (80, 0, 0)


async def test_incoming_holds_do_not_fund_a_protected_account(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    await hold(stub, cash, payable, 100)

    r = await refused(move(stub, payable, cash, 50))

    assert (r.code, r.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert await amounts(stub, payable) == (0, 100, 0)


async def test_a_reversal_that_would_overdraw_a_protected_account_exceeds_its_limit(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    funding = await move(stub, cash, payable, 100)
    await move(stub, payable, cash, 100)  # the funds are paid out again

    r = await refused(
        stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=funding.id))
    )

    assert (r.code, r.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert r.metadata["account_id"] == payable.id
    assert await amounts(stub, payable) == (0, 0, 0)


async def test_concurrent_debits_never_overdraw_a_protected_account(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)

    outcomes = await asyncio.gather(
        *(move(stub, payable, cash, 10) for _ in range(25)), return_exceptions=True
    )

    done = [o for o in outcomes if isinstance(o, pb.Transaction)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(done) == 10
    assert len(refusals) == 15
    assert {(r.code, r.reason) for r in map(refusal_from_error, refusals)} == {
        (PRECONDITION, "LIMIT_EXCEEDED")
    }
    assert await amounts(stub, payable) == (0, 0, 0)


# -- pending and reversal life cycle -----------------------------------------


def _post(tx_id: str) -> pb.PostTransactionRequest:
    return pb.PostTransactionRequest(transaction_id=tx_id)


def _void(tx_id: str) -> pb.VoidTransactionRequest:
    return pb.VoidTransactionRequest(transaction_id=tx_id)


@pytest.mark.parametrize(
    ("first", "second"),
    [("post", "post"), ("post", "void"), ("void", "post"), ("void", "void")],
)
async def test_a_pending_transaction_resolves_only_once(
    stub: Stub, first: str, second: str
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)

    def resolve(how: str) -> Any:
        if how == "post":
            return stub.PostTransaction(_post(tx.id))
        return stub.VoidTransaction(_void(tx.id))

    await resolve(first)
    r = await refused(resolve(second))

    assert (r.code, r.reason) == (PRECONDITION, "TRANSACTION_NOT_PENDING")
    assert r.metadata["status"] == ("POSTED" if first == "post" else "VOIDED")
    assert await amounts(stub, payable) == ((60, 60, 60) if first == "post" else (100, 100, 100))


async def test_posting_or_voiding_a_posted_transaction_is_not_pending(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 10)

    post = await refused(stub.PostTransaction(_post(tx.id)))
    void = await refused(stub.VoidTransaction(_void(tx.id)))

    assert (post.code, post.reason) == (PRECONDITION, "TRANSACTION_NOT_PENDING")
    assert (void.code, void.reason) == (PRECONDITION, "TRANSACTION_NOT_PENDING")


async def test_a_transaction_is_reversed_at_most_once(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 10)
    reversal = await stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=tx.id))

    r = await refused(stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=tx.id)))

    assert (r.code, r.reason) == (PRECONDITION, "TRANSACTION_ALREADY_REVERSED")
    assert r.metadata["reversed_by"] == reversal.transaction.id
    assert await amounts(stub, payable) == (0, 0, 0)


async def test_a_reversal_and_a_pending_transaction_are_not_reversible(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 10)
    reversal = await stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=tx.id))
    pending = await hold(stub, cash, payable, 5)

    of_reversal = await refused(
        stub.ReverseTransaction(
            pb.ReverseTransactionRequest(transaction_id=reversal.transaction.id)
        )
    )
    of_pending = await refused(
        stub.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=pending.id))
    )

    assert (of_reversal.code, of_reversal.reason) == (PRECONDITION, "TRANSACTION_NOT_REVERSIBLE")
    assert (of_pending.code, of_pending.reason) == (PRECONDITION, "TRANSACTION_NOT_REVERSIBLE")


@pytest.mark.parametrize("amount", [41, 0, -1])
async def test_a_partial_post_outside_zero_to_the_held_amount_is_refused(
    stub: Stub, amount: int
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)

    r = await refused(
        stub.PostTransaction(
            pb.PostTransactionRequest(transaction_id=tx.id, amount_minor_units=amount)
        )
    )

    assert (r.code, r.reason) == (INVALID, "POST_AMOUNT_INVALID")
    assert r.metadata["held"] == "40"
    assert await amounts(stub, payable) == (100, 60, 60)


async def test_a_partial_post_of_a_transaction_with_more_than_two_entries_is_refused(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    fees = await open_account(stub, REVENUE)
    tx = await record(stub, debit(payable, 40), credit(cash, 35), credit(fees, 5), pending=True)

    r = await refused(
        stub.PostTransaction(pb.PostTransactionRequest(transaction_id=tx.id, amount_minor_units=10))
    )

    assert (r.code, r.reason) == (INVALID, "POST_AMOUNT_INVALID")
