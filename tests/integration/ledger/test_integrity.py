"""Tamper evidence: rows changed behind the service's back are caught by VerifyLedger and by
``python -m ledger_svc verify``, and the database itself refuses edits to the ledger's history.

Every test that corrupts rows owns its database (``fresh_ledger`` / ``pg_database_url``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger.support import (
    ASSET,
    LIABILITY,
    Served,
    Stub,
    hold,
    move,
    open_account,
    post,
    serve_ledger,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO_ROOT = Path(__file__).resolve().parents[3]
# SQLite's append-only guards (migration 0001); tampering drops them first.
SQLITE_GUARDS = ("entries_no_update", "entries_no_delete", "journal_no_update", "journal_no_delete")

ACCOUNT_TOTAL_MISMATCH = pb.DISCREPANCY_KIND_ACCOUNT_TOTAL_MISMATCH
HASH_CHAIN_BROKEN = pb.DISCREPANCY_KIND_HASH_CHAIN_BROKEN
TRANSACTION_UNBALANCED = pb.DISCREPANCY_KIND_TRANSACTION_UNBALANCED
CURRENCY_NOT_ZERO_SUM = pb.DISCREPANCY_KIND_CURRENCY_NOT_ZERO_SUM
SEQUENCE_GAP = pb.DISCREPANCY_KIND_SEQUENCE_GAP


@asynccontextmanager
async def connection(url: str, *, commit: bool = True) -> AsyncIterator[AsyncConnection]:
    """A transaction on the ledger's database, outside the service.

    Committed on success when ``commit``, else always rolled back.
    """
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn, conn.begin() as transaction:
            yield conn
            if not commit:
                await transaction.rollback()
    finally:
        await engine.dispose()


async def tamper(url: str, statement: str, **params: Any) -> None:
    """Run ``statement`` with the database's append-only guards out of the way."""
    async with connection(url) as conn:
        if conn.dialect.name == "postgresql":
            # Replica mode skips ordinary triggers for this transaction only.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in SQLITE_GUARDS:
                await conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        result = await conn.execute(text(statement), params)
        assert result.rowcount == 1, f"tampering changed {result.rowcount} rows"


async def a_small_ledger(stub: Stub) -> tuple[pb.Account, pb.Account, pb.Transaction]:
    """Cash and a payable, three transactions; returns the middle one (the target)."""
    cash = await open_account(stub, ASSET)
    payable = await open_account(stub, LIABILITY)
    await move(stub, cash, payable, 1000)
    target = await move(stub, cash, payable, 100, description="capture")
    await post(stub, await hold(stub, payable, cash, 30))
    return cash, payable, target


async def verify(stub: Stub) -> pb.VerifyLedgerResponse:
    return await stub.VerifyLedger(pb.VerifyLedgerRequest())


def found(report: pb.VerifyLedgerResponse) -> set[tuple[int, str]]:
    return {(d.kind, d.subject) for d in report.discrepancies}


def kinds(report: pb.VerifyLedgerResponse) -> set[int]:
    return {d.kind for d in report.discrepancies}


# -- VerifyLedger catches each kind of tampering --------------------------------


async def test_a_changed_entry_amount_breaks_totals_balance_and_the_hash_chain(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    cash, payable, target = await a_small_ledger(stub)
    assert (await verify(stub)).ok

    await tamper(
        fresh_ledger.database_url,
        "UPDATE entries SET amount = amount + 50 WHERE transaction_id = :tx AND account_id = :a",
        tx=target.id,
        a=cash.id,
    )
    report = await verify(stub)

    assert not report.ok
    assert (ACCOUNT_TOTAL_MISMATCH, cash.id) in found(report)
    assert (ACCOUNT_TOTAL_MISMATCH, payable.id) not in found(report)
    assert (TRANSACTION_UNBALANCED, str(target.sequence)) in found(report)
    assert (HASH_CHAIN_BROKEN, target.id) in found(report)
    unbalanced = next(d for d in report.discrepancies if d.kind == TRANSACTION_UNBALANCED)
    assert "50" in unbalanced.detail


async def test_a_changed_running_total_is_an_account_total_mismatch_naming_the_account(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    _, payable, _ = await a_small_ledger(stub)

    await tamper(
        fresh_ledger.database_url,
        "UPDATE accounts SET credits_posted = credits_posted + 7 WHERE id = :a",
        a=payable.id,
    )
    report = await verify(stub)

    assert not report.ok
    mismatches = [d for d in report.discrepancies if d.kind == ACCOUNT_TOTAL_MISMATCH]
    assert [d.subject for d in mismatches] == [payable.id]
    assert "C1107" in mismatches[0].detail and "C1100" in mismatches[0].detail
    assert kinds(report) <= {ACCOUNT_TOTAL_MISMATCH, CURRENCY_NOT_ZERO_SUM}


async def test_a_changed_description_breaks_the_hash_chain_at_that_transaction(
    fresh_ledger: Served,
) -> None:
    stub = fresh_ledger.stub
    _, _, target = await a_small_ledger(stub)

    await tamper(
        fresh_ledger.database_url,
        "UPDATE transactions SET description = 'edited' WHERE id = :tx",
        tx=target.id,
    )
    report = await verify(stub)

    assert not report.ok
    assert kinds(report) == {HASH_CHAIN_BROKEN}
    assert {d.subject for d in report.discrepancies} == {target.id}


async def test_a_deleted_journal_event_is_a_sequence_gap(fresh_ledger: Served) -> None:
    stub = fresh_ledger.stub
    _, _, target = await a_small_ledger(stub)

    await tamper(
        fresh_ledger.database_url, "DELETE FROM journal WHERE sequence = :s", s=target.sequence
    )
    report = await verify(stub)

    assert SEQUENCE_GAP in kinds(report)
    assert HASH_CHAIN_BROKEN in kinds(report)


# -- the database refuses edits of history ------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET amount = amount + 1",
        "DELETE FROM entries",
        "UPDATE journal SET hash = prev_hash",
        "DELETE FROM journal",
        "DELETE FROM transactions",
        "DELETE FROM accounts",
        "UPDATE transactions SET status = 'VOIDED' WHERE status = 'POSTED'",
    ],
)
async def test_the_database_refuses_changes_to_the_ledgers_history(
    shared_ledger: Served, statement: str
) -> None:
    # Refused statements change nothing, so these share the module's ledger.
    stub = shared_ledger.stub
    await a_small_ledger(stub)

    with pytest.raises(DBAPIError) as refusal:
        async with connection(shared_ledger.database_url) as conn:
            await conn.execute(text(statement))

    assert "ledger:" in str(refusal.value)
    assert (await verify(stub)).ok


async def test_postgres_refuses_an_unbalanced_insert_of_entries(pg_database_url: str) -> None:
    async with serve_ledger(pg_database_url) as served:
        cash = await open_account(served.stub, ASSET)
        payable = await open_account(served.stub, LIABILITY)
    insert = (
        "INSERT INTO entries (sequence, idx, transaction_id, account_id, direction, amount,"
        " currency, pending, effective_time, balance_after) VALUES"
        " (9001, 0, 'txn_forged', :a, 'DEBIT', 100, 'USD', false, now(), 100),"
        " (9001, 1, 'txn_forged', :b, 'CREDIT', :credit, 'USD', false, now(), 90)"
    )

    with pytest.raises(DBAPIError) as refusal:
        async with connection(pg_database_url) as conn:
            await conn.execute(text(insert), {"a": cash.id, "b": payable.id, "credit": 90})
    # The same rows, balanced, pass the trigger: it is the balance that was refused.
    async with connection(pg_database_url, commit=False) as conn:
        await conn.execute(text(insert), {"a": cash.id, "b": payable.id, "credit": 100})

    assert "do not balance" in str(refusal.value)


# -- the CLI --------------------------------------------------------------------


async def run_verify_cli(database_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ledger_svc",
        "verify",
        cwd=REPO_ROOT,
        env={**os.environ, "LEDGER_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_verify_cli_exits_0_on_a_clean_ledger_and_1_on_a_corrupted_one(
    fresh_ledger: Served,
) -> None:
    url = fresh_ledger.database_url
    _, _, target = await a_small_ledger(fresh_ledger.stub)

    clean_code, clean_output = await run_verify_cli(url)
    await tamper(url, "UPDATE transactions SET description = 'edited' WHERE id = :tx", tx=target.id)
    bad_code, bad_output = await run_verify_cli(url)

    assert clean_code == 0, clean_output
    assert "checked 2 accounts, 3 transactions, 8 entries" in clean_output
    assert "ledger OK" in clean_output
    assert bad_code == 1, bad_output
    assert f"HASH_CHAIN_BROKEN {target.id}" in bad_output
    assert "1 discrepancies found" in bad_output
