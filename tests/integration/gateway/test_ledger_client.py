"""The gateway's ledger client against the real ledger, through a real Envoy, with the
gateway's own certificate: idempotent charts, holds and partial posts, the ledger's refusals
in gateway terms, and Envoy refusing any other workload's writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio

from gateway_svc.adapters.ledger_client import (
    AccountOpening,
    LedgerClient,
    LedgerRefused,
    LedgerUnavailable,
    NewTransaction,
)
from tests.integration.gateway.support import TIMEOUT_S, GatewayStack, chart, new_merchant

pytestmark = pytest.mark.asyncio(loop_scope="package")


@pytest_asyncio.fixture(loop_scope="package")
async def ledger(stack: GatewayStack) -> AsyncIterator[LedgerClient]:
    async with _fresh(stack) as client:
        yield client


@asynccontextmanager
async def _fresh(stack: GatewayStack, workload: str = "gateway") -> AsyncIterator[LedgerClient]:
    """A new client (an empty code -> id cache) with ``workload``'s certificate."""
    client = stack.ledger(workload)
    try:
        yield client
    finally:
        await client.close()


def _rid() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_ensure_accounts_opens_the_chart_once_and_is_idempotent_across_clients(
    stack: GatewayStack, ledger: LedgerClient
) -> None:
    accounts = chart(new_merchant())

    first = await ledger.ensure_accounts(accounts)
    again = await ledger.ensure_accounts(accounts)
    async with _fresh(stack) as fresh:  # an empty cache: the ledger itself answers the ids
        from_scratch = await fresh.ensure_accounts(accounts)

    assert set(first) == {a.code for a in accounts}
    assert all(account_id.startswith("acct_") for account_id in first.values())
    assert first == again == from_scratch


async def test_an_account_opened_under_another_request_id_is_found_by_its_code(
    stack: GatewayStack, ledger: LedgerClient
) -> None:
    [clearing, *_] = chart(new_merchant())
    opened = await ledger.ensure_accounts([clearing])
    other = AccountOpening(clearing.code, "EUR", "ASSET", request_id=_rid())

    async with _fresh(stack) as fresh:
        fresh_ids = await fresh.ensure_accounts([other])

    assert fresh_ids == opened


async def test_an_existing_code_with_another_currency_is_an_account_mismatch(
    stack: GatewayStack, ledger: LedgerClient
) -> None:
    [clearing, *_] = chart(new_merchant())
    await ledger.ensure_accounts([clearing])
    clash = AccountOpening(clearing.code, "USD", "ASSET", request_id=_rid())

    async with _fresh(stack) as fresh:
        with pytest.raises(LedgerRefused) as refused:
            await fresh.ensure_accounts([clash])

    assert refused.value.reason == "ACCOUNT_MISMATCH"


async def test_a_hold_then_a_partial_post_moves_the_posted_amount_and_releases_the_rest(
    ledger: LedgerClient,
) -> None:
    clearing, payable, _ = accounts = chart(new_merchant())
    ids = await ledger.ensure_accounts(accounts)
    hold_id = _rid()

    txn = await ledger.create_transaction(
        [(clearing.code, "DEBIT", 1000, "EUR"), (payable.code, "credit", 1000, "EUR")],
        request_id=hold_id,
        pending=True,
        pending_timeout_s=3600,
        external_ref="pay_test",
        metadata={"payment_id": "pay_test"},
    )
    held = await ledger.get_balance(ids[clearing.code])
    replay = await ledger.create_transaction(
        [(clearing.code, "DEBIT", 1000, "EUR"), (payable.code, "CREDIT", 1000, "EUR")],
        request_id=hold_id,
        pending=True,
        pending_timeout_s=3600,
        external_ref="pay_test",
        metadata={"payment_id": "pay_test"},
    )
    await ledger.post(txn, request_id=_rid(), amount_minor=600)
    posted = await ledger.get_balance(ids[clearing.code])
    owed = await ledger.get_balance(ids[payable.code])

    assert txn.startswith("txn_") and replay == txn
    assert (held.posted_minor, held.pending_minor, held.currency) == (0, 1000, "EUR")
    assert (posted.posted_minor, posted.pending_minor) == (600, 600)
    assert (owed.posted_minor, owed.available_minor) == (600, 600)


async def test_void_releases_a_hold_and_a_second_post_is_refused(ledger: LedgerClient) -> None:
    clearing, payable, _ = accounts = chart(new_merchant())
    ids = await ledger.ensure_accounts(accounts)
    legs = [(clearing.code, "DEBIT", 250, "EUR"), (payable.code, "CREDIT", 250, "EUR")]
    txn = await ledger.create_transaction(legs, request_id=_rid(), pending=True)

    await ledger.void(txn, request_id=_rid())
    balance = await ledger.get_balance(ids[clearing.code])
    with pytest.raises(LedgerRefused) as refused:
        await ledger.post(txn, request_id=_rid())

    assert (balance.posted_minor, balance.pending_minor) == (0, 0)
    assert refused.value.reason == "TRANSACTION_NOT_PENDING"


async def test_a_payable_that_would_go_negative_is_refused_with_limit_exceeded(
    ledger: LedgerClient,
) -> None:
    _, payable, fees = accounts = chart(new_merchant())
    await ledger.ensure_accounts(accounts)

    with pytest.raises(LedgerRefused) as refused:
        await ledger.create_transaction(
            [(payable.code, "DEBIT", 1, "EUR"), (fees.code, "CREDIT", 1, "EUR")],
            request_id=_rid(),
        )

    assert refused.value.reason == "LIMIT_EXCEEDED"
    assert refused.value.metadata  # the ledger's ErrorInfo metadata comes through


async def test_a_batch_records_each_item_on_its_own_and_answers_per_item(
    ledger: LedgerClient,
) -> None:
    clearing, payable, fees = accounts = chart(new_merchant())
    ids = await ledger.ensure_accounts(accounts)
    sale = [(clearing.code, "DEBIT", 700, "EUR"), (payable.code, "CREDIT", 700, "EUR")]
    overdraft = [(payable.code, "DEBIT", 5000, "EUR"), (fees.code, "CREDIT", 5000, "EUR")]
    first, refused_rid, second = _rid(), _rid(), _rid()

    results = await ledger.create_transactions([
        NewTransaction(sale, first),
        NewTransaction(overdraft, refused_rid),
        NewTransaction(sale, second, pending=True, pending_timeout_s=600),
    ])  # fmt: skip
    again = await ledger.create_transactions([NewTransaction(sale, first)])

    assert isinstance(results[0], str) and results[0].startswith("txn_")
    assert isinstance(results[1], LedgerRefused) and results[1].reason == "LIMIT_EXCEEDED"
    assert isinstance(results[2], str) and results[2] != results[0]
    assert again == [results[0]]  # a repeated request id answers the first recording
    owed = await ledger.get_balance(ids[payable.code])
    assert (owed.posted_minor, owed.pending_minor) == (700, 1400)  # pending: posted + held


async def test_an_unknown_account_code_is_refused_before_any_transaction(
    ledger: LedgerClient,
) -> None:
    with pytest.raises(LedgerRefused) as refused:
        await ledger.create_transaction(
            [
                ("gw/nobody/EUR/clearing", "DEBIT", 1, "EUR"),
                ("gw/x/EUR/payable", "CREDIT", 1, "EUR"),
            ],
            request_id=_rid(),
        )

    assert refused.value.reason == "ACCOUNT_NOT_FOUND"


@pytest.mark.parametrize("workload", ["client", "identity"])
async def test_envoy_refuses_ledger_writes_with_any_other_certificate(
    stack: GatewayStack, workload: str
) -> None:
    async with _fresh(stack, workload) as other:
        with pytest.raises(LedgerRefused) as refused:
            await other.ensure_accounts(chart(new_merchant()))

    assert refused.value.reason == "PERMISSION_DENIED"  # Envoy's RBAC: no ErrorInfo


async def test_another_workload_may_still_read_a_balance(
    stack: GatewayStack, ledger: LedgerClient
) -> None:
    [clearing, *_] = chart(new_merchant())
    ids = await ledger.ensure_accounts([clearing])
    async with _fresh(stack, "client") as reader:
        balance = await reader.get_balance(ids[clearing.code])

    assert balance.posted_minor == 0


@pytest.mark.parametrize("cert", ["foreign", "expired"])
async def test_a_certificate_envoy_does_not_accept_makes_the_ledger_unavailable(
    stack: GatewayStack, cert: str
) -> None:
    tls = stack.pki.foreign() if cert == "foreign" else stack.pki.expired()
    client = LedgerClient.connect(stack.edge.internal_target, tls, timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(LedgerUnavailable) as unavailable:
            await client.ensure_accounts(chart(new_merchant()))
    finally:
        await client.close()

    assert unavailable.value.reason == "UNAVAILABLE"


async def test_a_ledger_nobody_listens_for_is_unavailable(stack: GatewayStack) -> None:
    client = LedgerClient.connect("127.0.0.1:1", stack.pki.tls("gateway"), timeout_s=1.0)
    try:
        with pytest.raises(LedgerUnavailable):
            await client.account_id("gw/any/EUR/clearing")
    finally:
        await client.close()
