"""LedgerService refusals of reused idempotency keys and taken account codes, over the wire:
ALREADY_EXISTS naming the differing field, and nothing written.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import EXISTS, INVALID
from tests.integration.ledger.support import (
    ASSET,
    LIABILITY,
    Stub,
    account_message,
    amounts,
    cash_and_payable,
    hold,
    move,
    new_request_id,
    open_account,
    refusal_from_error,
    refused,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


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
