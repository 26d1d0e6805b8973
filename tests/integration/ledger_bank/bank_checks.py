"""The checker: after the run, compare the ledger with what the clients were told.

Each check returns a list of problems (empty when the invariant holds), so a
run reports every broken invariant at once, with the ids involved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_model import (
    FINAL_STATUSES,
    Bank,
    History,
    KnownTx,
    status_name,
)
from tests.integration.ledger_bank.bank_rpc import (
    CallStats,
    LedgerEndpoint,
    Refused,
    call_until_definite,
    legs_of,
)
from tests.integration.ledger_bank.bank_workload import Monitor, conservation_problems

READ_CONCURRENCY = 32
PAGE_SIZE = 500


# -- reading the ledger --------------------------------------------------------


async def wait_until_due_holds_expire(
    endpoint: LedgerEndpoint, history: History, stats: CallStats, timeout_s: float
) -> list[str]:
    """Poll the holds with a timeout that no client resolved; return those still PENDING."""
    waiting = [k.tx_id for k in history.holds_still_pending(with_timeout=True)]
    give_up_at = time.monotonic() + timeout_s
    while waiting and time.monotonic() < give_up_at:
        read = await read_transactions(endpoint, stats, waiting)
        waiting = [i for i in waiting if status_of(read.get(i)) == pb.TRANSACTION_STATUS_PENDING]
        if waiting:
            await asyncio.sleep(0.25)
    return waiting


def status_of(tx: pb.Transaction | Refused | None) -> int:
    return tx.status if isinstance(tx, pb.Transaction) else pb.TRANSACTION_STATUS_UNSPECIFIED


async def read_transactions(
    endpoint: LedgerEndpoint, stats: CallStats, ids: Iterable[str]
) -> dict[str, pb.Transaction | Refused]:
    """GetTransaction of each id, READ_CONCURRENCY at a time; a refusal is kept as is."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def read_one(tx_id: str) -> pb.Transaction | Refused:
        async with gate:
            request = pb.GetTransactionRequest(transaction_id=tx_id)
            try:
                reply = await call_until_definite(endpoint, "GetTransaction", request, stats)
            except Refused as refused:
                return refused
            tx: pb.Transaction = reply.transaction
            return tx

    wanted = list(ids)
    found = await asyncio.gather(*(read_one(i) for i in wanted))
    return dict(zip(wanted, found, strict=True))


async def list_every_transaction(
    endpoint: LedgerEndpoint, stats: CallStats
) -> list[pb.Transaction]:
    """ListTransactions, page after page, until the last one."""
    listed: list[pb.Transaction] = []
    token = ""
    while True:
        request = pb.ListTransactionsRequest(page_size=PAGE_SIZE, page_token=token)
        reply = await call_until_definite(endpoint, "ListTransactions", request, stats)
        listed.extend(reply.transactions)
        token = reply.next_page_token
        if not token:
            return listed


async def read_balances(
    endpoint: LedgerEndpoint, stats: CallStats, bank: Bank
) -> dict[str, pb.Balance]:
    """GetBalance of every account."""
    balances = {}
    for account_id in bank.every_account:
        request = pb.GetBalanceRequest(account_id=account_id)
        reply = await call_until_definite(endpoint, "GetBalance", request, stats)
        balances[account_id] = reply.balance
    return balances


# -- (1) conservation ------------------------------------------------------------


def problems_with_conservation(
    trial: pb.GetTrialBalanceResponse, balances: dict[str, pb.Balance], bank: Bank
) -> list[str]:
    """The trial balance balances; LIABILITY and ASSET nets are the funded total."""
    problems = conservation_problems(trial, bank)
    liabilities = sum(balances[a].posted.minor_units for a in (bank.fees, *bank.customers))
    funding = balances[bank.funding].posted.minor_units
    if liabilities != bank.funded_total or funding != bank.funded_total:
        problems.append(
            f"GetBalance: customers+fees posted {liabilities}, funding posted {funding},"
            f" funded {bank.funded_total}"
        )
    return problems


def problems_with_balances_against_the_model(
    balances: dict[str, pb.Balance], history: History
) -> list[str]:
    """Each account's posted balance and pending debits equal the clients' prediction."""
    posted, held = history.predicted_posted_balances(), history.predicted_pending_debits()
    problems = []
    for account_id, balance in balances.items():
        if balance.posted.minor_units != posted[account_id]:
            problems.append(
                f"{account_id}: posted {balance.posted.minor_units},"
                f" acknowledged results predict {posted[account_id]}"
            )
        if balance.pending_debits.minor_units != held[account_id]:
            problems.append(
                f"{account_id}: pending debits {balance.pending_debits.minor_units},"
                f" open holds predict {held[account_id]}"
            )
    return problems


# -- (2) no negative protected balance -----------------------------------------


def problems_with_negative_balances(
    monitor: Monitor, balances: dict[str, pb.Balance], bank: Bank
) -> list[str]:
    """Every negative the monitor saw, and any protected balance negative now."""
    problems = [f"monitor saw {n}" for n in monitor.negatives]
    for account_id in bank.customers:
        b = balances[account_id]
        if b.posted.minor_units < 0 or b.available.minor_units < 0:
            problems.append(
                f"final {account_id} posted={b.posted.minor_units}"
                f" available={b.available.minor_units}"
            )
    return problems


# -- (3) every acknowledged transaction, with the status last seen or a later one


def problems_with_acknowledged_transactions(
    history: History, read: dict[str, pb.Transaction | Refused]
) -> list[str]:
    """Readable, status as last acknowledged (or its resolution), entries as sent."""
    problems = []
    for tx_id, known in history.txs.items():
        tx = read[tx_id]
        if isinstance(tx, Refused):
            problems.append(f"acknowledged {tx_id} unreadable: {tx}")
            continue
        problems += problems_with_one_transaction(known, tx)
    return problems


def problems_with_one_transaction(known: KnownTx, tx: pb.Transaction) -> list[str]:
    problems = []
    expected = expected_status(known)
    if tx.status != expected:
        problems.append(
            f"{tx.id}: status {status_name(tx.status)}, clients last saw"
            f" {status_name(known.status)} (timeout={known.has_timeout}),"
            f" expected {status_name(expected)}"
        )
    if sorted(legs_of(tx.entries)) != sorted(known.legs):
        problems.append(f"{tx.id}: entries {legs_of(tx.entries)}, acknowledged {known.legs}")
    posted = known.posted_legs or []
    if sorted(legs_of(tx.posted_entries)) != sorted(posted):
        problems.append(f"{tx.id}: posted entries {legs_of(tx.posted_entries)}, expected {posted}")
    if tx.reversed_by_transaction_id != known.reversed_by:
        problems.append(
            f"{tx.id}: reversed_by {tx.reversed_by_transaction_id!r},"
            f" acknowledged {known.reversed_by!r}"
        )
    return problems


def expected_status(known: KnownTx) -> int:
    """A final status stays; an unresolved hold expires if it had a timeout, else stays."""
    if known.status in FINAL_STATUSES:
        return known.status
    return pb.TRANSACTION_STATUS_EXPIRED if known.has_timeout else pb.TRANSACTION_STATUS_PENDING


# -- (4) nothing lost, nothing double-counted ----------------------------------


def problems_with_the_transaction_count(
    history: History, listed: list[pb.Transaction]
) -> list[str]:
    """The ledger holds exactly the acknowledged creations."""
    ids = [tx.id for tx in listed]
    acknowledged = set(history.txs)
    problems = []
    if len(ids) != len(acknowledged):
        problems.append(
            f"ledger holds {len(ids)} transactions, clients acknowledged {len(acknowledged)}"
        )
    if len(set(ids)) != len(ids):
        problems.append(
            f"ListTransactions repeats ids: {sorted(i for i in set(ids) if ids.count(i) > 1)[:20]}"
        )
    extra = [tx for tx in listed if tx.id not in acknowledged]
    problems += [f"unacknowledged in ledger: {describe(tx)}" for tx in extra[:50]]
    missing = sorted(acknowledged - set(ids))
    problems += [f"acknowledged but not listed: {i}" for i in missing[:50]]
    return problems


def describe(tx: pb.Transaction) -> str:
    return (
        f"{tx.id} seq={tx.sequence} {status_name(tx.status)} {tx.description!r}"
        f" reverses={tx.reverses_transaction_id!r} entries={legs_of(tx.entries)}"
    )


# -- (5) VerifyLedger -------------------------------------------------------------


def problems_with_verification(report: pb.VerifyLedgerResponse) -> list[str]:
    problems = [
        f"{pb.DiscrepancyKind.Name(d.kind)} {d.subject}: {d.detail}" for d in report.discrepancies
    ]
    if not report.ok and not problems:
        problems.append("VerifyLedger ok=false without discrepancies")
    return problems
