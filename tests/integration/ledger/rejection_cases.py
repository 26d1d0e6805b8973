"""Shared pieces of the LedgerService refusal suites (the ``test_rejections_*`` modules).

Together those modules cover every refusal in the LedgerService contract, over
the wire: status code, ErrorInfo reason (domain ledger.paymesh.local), the
BadRequest field path where a field is wrong, and that a refused request wrote
nothing. This module holds the status codes and unknown ids they share, the
``transactions_on`` counter, and the table of missing or malformed required
fields.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    Stub,
    account_message,
    all_pages,
    credit,
    debit,
    tx_request,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXISTS = grpc.StatusCode.ALREADY_EXISTS
UNKNOWN_ACCOUNT = "acct_00000000000000000000000000"
UNKNOWN_TX = "txn_00000000000000000000000000"


async def transactions_on(stub: Stub, account: pb.Account) -> int:
    """How many transactions have an entry on ``account``."""
    request = pb.ListTransactionsRequest(account_id=account.id, page_size=500)
    found, _ = await all_pages(stub.ListTransactions, request, "transactions")
    return len(found)


# -- missing and malformed fields ---------------------------------------------
#
# Each case is pytest.param(call, field, id=...): ``call(stub, a, b)`` sends a
# request with one required field missing or malformed (``a`` and ``b`` are the
# ids of two open USD accounts), and ``field`` is the path the refusal names.


def missing_field_cases() -> list[Any]:
    """Every case, CreateAccount first, then CreateTransaction, then the id-only RPCs."""
    return (
        _create_account_cases()
        + _create_transaction_cases()
        + _account_id_cases()
        + _transaction_id_cases()
    )


def _create_account_cases() -> list[Any]:
    return [
        pytest.param(
            lambda s, a, b: s.CreateAccount(
                pb.CreateAccountRequest(account=account_message(pb.ACCOUNT_TYPE_UNSPECIFIED))
            ),
            "account.type",
            id="account-type-unspecified",
        ),
        pytest.param(
            lambda s, a, b: s.CreateAccount(pb.CreateAccountRequest()),
            "account",
            id="account-missing",
        ),
        pytest.param(
            lambda s, a, b: s.CreateAccount(
                pb.CreateAccountRequest(account=account_message(ASSET, "usd"))
            ),
            "account.currency_code",
            id="account-currency-lowercase",
        ),
        pytest.param(
            lambda s, a, b: s.CreateAccount(
                pb.CreateAccountRequest(account=account_message(ASSET, code="has space"))
            ),
            "account.code",
            id="account-code-bad",
        ),
        pytest.param(
            lambda s, a, b: s.CreateAccount(
                pb.CreateAccountRequest(
                    account=account_message(
                        ASSET,
                        debits_must_not_exceed_credits=True,
                        credits_must_not_exceed_debits=True,
                    )
                )
            ),
            "account.credits_must_not_exceed_debits",
            id="account-both-limit-flags",
        ),
    ]


def _create_transaction_cases() -> list[Any]:
    def unspecified_direction(s: Stub, a: str, b: str) -> Any:
        request = tx_request(debit(a, 5), credit(b, 5))
        request.transaction.entries[0].direction = pb.DIRECTION_UNSPECIFIED
        return s.CreateTransaction(request)

    def missing_entry_account(s: Stub, a: str, b: str) -> Any:
        request = tx_request(debit(a, 5), credit(b, 5))
        request.transaction.entries[1].account_id = ""
        return s.CreateTransaction(request)

    def missing_amount(s: Stub, a: str, b: str) -> Any:
        request = tx_request(debit(a, 5), credit(b, 5))
        request.transaction.entries[1].ClearField("amount")
        return s.CreateTransaction(request)

    return [
        pytest.param(
            lambda s, a, b: s.CreateTransaction(pb.CreateTransactionRequest()),
            "transaction",
            id="transaction-missing",
        ),
        pytest.param(unspecified_direction, "transaction.entries[0].direction", id="direction"),
        pytest.param(missing_entry_account, "transaction.entries[1].account_id", id="entry-acct"),
        pytest.param(missing_amount, "transaction.entries[1].amount", id="entry-amount"),
    ]


def _account_id_cases() -> list[Any]:
    return [
        pytest.param(
            lambda s, a, b: s.GetBalance(pb.GetBalanceRequest()), "account_id", id="GetBalance"
        ),
        pytest.param(
            lambda s, a, b: s.CloseAccount(pb.CloseAccountRequest()), "account_id", id="Close"
        ),
        pytest.param(
            lambda s, a, b: s.ListEntries(pb.ListEntriesRequest()), "account_id", id="ListEntries"
        ),
    ]


def _transaction_id_cases() -> list[Any]:
    return [
        pytest.param(
            lambda s, a, b: s.GetTransaction(pb.GetTransactionRequest()),
            "transaction_id",
            id="GetTransaction",
        ),
        pytest.param(
            lambda s, a, b: s.PostTransaction(pb.PostTransactionRequest()),
            "transaction_id",
            id="Post",
        ),
        pytest.param(
            lambda s, a, b: s.VoidTransaction(pb.VoidTransactionRequest()),
            "transaction_id",
            id="Void",
        ),
        pytest.param(
            lambda s, a, b: s.ReverseTransaction(pb.ReverseTransactionRequest()),
            "transaction_id",
            id="Reverse",
        ),
        pytest.param(
            lambda s, a, b: s.ReverseTransaction(
                pb.ReverseTransactionRequest(transaction_id=UNKNOWN_TX, description="x" * 501)
            ),
            "description",
            id="Reverse-description-too-long",
        ),
    ]
