"""CreateTransactions refusals over the wire: batch size, an atomic batch refused whole and
naming the refused item, and an independent batch explaining each refused item.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import (
    INVALID,
    NOT_FOUND,
    PRECONDITION,
    UNKNOWN_ACCOUNT,
    transactions_on,
)
from tests.integration.ledger.support import (
    EUR,
    Stub,
    amounts,
    cash_and_payable,
    credit,
    debit,
    new_request_id,
    refusal_of,
    refused,
    tx_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# -- CreateTransactions -------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1001])
async def test_a_batch_of_zero_or_more_than_a_thousand_items_is_refused(
    stub: Stub, size: int
) -> None:
    cash, payable = await cash_and_payable(stub)
    item = tx_request(debit(cash, 1), credit(payable, 1))

    r = await refused(stub.CreateTransactions(pb.CreateTransactionsRequest(requests=[item] * size)))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["requests"]
    assert await transactions_on(stub, cash) == 0


@pytest.mark.parametrize("mode", [pb.BATCH_MODE_ATOMIC, pb.BATCH_MODE_UNSPECIFIED])
async def test_an_atomic_batch_with_one_refused_item_records_nothing(
    stub: Stub, mode: pb.BatchMode.ValueType
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    items = [
        tx_request(debit(payable, 30), credit(cash, 30), request_id=new_request_id()),
        tx_request(debit(payable, 30), credit(cash, 30), pending=True),
        tx_request(debit(payable, 50), credit(cash, 50)),  # 30 + 30 + 50 > 100
        tx_request(debit(cash, 5), credit(payable, 5)),
    ]

    r = await refused(
        stub.CreateTransactions(pb.CreateTransactionsRequest(requests=items, mode=mode))
    )

    assert (r.code, r.reason) == (PRECONDITION, "LIMIT_EXCEEDED")
    assert r.metadata["index"] == "2"
    assert await amounts(stub, payable) == (100, 100, 100)
    assert await amounts(stub, cash) == (100, 100, 100)
    assert await transactions_on(stub, payable) == 1  # the funding only
    # Nothing was remembered either: the first item's request_id is still free.
    retried = await stub.CreateTransactions(
        pb.CreateTransactionsRequest(requests=[items[0], items[1]], mode=mode)
    )
    assert [x.transaction.status for x in retried.results] == [
        pb.TRANSACTION_STATUS_POSTED,
        pb.TRANSACTION_STATUS_PENDING,
    ]


async def test_an_atomic_batch_with_an_unknown_account_names_the_item(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    items = [
        tx_request(debit(cash, 5), credit(payable, 5)),
        tx_request(debit(cash, 5), credit(UNKNOWN_ACCOUNT, 5)),
    ]

    r = await refused(stub.CreateTransactions(pb.CreateTransactionsRequest(requests=items)))

    assert (r.code, r.reason) == (NOT_FOUND, "ACCOUNT_NOT_FOUND")
    assert r.metadata["index"] == "1"
    assert await amounts(stub, cash) == (0, 0, 0)
    assert await transactions_on(stub, cash) == 0


async def test_an_atomic_batch_with_a_malformed_item_names_its_index_and_field(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    items = [
        tx_request(debit(cash, 5), credit(payable, 5)),
        tx_request(debit(cash, 5), credit(payable, 5)),
        tx_request(debit(cash, 0), credit(payable, 5)),
    ]

    r = await refused(stub.CreateTransactions(pb.CreateTransactionsRequest(requests=items)))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.metadata["index"] == "2"
    assert r.fields == ["requests[2].transaction.entries[0].amount.minor_units"]
    assert await transactions_on(stub, cash) == 0


async def test_an_independent_batch_records_the_good_items_and_explains_each_refusal(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    items = [
        tx_request(debit(payable, 60), credit(cash, 60)),
        tx_request(debit(payable, 60), credit(cash, 60)),  # only 40 left
        tx_request(debit(payable, 0), credit(cash, 5)),
        tx_request(debit(payable, 10), credit(cash, 10), pending=True),
        tx_request(debit(payable, 5), credit(UNKNOWN_ACCOUNT, 5)),
        tx_request(debit(payable, 5, EUR), credit(cash, 5, EUR)),
    ]

    response = await stub.CreateTransactions(
        pb.CreateTransactionsRequest(requests=items, mode=pb.BATCH_MODE_INDEPENDENT)
    )

    outcomes = [x.WhichOneof("outcome") for x in response.results]
    assert outcomes == ["transaction", "error", "error", "transaction", "error", "error"]
    refusals = {
        i: refusal_of(x.error) for i, x in enumerate(response.results) if x.HasField("error")
    }
    assert {i: (r.code, r.reason) for i, r in refusals.items()} == {
        1: (PRECONDITION, "LIMIT_EXCEEDED"),
        2: (INVALID, "VALIDATION_FAILED"),
        4: (NOT_FOUND, "ACCOUNT_NOT_FOUND"),
        5: (INVALID, "CURRENCY_MISMATCH"),
    }
    assert refusals[2].fields == ["requests[2].transaction.entries[0].amount.minor_units"]
    assert response.results[0].transaction.status == pb.TRANSACTION_STATUS_POSTED
    assert response.results[3].transaction.status == pb.TRANSACTION_STATUS_PENDING
    assert await amounts(stub, payable) == (40, 30, 30)
    assert await transactions_on(stub, payable) == 3
