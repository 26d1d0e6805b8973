"""CreateTransactions batches the way the gateway's outbox relay sends them (issue 5): many
payments of many merchants in one INDEPENDENT call, where a batch may repeat request ids
(a retried relay pass), reuse one with other content (a bug upstream) and overdraw a
flagged account, and every item still gets its own exact answer. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import transactions_on
from tests.integration.ledger.support import (
    ASSET,
    EXPENSE,
    LIABILITY,
    Served,
    Stub,
    amounts,
    balance_of,
    cash_and_payable,
    credit,
    debit,
    new_request_id,
    open_account,
    refusal_of,
    tx_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
INDEPENDENT = pb.BATCH_MODE_INDEPENDENT


async def _independent(stub: Stub, items: list[pb.CreateTransactionRequest]) -> list[object]:
    """Each item's outcome: the recorded Transaction, or (reason, metadata) of its refusal."""
    response = await stub.CreateTransactions(
        pb.CreateTransactionsRequest(requests=items, mode=INDEPENDENT)
    )
    assert len(response.results) == len(items)
    outcomes: list[object] = []
    for result in response.results:
        if result.HasField("transaction"):
            outcomes.append(result.transaction)
        else:
            refusal = refusal_of(result.error)
            outcomes.append((refusal.reason, refusal.metadata))
    return outcomes


async def test_a_batch_mixing_new_repeated_reused_and_overdrawing_items_answers_each_exactly(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    stored_id, batch_id = new_request_id(), new_request_id()
    first = (await stub.CreateTransaction(
        tx_request(debit(cash, 7), credit(payable, 7), request_id=stored_id)
    )).transaction  # fmt: skip
    items = [
        tx_request(debit(payable, 20), credit(cash, 20), request_id=batch_id),
        tx_request(debit(cash, 7), credit(payable, 7), request_id=stored_id),  # a retry
        tx_request(debit(cash, 8), credit(payable, 8), request_id=stored_id),  # reused
        tx_request(debit(payable, 500), credit(cash, 500), request_id=new_request_id()),
        tx_request(debit(payable, 20), credit(cash, 20), request_id=batch_id),  # a retry
        tx_request(debit(payable, 21), credit(cash, 21), request_id=batch_id),  # reused
        tx_request(debit(payable, 87), credit(cash, 87), request_id=new_request_id()),
    ]

    made = await _independent(stub, items)

    assert isinstance(made[0], pb.Transaction) and isinstance(made[6], pb.Transaction)
    assert made[1] == first, "a repeated stored request_id returns the first recording"
    assert made[4] == made[0], "a request_id repeated inside the batch is recorded once"
    assert made[2] == (
        "REQUEST_ID_REUSED",
        {"request_id": stored_id, "field": "transaction.entries"},
    )
    assert made[5] == (
        "REQUEST_ID_REUSED",
        {"request_id": batch_id, "field": "transaction.entries"},
    )
    overdraft: tuple[str, dict[str, str]] = made[3]  # type: ignore[assignment]
    assert (overdraft[0], overdraft[1]["account_id"]) == ("LIMIT_EXCEEDED", payable.id)
    # 100 funded + 7 - 20 - 87: the refused 500 left the limit room for the last item.
    assert await amounts(stub, payable) == (0, 0, 0)
    assert await transactions_on(stub, payable) == 4


async def test_a_whole_batch_sent_again_changes_nothing_and_answers_the_same(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=50)
    items = [
        tx_request(debit(cash, 30), credit(payable, 30), request_id=new_request_id()),
        tx_request(debit(payable, 200), credit(cash, 200), request_id=new_request_id()),
        tx_request(debit(payable, 60), credit(cash, 60), request_id=new_request_id()),
    ]

    first = await _independent(stub, items)
    again = await _independent(stub, items)

    assert [again[0], again[2]] == [first[0], first[2]]
    assert isinstance(first[0], pb.Transaction) and isinstance(first[2], pb.Transaction)
    # A refusal is not remembered, so it is decided again (on the balance as it is now).
    assert first[1][0] == again[1][0] == "LIMIT_EXCEEDED"  # type: ignore[index]
    assert await amounts(stub, payable) == (20, 20, 20)
    assert await transactions_on(stub, payable) == 3


async def test_an_item_refused_earlier_in_the_batch_is_decided_afresh_when_it_comes_again(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    payout = tx_request(debit(payable, 10), credit(cash, 10), request_id=new_request_id())
    funding = tx_request(debit(cash, 10), credit(payable, 10), request_id=new_request_id())

    made = await _independent(stub, [payout, funding, payout])

    # A refusal is not remembered: the repeat is judged on the funds the batch has by then.
    assert made[0][0] == "LIMIT_EXCEEDED"  # type: ignore[index]
    assert isinstance(made[1], pb.Transaction) and isinstance(made[2], pb.Transaction)
    assert await amounts(stub, payable) == (0, 0, 0)
    assert await transactions_on(stub, payable) == 2


async def test_a_hundred_payments_of_twenty_merchants_in_one_batch_add_up_per_account(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    books = [
        [
            await open_account(stub, ASSET, owner=f"m{m}"),
            await open_account(stub, LIABILITY, owner=f"m{m}", debits_must_not_exceed_credits=True),
            await open_account(stub, EXPENSE, owner=f"m{m}"),
        ]
        for m in range(20)
    ]
    items, expected = [], {a.id: [0, 0] for b in books for a in b}
    for p in range(50):
        clearing, payable, fees = books[(p * 7) % 20]
        amount, fee = 1000 + p, 30 + p % 5
        items.append(tx_request(debit(clearing, amount), credit(payable, amount),
                                request_id=f"pay_{p}:capture:auto"))  # fmt: skip
        items.append(tx_request(debit(fees, fee), credit(clearing, fee),
                                request_id=f"pay_{p}:provider_fee"))  # fmt: skip
        expected[clearing.id][0] += amount
        expected[payable.id][1] += amount
        expected[fees.id][0] += fee
        expected[clearing.id][1] += fee

    made = await _independent(stub, items)

    assert all(isinstance(x, pb.Transaction) for x in made)
    assert sorted(x.sequence for x in made) == list(range(1, 101))  # type: ignore[attr-defined]
    for account_id, (debits, credits) in expected.items():
        b = await balance_of(stub, pb.Account(id=account_id))
        assert (b.posted_debits.minor_units, b.posted_credits.minor_units) == (debits, credits)
    report = await stub.VerifyLedger(pb.VerifyLedgerRequest())
    assert report.ok and report.transactions_checked == 100
