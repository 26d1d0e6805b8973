"""LedgerService refusals of page tokens it did not issue, or reused with other filters, and
of negative page sizes, over the wire, for every listing RPC.
Status codes, unknown ids and shared helpers are in rejection_cases.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.rejection_cases import INVALID, UNKNOWN_ACCOUNT
from tests.integration.ledger.support import Stub, cash_and_payable, move, refused

pytestmark = pytest.mark.asyncio(loop_scope="module")


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
