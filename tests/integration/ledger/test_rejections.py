"""Every refusal in the LedgerService contract, over the wire: status code, ErrorInfo reason
(domain ledger.paymesh.local), the BadRequest field path where a field is wrong, and that a
refused request wrote nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    EUR,
    LIABILITY,
    REVENUE,
    USD,
    Stub,
    account_message,
    all_pages,
    amounts,
    cash_and_payable,
    credit,
    debit,
    hold,
    move,
    new_request_id,
    open_account,
    record,
    refusal_from_error,
    refusal_of,
    refused,
    tx_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

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


# -- idempotency keys ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 101}, "transaction.entries"),
        ({"description": "other"}, "transaction.description"),
        ({"pending": True}, "pending"),
    ],
)
async def test_a_request_id_reused_with_different_content_names_the_differing_field(
    stub: Stub, change: dict[str, Any], field: str
) -> None:
    cash, payable = await cash_and_payable(stub)
    rid = new_request_id()
    await move(stub, cash, payable, 100, request_id=rid, description="first")
    options: dict[str, Any] = {"amount": 100, "description": "first", "pending": False} | change
    amount: int = options.pop("amount")

    r = await refused(move(stub, cash, payable, amount, request_id=rid, **options))

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == field
    assert r.metadata["request_id"] == rid
    assert await amounts(stub, cash) == (100, 100, 100)


async def test_a_request_id_reused_by_another_method_names_the_method(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)
    rid = new_request_id()
    await open_account(stub, ASSET, request_id=rid)

    r = await refused(move(stub, cash, payable, 100, request_id=rid))

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == "method"


async def test_a_create_account_request_id_reused_with_another_name_is_refused(
    stub: Stub,
) -> None:
    rid = new_request_id()
    account = account_message(ASSET, name="Cash")
    await stub.CreateAccount(pb.CreateAccountRequest(account=account, request_id=rid))
    account.name = "Other cash"

    r = await refused(stub.CreateAccount(pb.CreateAccountRequest(account=account, request_id=rid)))

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == "account.name"


async def test_a_close_account_request_id_reused_for_another_account_is_refused(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    rid = new_request_id()
    await stub.CloseAccount(pb.CloseAccountRequest(account_id=cash.id, request_id=rid))

    r = await refused(
        stub.CloseAccount(pb.CloseAccountRequest(account_id=payable.id, request_id=rid))
    )

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == "account_id"
    got = await stub.GetAccount(pb.GetAccountRequest(account_id=payable.id))
    assert got.account.status == pb.ACCOUNT_STATUS_OPEN


async def test_a_post_request_id_reused_with_another_amount_names_the_amount(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub, funded=100)
    tx = await hold(stub, payable, cash, 40)
    rid = new_request_id()
    await stub.PostTransaction(
        pb.PostTransactionRequest(transaction_id=tx.id, amount_minor_units=10, request_id=rid)
    )

    r = await refused(
        stub.PostTransaction(
            pb.PostTransactionRequest(transaction_id=tx.id, amount_minor_units=20, request_id=rid)
        )
    )

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == "amount_minor_units"
    assert await amounts(stub, payable) == (90, 90, 90)


async def test_a_reverse_request_id_reused_with_another_description_names_it(
    stub: Stub,
) -> None:
    cash, payable = await cash_and_payable(stub)
    tx = await move(stub, cash, payable, 10)
    rid = new_request_id()
    first = pb.ReverseTransactionRequest(transaction_id=tx.id, description="a", request_id=rid)
    await stub.ReverseTransaction(first)

    r = await refused(
        stub.ReverseTransaction(
            pb.ReverseTransactionRequest(transaction_id=tx.id, description="b", request_id=rid)
        )
    )

    assert (r.code, r.reason) == (EXISTS, "REQUEST_ID_REUSED")
    assert r.metadata["field"] == "description"


async def test_a_request_id_that_is_not_printable_ascii_is_refused(stub: Stub) -> None:
    cash, payable = await cash_and_payable(stub)

    r = await refused(move(stub, cash, payable, 5, request_id="has space"))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["request_id"]


async def test_an_account_code_that_is_taken_is_refused(stub: Stub) -> None:
    first = await open_account(stub, ASSET)

    r = await refused(open_account(stub, LIABILITY, code=first.code))

    assert (r.code, r.reason) == (EXISTS, "ACCOUNT_CODE_TAKEN")
    assert r.metadata["code"] == first.code


async def test_concurrent_opens_of_one_code_open_one_account_and_refuse_the_rest(
    stub: Stub,
) -> None:
    code = f"t/race/{new_request_id()}"

    outcomes = await asyncio.gather(
        *(open_account(stub, ASSET, code=code, request_id=new_request_id()) for _ in range(10)),
        return_exceptions=True,
    )

    opened = [o for o in outcomes if isinstance(o, pb.Account)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(opened) == 1
    assert [(r.code, r.reason) for r in map(refusal_from_error, refusals)] == [
        (EXISTS, "ACCOUNT_CODE_TAKEN")
    ] * 9


# -- page tokens --------------------------------------------------------------


async def _first_page_token(stub: Stub, method: str) -> tuple[str, pb.Account]:
    cash, payable = await cash_and_payable(stub)
    for _ in range(3):
        await move(stub, cash, payable, 10)
    if method == "ListAccounts":
        r: Any = await stub.ListAccounts(pb.ListAccountsRequest(page_size=1))
    elif method == "ListTransactions":
        r = await stub.ListTransactions(pb.ListTransactionsRequest(page_size=1))
    else:
        r = await stub.ListEntries(pb.ListEntriesRequest(account_id=cash.id, page_size=1))
    assert r.next_page_token
    return r.next_page_token, cash


def _listing(method: str, account_id: str, token: str, *, other_filters: bool) -> Any:
    if method == "ListAccounts":
        return pb.ListAccountsRequest(
            page_size=1, page_token=token, currency_code="EUR" if other_filters else ""
        )
    if method == "ListTransactions":
        return pb.ListTransactionsRequest(
            page_size=1, page_token=token, account_id=account_id if other_filters else ""
        )
    return pb.ListEntriesRequest(
        account_id=UNKNOWN_ACCOUNT if other_filters else account_id, page_size=1, page_token=token
    )


LISTINGS = ["ListAccounts", "ListTransactions", "ListEntries"]


@pytest.mark.parametrize("method", LISTINGS)
@pytest.mark.parametrize("token", ["garbage!", "eyJrIjoxfQ", "e30"])
async def test_a_page_token_the_service_did_not_issue_is_refused(
    stub: Stub, method: str, token: str
) -> None:
    _, cash = await _first_page_token(stub, method)

    r = await refused(getattr(stub, method)(_listing(method, cash.id, token, other_filters=False)))

    assert (r.code, r.reason) == (INVALID, "INVALID_PAGE_TOKEN")
    assert r.fields == ["page_token"]


@pytest.mark.parametrize("method", LISTINGS)
async def test_a_page_token_reused_with_different_filters_is_refused(
    stub: Stub, method: str
) -> None:
    token, cash = await _first_page_token(stub, method)

    r = await refused(getattr(stub, method)(_listing(method, cash.id, token, other_filters=True)))

    assert (r.code, r.reason) == (INVALID, "INVALID_PAGE_TOKEN")
    assert r.fields == ["page_token"]


@pytest.mark.parametrize("method", LISTINGS)
async def test_a_negative_page_size_is_a_validation_failure_not_a_bad_token(
    stub: Stub, method: str
) -> None:
    _, cash = await _first_page_token(stub, method)
    request = _listing(method, cash.id, "", other_filters=False)
    request.page_size = -1

    r = await refused(getattr(stub, method)(request))

    assert (r.code, r.reason) == (INVALID, "VALIDATION_FAILED")
    assert r.fields == ["page_size"]


# -- missing and malformed fields ---------------------------------------------


def _missing_field_cases() -> list[Any]:
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
        pytest.param(
            lambda s, a, b: s.CreateTransaction(pb.CreateTransactionRequest()),
            "transaction",
            id="transaction-missing",
        ),
        pytest.param(unspecified_direction, "transaction.entries[0].direction", id="direction"),
        pytest.param(missing_entry_account, "transaction.entries[1].account_id", id="entry-acct"),
        pytest.param(missing_amount, "transaction.entries[1].amount", id="entry-amount"),
        pytest.param(
            lambda s, a, b: s.GetBalance(pb.GetBalanceRequest()), "account_id", id="GetBalance"
        ),
        pytest.param(
            lambda s, a, b: s.CloseAccount(pb.CloseAccountRequest()), "account_id", id="Close"
        ),
        pytest.param(
            lambda s, a, b: s.ListEntries(pb.ListEntriesRequest()), "account_id", id="ListEntries"
        ),
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


@pytest.mark.parametrize(("call", "field"), _missing_field_cases())
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
