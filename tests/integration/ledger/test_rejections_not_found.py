"""LedgerService refusals of unknown accounts and transactions, over the wire: NOT_FOUND with
ACCOUNT_NOT_FOUND or TRANSACTION_NOT_FOUND and the unknown id in the ErrorInfo metadata.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import NOT_FOUND, UNKNOWN_ACCOUNT, UNKNOWN_TX
from tests.integration.ledger.support import (
    Stub,
    amounts,
    cash_and_payable,
    credit,
    debit,
    refused,
    tx_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# -- unknown accounts and transactions ----------------------------------------


async def test_an_entry_on_an_unknown_account_is_not_found(stub: Stub) -> None:
    cash, _ = await cash_and_payable(stub)

    r = await refused(
        stub.CreateTransaction(tx_request(debit(cash, 100), credit(UNKNOWN_ACCOUNT, 100)))
    )

    assert (r.code, r.reason) == (NOT_FOUND, "ACCOUNT_NOT_FOUND")
    assert r.metadata["account_id"] == UNKNOWN_ACCOUNT
    assert r.metadata["entry_index"] == "1"
    assert await amounts(stub, cash) == (0, 0, 0)


def _unknown_account_reads() -> list[Any]:
    a = UNKNOWN_ACCOUNT
    return [
        pytest.param(lambda s: s.GetAccount(pb.GetAccountRequest(account_id=a)), id="GetAccount"),
        pytest.param(lambda s: s.GetAccount(pb.GetAccountRequest(code="t/nope")), id="by-code"),
        pytest.param(lambda s: s.GetBalance(pb.GetBalanceRequest(account_id=a)), id="GetBalance"),
        pytest.param(
            lambda s: s.ListEntries(pb.ListEntriesRequest(account_id=a)), id="ListEntries"
        ),
        pytest.param(
            lambda s: s.CloseAccount(pb.CloseAccountRequest(account_id=a)), id="CloseAccount"
        ),
    ]


@pytest.mark.parametrize("call", _unknown_account_reads())
async def test_calls_on_an_unknown_account_are_not_found(
    stub: Stub, call: Callable[[Stub], Any]
) -> None:
    r = await refused(call(stub))

    assert (r.code, r.reason) == (NOT_FOUND, "ACCOUNT_NOT_FOUND")


def _unknown_transaction_calls() -> list[Any]:
    t = UNKNOWN_TX
    return [
        pytest.param(
            lambda s: s.GetTransaction(pb.GetTransactionRequest(transaction_id=t)), id="Get"
        ),
        pytest.param(
            lambda s: s.PostTransaction(pb.PostTransactionRequest(transaction_id=t)), id="Post"
        ),
        pytest.param(
            lambda s: s.VoidTransaction(pb.VoidTransactionRequest(transaction_id=t)), id="Void"
        ),
        pytest.param(
            lambda s: s.ReverseTransaction(pb.ReverseTransactionRequest(transaction_id=t)),
            id="Reverse",
        ),
    ]


@pytest.mark.parametrize("call", _unknown_transaction_calls())
async def test_calls_on_an_unknown_transaction_are_not_found(
    stub: Stub, call: Callable[[Stub], Any]
) -> None:
    r = await refused(call(stub))

    assert (r.code, r.reason) == (NOT_FOUND, "TRANSACTION_NOT_FOUND")
    assert r.metadata["transaction_id"] == UNKNOWN_TX
