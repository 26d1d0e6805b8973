"""LedgerService refusals of malformed requests, over the wire: CreateTransaction's shape,
balance and currencies, and missing or malformed required fields on every RPC; each
names the BadRequest field path, and a refused request writes nothing.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import INVALID, missing_field_cases, transactions_on
from tests.integration.ledger.support import (
    ASSET,
    EUR,
    LIABILITY,
    USD,
    Stub,
    cash_and_payable,
    credit,
    debit,
    move,
    open_account,
    refused,
    tx_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# -- CreateTransaction: shape, balance, currency ------------------------------


async def test_a_transaction_whose_debits_and_credits_differ_is_refused_as_unbalanced(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(stub.CreateTransaction(tx_request(debit(cash, 100), credit(payable, 90))))

    assert (r.code, r.reason) == (INVALID, "TRANSACTION_UNBALANCED")
    assert r.fields == ["transaction.entries"]
    assert r.metadata == {"currency": "USD", "debits": "100", "credits": "90"}
    assert await transactions_on(stub, cash) == 0


async def test_entries_that_balance_overall_but_not_per_currency_are_unbalanced(
    stub: Stub,
) -> None:
    usd = await open_account(stub, ASSET, USD)
    eur = await open_account(stub, LIABILITY, EUR)

    r = await refused(stub.CreateTransaction(tx_request(debit(usd, 100), credit(eur, 100))))

    assert (r.code, r.reason) == (INVALID, "TRANSACTION_UNBALANCED")


async def test_an_entry_in_another_currency_than_its_account_is_a_currency_mismatch(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(
        stub.CreateTransaction(tx_request(debit(cash, 100, EUR), credit(payable, 100, EUR)))
    )

    assert (r.code, r.reason) == (INVALID, "CURRENCY_MISMATCH")
    assert r.metadata["account_id"] == cash.id
    assert r.metadata["account_currency"] == "USD"
    assert r.metadata["entry_currency"] == "EUR"
    assert r.metadata["entry_index"] == "0"
    assert await transactions_on(stub, cash) == 0


@pytest.mark.parametrize("amount", [0, -5])
async def test_a_non_positive_amount_is_refused_naming_the_amount_field(
    stub: Stub, amount: int
) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(stub.CreateTransaction(tx_request(debit(cash, amount), credit(payable, 5))))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["transaction.entries[0].amount.minor_units"]


async def test_an_unknown_currency_code_is_refused_naming_the_currency_field(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(
        stub.CreateTransaction(tx_request(debit(cash, 5, "XXQ"), credit(payable, 5, "XXQ")))
    )

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == [
        "transaction.entries[0].amount.currency_code",
        "transaction.entries[1].amount.currency_code",
    ]


async def test_a_transaction_needs_at_least_two_entries(stub: Stub) -> None:
    cash, _ = await cash_and_payable(stub)

    r = await refused(stub.CreateTransaction(tx_request(debit(cash, 5))))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["transaction.entries"]


# -- missing and malformed fields ---------------------------------------------


@pytest.mark.parametrize(("call", "field"), missing_field_cases())
async def test_a_missing_or_unspecified_required_field_is_refused_by_name(
    stub: Stub, call: Callable[[Stub, str, str], Any], field: str
) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(call(stub, cash.id, payable.id))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == [field]


@pytest.mark.parametrize(("timeout_s", "pending"), [(0.5, True), (5.0, False)])
async def test_a_bad_pending_timeout_is_refused_naming_the_request_field(
    stub: Stub, timeout_s: float, pending: bool
) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(move(stub, cash, payable, 5, pending=pending, timeout_s=timeout_s))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    # pending_timeout is a field of CreateTransactionRequest, not of Transaction.
    assert r.fields == ["pending_timeout"]


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(pb.GetAccountRequest(), id="neither"),
        pytest.param(pb.GetAccountRequest(account_id="acct_x", code="t/x"), id="both"),
    ],
)
async def test_get_account_needs_exactly_one_of_id_and_code(
    stub: Stub, request_: pb.GetAccountRequest
) -> None:
    r = await refused(stub.GetAccount(request_))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["account_id"]
