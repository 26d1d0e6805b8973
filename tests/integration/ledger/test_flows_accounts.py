"""The LedgerService's happy paths over the wire, for accounts: opening, reading back by id
and by code, the normal balance, closing, and listing with filters and pages.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    EQUITY,
    EUR,
    EXPENSE,
    LIABILITY,
    REVENUE,
    USD,
    Stub,
    account_message,
    all_pages,
    open_account,
    unique_code,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# -- accounts -----------------------------------------------------------------


async def test_an_opened_account_reads_back_the_same_by_id_and_by_code(stub: Stub) -> None:
    sent = account_message(
        LIABILITY,
        EUR,
        name="Merchant m_1 payable",
        owner="m_1",
        metadata={"region": "eu", "tier": "gold"},
        debits_must_not_exceed_credits=True,
    )

    opened = (await stub.CreateAccount(pb.CreateAccountRequest(account=sent))).account
    by_id = (await stub.GetAccount(pb.GetAccountRequest(account_id=opened.id))).account
    by_code = (await stub.GetAccount(pb.GetAccountRequest(code=sent.code))).account

    assert opened.id.startswith("acct_") and len(opened.id) == len("acct_") + 26
    assert (opened.code, opened.name, opened.currency_code, opened.owner) == (
        sent.code,
        "Merchant m_1 payable",
        "EUR",
        "m_1",
    )
    assert dict(opened.metadata) == {"region": "eu", "tier": "gold"}
    assert opened.type == LIABILITY
    assert opened.normal_balance == pb.NORMAL_BALANCE_CREDIT
    assert opened.debits_must_not_exceed_credits and not opened.credits_must_not_exceed_debits
    assert opened.status == pb.ACCOUNT_STATUS_OPEN
    assert abs(opened.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert by_id == opened
    assert by_code == opened


@pytest.mark.parametrize(
    ("type_", "normal"),
    [
        (ASSET, pb.NORMAL_BALANCE_DEBIT),
        (EXPENSE, pb.NORMAL_BALANCE_DEBIT),
        (LIABILITY, pb.NORMAL_BALANCE_CREDIT),
        (EQUITY, pb.NORMAL_BALANCE_CREDIT),
        (REVENUE, pb.NORMAL_BALANCE_CREDIT),
    ],
)
async def test_the_account_type_fixes_the_normal_balance(
    stub: Stub, type_: pb.AccountType.ValueType, normal: pb.NormalBalance.ValueType
) -> None:
    account = await open_account(stub, type_)

    assert account.normal_balance == normal


async def test_closing_an_account_twice_succeeds_and_leaves_it_closed(stub: Stub) -> None:
    account = await open_account(stub, ASSET)

    first = await stub.CloseAccount(pb.CloseAccountRequest(account_id=account.id))
    second = await stub.CloseAccount(pb.CloseAccountRequest(account_id=account.id))
    read = await stub.GetAccount(pb.GetAccountRequest(account_id=account.id))

    assert first.account.status == pb.ACCOUNT_STATUS_CLOSED
    assert second.account.status == pb.ACCOUNT_STATUS_CLOSED
    assert read.account.status == pb.ACCOUNT_STATUS_CLOSED


async def test_list_accounts_filters_by_owner_currency_type_and_code_prefix(stub: Stub) -> None:
    owner = f"m_{uuid.uuid4().hex[:8]}"
    prefix = unique_code("list")
    made = {}
    for key, type_, currency in [
        ("usd_cash", ASSET, USD),
        ("usd_payable", LIABILITY, USD),
        ("eur_payable", LIABILITY, EUR),
        ("eur_fees", REVENUE, EUR),
    ]:
        made[key] = await open_account(stub, type_, currency, owner=owner, code=f"{prefix}/{key}")
    other_owner = await open_account(stub, LIABILITY, USD, code=f"{prefix}/other")

    async def listed(**filters: Any) -> list[str]:
        found, _ = await all_pages(stub.ListAccounts, pb.ListAccountsRequest(**filters), "accounts")
        return [a.id for a in found]

    ids = {k: a.id for k, a in made.items()}
    assert await listed(owner=owner) == [ids[k] for k in made]
    assert await listed(owner=owner, currency_code=EUR) == [ids["eur_payable"], ids["eur_fees"]]
    assert await listed(owner=owner, type=LIABILITY) == [ids["usd_payable"], ids["eur_payable"]]
    assert await listed(owner=owner, type=LIABILITY, currency_code=USD) == [ids["usd_payable"]]
    assert await listed(code_prefix=f"{prefix}/") == [*ids.values(), other_owner.id]
    assert await listed(code_prefix=f"{prefix}/eur_") == [ids["eur_payable"], ids["eur_fees"]]
    assert await listed(owner=owner, type=EXPENSE) == []


async def test_list_accounts_pages_through_every_account_exactly_once(stub: Stub) -> None:
    prefix = unique_code("pages")
    opened = [await open_account(stub, ASSET, code=f"{prefix}/{i}") for i in range(7)]

    found, pages = await all_pages(
        stub.ListAccounts, pb.ListAccountsRequest(code_prefix=prefix, page_size=2), "accounts"
    )

    assert pages == 4
    assert [a.id for a in found] == [a.id for a in opened]
    assert len({a.id for a in found}) == 7
